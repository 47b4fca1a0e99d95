/// The one error type of PlaneCrypto: an OpenSSL operation failed or was given unusable input.
///
/// Equal by ``code`` only, so callers can match on the kind of failure while the reason carries detail.
public struct PlaneCryptoError: Error, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Hashable, Sendable {
        /// A key, nonce or tag had the wrong length.
        case invalidLength
        /// OpenSSL reported an internal failure (allocation, provider missing).
        case openSSLFailure
        /// The operating system's random source failed.
        case randomFailure
        /// A public key was refused (for X25519: a low-order point).
        case invalidKey
        /// A key, certificate, CRL or signature was not valid DER/PEM of the expected kind.
        case invalidEncoding
        /// A secret file is missing, not a regular file, readable or writable by group or others, of the wrong
        /// size, or could not be read or written.
        case secretFile
        /// age: the header is malformed (version line, stanza, base64, line ends, MAC line), a recipient stanza
        /// of a known type is malformed, or the payload nonce is missing ("header failure" in the testkit).
        case ageHeader
        /// age: the header MAC does not verify under the unwrapped file key ("HMAC failure").
        case ageHeaderMAC
        /// age: a payload chunk failed authentication, the payload is truncated, has an empty final chunk
        /// after others, or has data after its final chunk ("payload failure").
        case agePayload
        /// age: no identity opens any recipient stanza ("no match").
        case ageNoMatch
        /// age: reading the encrypted input or writing the output failed.
        case ageIO
    }

    /// The kind of failure.
    public let code: Code
    /// What was expected and what was found.
    public let reason: String
    /// Where the error was raised.
    public let file: String
    /// The line where the error was raised.
    public let line: Int

    init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "PlaneCryptoError.\(code.rawValue): \(reason)" }

    /// Pops OpenSSL's thread-local error queue into a readable string (and clears it).
    static func openSSL(_ operation: String, file: String = #fileID, line: Int = #line) -> PlaneCryptoError {
        PlaneCryptoError(.openSSLFailure, "\(operation) failed: \(OpenSSLErrorQueue.drain())", file: file, line: line)
    }
}
