/// The dataset manifest: every path of the plaintext tree with its file id, size and SHA-256.
///
/// Only the encrypted manifest knows names and the directory tree; the sealed tree holds opaque objects.
/// Decoding treats the bytes as hostile: every length is bounded before use, paths are validated, entries
/// must be strictly sorted (so duplicates are impossible), every parent directory must be listed and no
/// file id may repeat.
public struct Manifest: Hashable, Sendable {
    /// One path of the dataset.
    public struct Entry: Hashable, Sendable {
        /// Directory or regular file.
        public enum Kind: UInt8, Hashable, Sendable {
            /// A directory.
            case directory = 1
            /// A regular file.
            case file = 2
        }

        /// Relative, "/"-separated UTF-8 path.
        public let path: String
        /// Directory or file.
        public let kind: Kind
        /// The sealed object's file id (files only).
        public let fileID: FileID?
        /// Plaintext size in bytes (0 for directories).
        public let size: UInt64
        /// SHA-256 of the plaintext (files only; empty for directories).
        public let sha256: [UInt8]

        /// A directory entry.
        public static func directory(_ path: String) -> Entry {
            Entry(path: path, kind: .directory, fileID: nil, size: 0, sha256: [])
        }

        /// A file entry.
        public static func file(_ path: String, fileID: FileID, size: UInt64, sha256: [UInt8]) -> Entry {
            Entry(path: path, kind: .file, fileID: fileID, size: size, sha256: sha256)
        }

        /// Equal when every field is, the path byte for byte (not by Unicode canonical equivalence).
        public static func == (lhs: Entry, rhs: Entry) -> Bool {
            lhs.path.utf8.elementsEqual(rhs.path.utf8) && lhs.kind == rhs.kind && lhs.fileID == rhs.fileID
                && lhs.size == rhs.size && lhs.sha256 == rhs.sha256
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(Array(path.utf8))
            hasher.combine(kind)
            hasher.combine(fileID)
            hasher.combine(size)
            hasher.combine(sha256)
        }
    }

    /// Magic at the start of the manifest plaintext.
    public static let magic: [UInt8] = Array("DLMANIF1".utf8)
    /// Largest accepted manifest plaintext (bounds memory when opening a hostile tree).
    public static let maximumEncodedLength: UInt64 = 256 << 20
    /// Longest accepted path in bytes (PATH_MAX).
    public static let maximumPathLength = 4096

    /// Entries sorted by the bytes of their paths.
    public let entries: [Entry]

    /// Sorts and validates `entries`.
    public init(entries: [Entry]) throws(SealingError) {
        let sorted = entries.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        try Self.validate(sorted)
        self.entries = sorted
    }

    private init(validated entries: [Entry]) { self.entries = entries }

    /// The manifest plaintext.
    public func encoded() -> [UInt8] {
        var out = Self.magic
        out.appendBigEndian(UInt32(entries.count))
        for entry in entries {
            out.append(entry.kind.rawValue)
            let path = Array(entry.path.utf8)
            out.appendBigEndian(UInt16(path.count))
            out += path
            if entry.kind == .file, let fileID = entry.fileID {
                out += fileID.bytes
                out.appendBigEndian(entry.size)
                out += entry.sha256
            }
        }
        return out
    }

    /// Parses a manifest plaintext.
    public static func decode(_ bytes: [UInt8]) throws(SealingError) -> Manifest {
        var reader = ByteReader(bytes)
        guard try reader.take(8) == magic else {
            throw SealingError(.malformed, "manifest: expected magic \"DLMANIF1\"")
        }
        let count = Int(try reader.u32())
        // Each entry takes at least 4 bytes, so a count beyond that is a lie; refuse before reserving memory.
        guard count <= (bytes.count - 12) / 4 else {
            throw SealingError(.malformed, "manifest: claims \(count) entries but holds only \(bytes.count) bytes")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for index in 0..<count {
            let rawKind = try reader.u8()
            guard let kind = Entry.Kind(rawValue: rawKind) else {
                throw SealingError(.malformed, "manifest entry \(index): unknown kind \(rawKind); expected 1 or 2")
            }
            let pathLength = Int(try reader.u16())
            let pathBytes = try reader.take(pathLength)
            guard let path = String(validating: pathBytes, as: UTF8.self) else {
                throw SealingError(.malformed, "manifest entry \(index): path is not valid UTF-8")
            }
            if kind == .file {
                let fileID = FileID(unchecked: try reader.take(32))
                let size = try reader.u64()
                let digest = try reader.take(32)
                entries.append(.file(path, fileID: fileID, size: size, sha256: digest))
            } else {
                entries.append(.directory(path))
            }
        }
        guard reader.remaining == 0 else {
            throw SealingError(.malformed, "manifest: \(reader.remaining) unexpected trailing bytes")
        }
        try validate(entries)
        return Manifest(validated: entries)
    }

    /// Checks one path: relative, no empty/"."/".." components, no NUL, bounded length.
    public static func validatePath(_ path: String) throws(SealingError) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumPathLength else {
            throw SealingError(.malformed, "manifest path must be 1...4096 bytes, found \(bytes.count) bytes")
        }
        guard bytes.first != UInt8(ascii: "/") else {
            throw SealingError(.malformed, "manifest path \"\(path)\" is absolute; expected a relative path")
        }
        guard !bytes.contains(0) else {
            throw SealingError(.malformed, "manifest path contains a NUL byte")
        }
        for component in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            guard !component.isEmpty, component.count <= 255 else {
                throw SealingError(.malformed, "manifest path \"\(path)\" has an empty or over-long component")
            }
            guard !component.elementsEqual([UInt8(ascii: ".")]), !component.elementsEqual([46, 46]) else {
                throw SealingError(.malformed, "manifest path \"\(path)\" contains \".\" or \"..\"")
            }
        }
    }

    private static func validate(_ entries: [Entry]) throws(SealingError) {
        // Paths are compared as bytes: Swift String equality is canonical equivalence, so "café" (NFC) would
        // otherwise be the parent of "cafe\u{301}/x" (NFD), which unseal and the FUSE cannot resolve.
        var directories: Set<[UInt8]> = []
        var fileIDs: Set<FileID> = []
        var previous: String? = nil
        for entry in entries {
            try validatePath(entry.path)
            if let previous {
                guard previous.utf8.lexicographicallyPrecedes(entry.path.utf8) else {
                    throw SealingError(
                        .malformed,
                        "manifest: \"\(entry.path)\" is duplicated or out of order (after \"\(previous)\")"
                    )
                }
            }
            previous = entry.path
            let path = Array(entry.path.utf8)
            if let slash = path.lastIndex(of: UInt8(ascii: "/")) {
                guard directories.contains(Array(path[..<slash])) else {
                    throw SealingError(.malformed, "manifest: parent directory of \"\(entry.path)\" is not listed")
                }
            }
            switch entry.kind {
            case .directory:
                directories.insert(path)
            case .file:
                guard let fileID = entry.fileID, entry.sha256.count == 32 else {
                    throw SealingError(.malformed, "manifest: file \"\(entry.path)\" lacks a file id or digest")
                }
                guard entry.size <= SealedFormat.maximumPlaintextLength else {
                    throw SealingError(.malformed, "manifest: file \"\(entry.path)\" claims \(entry.size) bytes")
                }
                guard fileIDs.insert(fileID).inserted else {
                    throw SealingError(.malformed, "manifest: file id of \"\(entry.path)\" is used twice")
                }
            }
        }
    }
}

/// Bounds-checked big-endian reader over hostile bytes.
struct ByteReader {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    mutating func take(_ count: Int) throws(SealingError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw SealingError(
                .malformed,
                "manifest truncated: needed \(count) bytes at offset \(position), found \(remaining)"
            )
        }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    mutating func u8() throws(SealingError) -> UInt8 { try take(1)[0] }
    mutating func u16() throws(SealingError) -> UInt16 { try take(2).readBigEndian(UInt16.self, at: 0) }
    mutating func u32() throws(SealingError) -> UInt32 { try take(4).readBigEndian(UInt32.self, at: 0) }
    mutating func u64() throws(SealingError) -> UInt64 { try take(8).readBigEndian(UInt64.self, at: 0) }
}
