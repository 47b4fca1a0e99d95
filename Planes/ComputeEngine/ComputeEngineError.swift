/// The one error type of ComputeEngine: a code to branch on, a reason that says what was expected and found, and
/// what Google answered (HTTP status, Google's `reason` and `message`) when the error came from an answer.
///
/// Two errors are equal when their codes are.
public struct ComputeEngineError: Error, Hashable, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable {
        /// The service-account key file does not parse or lacks a field; the reason names the field.
        case malformedKey
        /// A request the caller built does not meet Compute Engine's rules (an instance name, a label).
        case invalidRequest
        /// The token endpoint refused the signed assertion (`{"error","error_description"}`).
        case tokenRefused
        /// Compute Engine answered with an error in its shape (`{"error":{"code","message","errors":[…]}}`).
        case api
        /// An operation finished (`DONE`) with an `error`; ``apiReason`` holds the first error's `code`, for
        /// example `ZONE_RESOURCE_POOL_EXHAUSTED`.
        case operationFailed
        /// An operation was not `DONE` within the caller's bound.
        case timedOut
        /// No answer: connection refused, DNS, TLS, or the per-request deadline.
        case unreachable
        /// An answer that does not parse as the documented shape.
        case malformedResponse
    }

    /// What kind of failure this is.
    public let code: Code
    /// What was expected and what was found.
    public let reason: String
    /// The HTTP status of the answer this error came from, if any.
    public let httpStatus: Int?
    /// Google's machine-readable reason: `errors[0].reason` of an API error (`notFound`, `alreadyExists`, …),
    /// the `error` of a token error (`invalid_grant`, …) or `errors[0].code` of a failed operation.
    public let apiReason: String?
    /// Google's human-readable message, if any.
    public let apiMessage: String?
    /// Where the error was raised (for debugging; not part of equality).
    public let file: String
    /// Where the error was raised (for debugging; not part of equality).
    public let line: Int

    /// An error with a code, a reason and, when it came from an answer, what Google said.
    public init(
        _ code: Code,
        _ reason: String,
        httpStatus: Int? = nil,
        apiReason: String? = nil,
        apiMessage: String? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.reason = reason
        self.httpStatus = httpStatus
        self.apiReason = apiReason
        self.apiMessage = apiMessage
        self.file = file
        self.line = line
    }

    /// The zone has no capacity for the machine type now (`ZONE_RESOURCE_POOL_EXHAUSTED`, also in its
    /// `…_WITH_DETAILS` form, or `resourcePoolExhausted` as an API reason): try another zone or later.
    public var isZoneResourcePoolExhausted: Bool {
        for text in [apiReason, apiMessage].compactMap({ $0 }) {
            if text.contains("ZONE_RESOURCE_POOL_EXHAUSTED") || text == "resourcePoolExhausted" { return true }
        }
        return false
    }

    public var description: String { reason }

    public static func == (lhs: ComputeEngineError, rhs: ComputeEngineError) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
