/// The one error type of ChainCore: a code to branch on and a reason for people.
///
/// Two errors are equal when their codes are; the reason says what was expected and what was found.
public struct ChainError: Error, Hashable, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable {
        case invalidHex
        case invalidLength
        case invalidRLP
        case invalidValue
        case invalidSignature
        case invalidABI
        case invalidTypedData
        case invalidTransaction
        case invalidReceipt
        case invalidHeader
        case invalidBlock
        case invalidProof
        case invalidJSON
        case overflow
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

    public static func == (lhs: ChainError, rhs: ChainError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// The same error with `context` put in front of its reason ("transaction 3: …").
    public func within(_ context: String) -> ChainError {
        ChainError(code, "\(context): \(reason)", file: file, line: line)
    }
}
