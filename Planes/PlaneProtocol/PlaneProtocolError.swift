/// The one error type of PlaneProtocol: a code to branch on and a reason for people.
///
/// Two errors are equal when their codes are; the reason says what was expected and what was found.
public struct PlaneProtocolError: Error, Hashable, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable {
        /// Input that does not follow the format: a damaged archive, a bad field, a path that is not allowed.
        case malformed
        /// A well-formed archive whose bytes are not the canonical encoding of its own contents.
        case notCanonical
        /// A tree or archive beyond a limit (total size, entry count, path length).
        case tooLarge
        /// A tree holds something a bundle cannot: a symlink, device, FIFO, socket or a file with several links.
        case unsupportedEntry
        /// A file or directory could not be read or written.
        case io
        /// Well-formed input whose contents differ from what it declares or what was pinned (a runner payload's
        /// manifest against its files).
        case mismatch
        /// The Privacy Plane could not be reached (connection, timeout).
        case unreachable
        /// The Privacy Plane answered with an error envelope; `refusal` holds its status, code and message.
        case refused
        /// The plane's TLS identity could not be verified: its certificate is not the pinned one, not issued by
        /// a trusted CA for its host, or not bound by attestation evidence the client accepts.
        case untrusted
        /// Plain HTTP was asked for where it is not allowed (any address but loopback, or without opting in).
        case insecureTransport
        /// The Privacy Plane refused a key lease renewal: the rental, dataset or measurement was revoked (or the
        /// plane's signer rotated, or its index went stale), or the renewal's signature or time was refused
        /// (HTTP 403 `lease_revoked` or `lease_refused`). The lease is over: stop the job and drop the key.
        case leaseRevoked
        /// The key lease ended: a renewal came too late (HTTP 410 `lease_expired`), or the plane does not know
        /// the lease (HTTP 404 `unknown_lease`, e.g. after a plane restart). Stop the job and drop the key.
        case leaseExpired
    }

    /// What kind of failure this is.
    public let code: Code
    /// What was expected and what was found.
    public let reason: String
    /// The plane's HTTP status and error envelope, for `refused`.
    public let refusal: (status: Int, envelope: ErrorEnvelope)?
    /// Where the error was raised (for debugging; not part of equality).
    public let file: String
    /// Where the error was raised (for debugging; not part of equality).
    public let line: Int

    /// An error with a code and a reason.
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.refusal = nil
        self.file = file
        self.line = line
    }

    /// The plane refused with `status` and `envelope` (code `refused`, or a finer one such as `leaseRevoked`).
    public init(
        refusedWith status: Int,
        _ envelope: ErrorEnvelope,
        code: Code = .refused,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.reason = "the plane refused (HTTP \(status) \(envelope.code)): \(envelope.message)"
        self.refusal = (status, envelope)
        self.file = file
        self.line = line
    }

    public var description: String { "\(code.rawValue): \(reason)" }

    public static func == (lhs: PlaneProtocolError, rhs: PlaneProtocolError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
