/// The one error type of the Parquet module. Equal by ``code`` only; ``reason`` says what was expected and what
/// was found, and where (the file, the column, the row group, the byte offset).
public struct ParquetError: Error, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Hashable, Sendable {
        /// The bytes are not a valid Parquet file (bad magic, truncated footer, corrupt Thrift, a page that lies
        /// outside the file, a value count that does not add up, a decompression failure).
        case malformed
        /// A valid file that uses a feature this reader does not decode (nested columns, ZSTD, a delta encoding).
        case unsupported
        /// The file is larger than a configured limit (rows, cells, page size, footer size).
        case limitExceeded
    }

    /// The kind of failure.
    public let code: Code
    /// Human-readable detail.
    public let reason: String

    /// Creates an error.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    public var description: String { reason }
}

/// Why a page did not decompress (the codec's own words); the reader wraps it in a ``ParquetError``.
struct CodecFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
