/// The one error type of ObjectStore: a code to branch on and a reason that says what was expected and found.
///
/// Two errors are equal when their codes are.
public struct ObjectStoreError: Error, Hashable, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable {
        /// A location, endpoint or setting that does not parse (`s3://BUCKET[/PREFIX]`, an http(s) URL).
        case malformed
        /// The bucket does not exist (S3 `NoSuchBucket`, or 404 on HEAD bucket).
        case bucketMissing
        /// The store refused the credentials or the signature (HTTP 403: `InvalidAccessKeyId`,
        /// `SignatureDoesNotMatch`, `AccessDenied`), or none were given.
        case credentialsRefused
        /// The endpoint could not be reached: connection refused, DNS, TLS or a timeout.
        case unreachable
        /// A content-addressed object already holds other bytes than its address names; it is left alone.
        case conflict
        /// An object's bytes do not hash to the address they were read from.
        case mismatch
        /// An object or response is larger than the caller allows.
        case tooLarge
        /// Any other answer the store gave (an unexpected status, a response that does not parse).
        case io
    }

    /// What kind of failure this is.
    public let code: Code
    /// What was expected and what was found.
    public let reason: String
    /// Where the error was raised (for debugging; not part of equality).
    public let file: String
    /// Where the error was raised (for debugging; not part of equality).
    public let line: Int

    /// An error with a code and a reason.
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public var description: String { reason }

    public static func == (lhs: ObjectStoreError, rhs: ObjectStoreError) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
