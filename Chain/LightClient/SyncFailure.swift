/// A block the light client refused: which block, which field, what was expected, what was found.
/// Nothing of a refused block reaches the index.
public struct SyncFailure: Error, CustomStringConvertible, Sendable {
    public let blockNumber: UInt64
    public let field: String
    public let expected: String
    public let found: String
    public let endpoint: String

    public init(blockNumber: UInt64, field: String, expected: String, found: String, endpoint: String) {
        self.blockNumber = blockNumber
        self.field = field
        self.expected = expected
        self.found = found
        self.endpoint = endpoint
    }

    public var description: String {
        "block \(blockNumber) from \(endpoint): \(field): expected \(expected), found \(found)"
    }
}
