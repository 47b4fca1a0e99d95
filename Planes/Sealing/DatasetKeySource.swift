import Glibc
public import PlaneCrypto

/// Where a dataset key (DEK) comes from. Today a key file; later the Privacy Plane's key release.
/// Everything that needs a DEK asks through this one seam.
public protocol DatasetKeySource: Sendable {
    /// The DEK for `datasetID` at `keyVersion`.
    func datasetKey(for datasetID: DatasetID, keyVersion: UInt32) throws(SealingError) -> SecretBytes
}

/// A DEK in a local file: 32 raw bytes, or 64 hex digits (optional `0x`, trailing newline allowed).
/// Files readable or writable by group or others are refused.
public struct KeyFile: DatasetKeySource {
    /// Path of the key file.
    public let path: String

    /// A key source reading `path`.
    public init(path: String) { self.path = path }

    public func datasetKey(for datasetID: DatasetID, keyVersion: UInt32) throws(SealingError) -> SecretBytes {
        try load()
    }

    /// Reads and checks the key file.
    public func load() throws(SealingError) -> SecretBytes {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let message = String(cString: strerror(errno))
            throw SealingError(.keyRefused, "key file \(path): \(message)")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw SealingError(.keyRefused, "key file \(path) is not a regular file")
        }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw SealingError(
                .keyRefused,
                "key file \(path) has permissions \(String(mode, radix: 8)); expected 600 or stricter (chmod 600 \(path))"
            )
        }
        guard st.st_size <= 256 else {
            throw SealingError(
                .keyRefused,
                "key file \(path) has \(st.st_size) bytes; expected 32 raw bytes or 64 hex digits"
            )
        }
        let file: PosixFile
        do { file = try PosixFile.openForReading(path) } catch { throw SealingError(.keyRefused, error.reason) }
        var raw = [UInt8](repeating: 0, count: 257)
        defer { SecretBytes.wipe(&raw) }
        let count: Int
        do { count = try file.readSome(into: &raw) } catch { throw SealingError(.keyRefused, error.reason) }
        if count == 32 {
            return SecretBytes(copying: raw[0..<32])
        }
        var text = Array(raw[0..<count])
        defer { SecretBytes.wipe(&text) }
        while let last = text.last, last == 10 || last == 13 || last == 32 || last == 9 { text.removeLast() }
        if text.count >= 2, text[0] == UInt8(ascii: "0"), text[1] | 0x20 == UInt8(ascii: "x") {
            text.removeFirst(2)
        }
        // Decoded byte by byte into a buffer that is wiped, never through a String that cannot be.
        var decoded = [UInt8](repeating: 0, count: 32)
        defer { SecretBytes.wipe(&decoded) }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var valid = text.count == 64
        for i in 0..<32 where valid {
            if let high = nibble(text[2 * i]), let low = nibble(text[2 * i + 1]) {
                decoded[i] = high << 4 | low
            } else {
                valid = false
            }
        }
        guard valid else {
            throw SealingError(
                .keyRefused,
                "key file \(path) holds \(count) bytes that are neither 32 raw bytes nor 64 hex digits"
            )
        }
        return SecretBytes(copying: decoded)
    }
}

/// A fixed in-memory key (tests, and callers that already hold the DEK).
public struct InMemoryKeySource: DatasetKeySource {
    private let key: SecretBytes
    /// Serves `key` for every dataset.
    public init(key: SecretBytes) { self.key = key }
    public func datasetKey(for datasetID: DatasetID, keyVersion: UInt32) throws(SealingError) -> SecretBytes {
        guard key.count == 32 else {
            throw SealingError(.keyRefused, "a dataset key is 32 bytes, found \(key.count)")
        }
        return key
    }
}
