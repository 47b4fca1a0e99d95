import ChainCore

/// One entry of an algorithm bundle: a directory or a regular file, named by its relative path.
///
/// Paths are bytes (valid UTF-8, compared byte by byte, never by Unicode equivalence), relative, without a
/// trailing slash, and free of empty, `.` and `..` components. A value of this type always holds such a path.
public struct BundleEntry: Sendable, Hashable {
    /// What the entry is.
    public enum Kind: Sendable, Hashable {
        /// A directory (written with a trailing slash, mode 0755).
        case directory
        /// A regular file; `executable` when any execute bit was set (mode 0755, else 0644).
        case file(contents: [UInt8], executable: Bool)
    }

    /// The relative path, as bytes.
    public let path: [UInt8]
    /// Directory or file, with the file's bytes.
    public let kind: Kind

    /// An entry after checking that `path` is one a bundle may hold.
    public init(path: [UInt8], kind: Kind) throws(PlaneProtocolError) {
        try BundlePath.check(path)
        self.path = path
        self.kind = kind
    }

    /// The path for people: UTF-8 with control characters escaped.
    public var displayPath: String { BundlePath.display(path) }

    /// The file's bytes, or nil for a directory.
    public var contents: [UInt8]? {
        if case .file(let contents, _) = kind { return contents }
        return nil
    }
}

/// Rules and display for bundle paths.
public enum BundlePath {
    /// Refuses a path a bundle may not hold, naming it and saying why.
    public static func check(_ path: [UInt8]) throws(PlaneProtocolError) {
        guard !path.isEmpty else {
            throw PlaneProtocolError(.malformed, "expected a relative path, found an empty one")
        }
        guard path.first != UInt8(ascii: "/") else {
            throw PlaneProtocolError(.malformed, "\(display(path)): expected a relative path, found an absolute one")
        }
        guard !path.contains(0) else { throw PlaneProtocolError(.malformed, "\(display(path)): a path holds NUL") }
        guard String(validating: path, as: UTF8.self) != nil else {
            throw PlaneProtocolError(.malformed, "\(display(path)): expected a UTF-8 name, found other bytes")
        }
        for component in path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            if component.isEmpty {
                throw PlaneProtocolError(.malformed, "\(display(path)): an empty path component (// or a trailing /)")
            }
            if component.elementsEqual([UInt8(ascii: ".")]) || component.elementsEqual([UInt8(ascii: "."), 0x2E]) {
                throw PlaneProtocolError(.malformed, "\(display(path)): expected no . or .. components")
            }
        }
    }

    /// `path` for messages and listings: invalid UTF-8 and control characters are shown as \xNN escapes, so a
    /// name can neither hide itself nor drive a terminal.
    public static func display(_ path: some Collection<UInt8>) -> String {
        var out = ""
        let decoded = String(decoding: path, as: UTF8.self)
        let exact = String(validating: Array(path), as: UTF8.self) != nil
        guard exact else {
            for b in path {
                if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\\") {
                    out.unicodeScalars.append(UnicodeScalar(b))
                } else {
                    out += "\\x" + Hex.encode([b], prefix: false)
                }
            }
            return out
        }
        for scalar in decoded.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\\" {
                out += "\\x" + Hex.encode([UInt8(scalar.value)], prefix: false)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
