public import ChainCore

/// A block the light client refused: what kind of failure, which block, which field, what was expected, what was
/// found. Nothing of a refused block reaches the index.
public struct SyncFailure: Error, CustomStringConvertible, Sendable {
    /// What went wrong, for callers that branch on it (status pages, metrics, endpoint demotion).
    public enum Kind: String, Sendable, CaseIterable {
        /// An endpoint served data that does not verify: a hash, a link, a header rule, a receipts root, a seal,
        /// or an answer that is not a block or receipts at all. Another endpoint may serve the right data.
        case unverified
        /// The endpoints asked did not agree on a block (the quorum was not met).
        case quorum
        /// The configured checkpoint is not on the endpoints' chain.
        case checkpoint
        /// The chain reorganized below the finality window; the index refuses to unwind that far.
        case deepReorg
        /// A verified receipt holds a log of a DeLong contract that its ABI cannot produce (an unknown topic, a
        /// wrong topic count or data layout): the deployed contract and this node's ABI disagree. No endpoint
        /// can fix this; the node must be upgraded or pointed at the right contracts.
        case contractMismatch
    }

    public let kind: Kind
    public let blockNumber: UInt64
    public let field: String
    public let expected: String
    public let found: String
    /// The endpoint that served the refused data, redacted to scheme://host[:port] (URLs often carry API keys).
    public let endpoint: String

    public init(
        _ kind: Kind = .unverified,
        blockNumber: UInt64,
        field: String,
        expected: String,
        found: String,
        endpoint: String
    ) {
        self.kind = kind
        self.blockNumber = blockNumber
        self.field = field
        self.expected = expected
        self.found = found
        self.endpoint = EndpointName.redacted(endpoint)
    }

    /// The verifier's refusal of a block `endpoint` served.
    public init(_ rejection: BlockRejection, endpoint: String) {
        self.init(
            blockNumber: rejection.blockNumber,
            field: rejection.field,
            expected: rejection.expected,
            found: rejection.found,
            endpoint: endpoint
        )
    }

    public var description: String {
        "block \(blockNumber) from \(endpoint): \(field): expected \(expected), found \(found)"
    }
}

/// How endpoints are named in anything that can leave the process (errors, logs, status pages).
public enum EndpointName {
    /// `scheme://host[:port]` of `url`: no userinfo, path, query or fragment, which is where providers put API
    /// keys. Text that is not a URL becomes "endpoint".
    public static func redacted(_ url: String) -> String {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else {
            return url == "-" ? url : "endpoint"
        }
        let scheme = url[..<colon]
        var rest = url[url.index(colon, offsetBy: 3)...]
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        guard !scheme.isEmpty, !rest.isEmpty else { return "endpoint" }
        return "\(scheme)://\(rest)"
    }
}
