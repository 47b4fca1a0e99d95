/// The one error type of the Sealing module. Equal by ``code`` only; ``reason`` says what was expected and
/// what was found (never key material).
public struct SealingError: Error, Hashable, CustomStringConvertible {
    /// The kind of failure; the CLI maps these to exit codes.
    public enum Code: String, Hashable, Sendable {
        /// A header, manifest or argument did not have the v1 shape (bad magic, hostile field, bad path).
        case malformed
        /// A format version this build does not read.
        case unsupportedVersion
        /// AES-GCM authentication failed: tampered, reordered, truncated, or the wrong key.
        case authenticationFailed
        /// Authenticated content disagrees with the manifest (size, digest, file id, dataset id, manifest digest).
        case mismatch
        /// A file could not be read or written.
        case io
        /// The key could not be obtained or was refused (missing, wrong size, loose permissions).
        case keyRefused
        /// A cryptographic primitive failed (not an authentication failure).
        case crypto
    }

    /// The kind of failure.
    public let code: Code
    /// Human-readable detail.
    public let reason: String
    /// Where the error was raised.
    public let file: String
    /// The line where the error was raised.
    public let line: Int
    /// For authentication failures: the chunk that failed.
    public var chunkIndex: UInt64? = nil

    /// Creates an error; `file`/`line` default to the call site.
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    public var description: String { reason }
}
