/// The one error type of the Sampling module. Equal by ``code`` only; ``reason`` says what was expected and
/// what was found (never a source value of an identifier column).
public struct SamplingError: Error, Hashable, CustomStringConvertible {
    /// The kind of failure; the CLI maps these to exit codes.
    public enum Code: String, Hashable, Sendable {
        /// A CSV table did not parse (unbalanced quote, ragged row, oversized field, bad UTF-8).
        case malformedCSV
        /// The policy file is not a valid `delong-policy.json` v1 (unknown key, wrong role, bad threshold).
        case malformedPolicy
        /// A Parquet table did not parse (bad magic, truncated or corrupt footer or page, a size over a limit).
        case malformedParquet
        /// The data and the policy disagree: a table or column the policy names is missing, or a value of a
        /// date column does not parse.
        case dataMismatch
        /// The input uses a format or a feature this build does not read (a nested Parquet column, a Parquet
        /// codec other than none, snappy or gzip).
        case unsupportedFormat
        /// k (or the suppression limit) could not be met even with every quasi-identifier dropped.
        case kNotReached
        /// A file could not be read or written.
        case io
        /// The OS random source failed.
        case crypto
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
