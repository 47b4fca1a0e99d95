#if canImport(Glibc)
import Glibc
#endif

/// The one error type of ComputingPlane: a code to branch on and a reason for people.
///
/// Two errors are equal when their codes are; the reason says what was expected and what was found.
public struct ComputingPlaneError: Error, Hashable, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable {
        /// A request, option or input file is malformed or refused (a bundle that is not one, unreadable data).
        case badInput
        /// This machine cannot run the sandbox (no bwrap, no user namespaces, no cgroups, no seccomp).
        case systemUnsupported
        /// A file or directory could not be read or written.
        case io
        /// Setting up or tearing down the sandbox failed part way (a mount, a cgroup, a process).
        case sandboxFailure
        /// A released output, its record or its evidence does not check out.
        case verification
        /// The caller may not do this (a review by someone who is not a reviewer of the output).
        case forbidden
        /// What the request names is not here (an unknown session, a dataset without a published sample).
        case notFound
        /// The request does not fit the state (no output waiting, a reviewer deciding twice, an old list).
        case conflict
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

    public var description: String { "\(code.rawValue): \(reason)" }

    public static func == (lhs: ComputingPlaneError, rhs: ComputingPlaneError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// strerror's text for `code`.
    static func text(_ code: Int32) -> String { String(cString: strerror(code)) }
}
