public import ChainCore
import Foundation
public import Logging

/// Several independent JSON-RPC endpoints behind one face: requests go to the first healthy endpoint and
/// fail over to the next on a transport failure; an endpoint that fails or disagrees is demoted to the end
/// of the list. With a quorum of K, every block hash must be confirmed by K endpoints.
public final class EndpointPool: @unchecked Sendable {
    private let lock = NSLock()
    private var clients: [JSONRPCClient]
    /// How many endpoints must agree on each block hash (1: trust the primary's hash chain alone).
    public let quorum: Int
    private let logger: Logger

    public init(endpoints: [String], quorum: Int = 1, timeout: Duration = .seconds(15), logger: Logger) {
        clients = endpoints.map { JSONRPCClient(endpoint: $0, timeout: timeout, retries: 1) }
        self.quorum = max(1, min(quorum, endpoints.count))
        self.logger = logger
    }

    /// The endpoint requests go to first.
    public var endpoint: String { lock.withLock { clients[0].endpoint } }

    /// The endpoints in their current order of preference.
    public var endpoints: [String] { lock.withLock { clients.map(\.endpoint) } }

    private var snapshot: [JSONRPCClient] { lock.withLock { clients } }

    /// Moves `endpoint` to the end of the preference order.
    public func demote(_ endpoint: String, reason: String) {
        lock.withLock {
            guard let i = clients.firstIndex(where: { $0.endpoint == endpoint }), clients.count > 1 else { return }
            clients.append(clients.remove(at: i))
        }
        logger.warning("endpoint demoted", metadata: ["rpc.endpoint": "\(endpoint)", "reason": "\(reason)"])
    }

    public func call(_ request: RPCRequest, logger: Logger) async throws -> Any {
        try await failover { try await $0.call(request, logger: logger) }
    }

    public func batch(_ requests: [RPCRequest], logger: Logger) async throws -> [Any] {
        try await failover { try await $0.batch(requests, logger: logger) }
    }

    private func failover<T>(_ body: (JSONRPCClient) async throws -> T) async throws -> T {
        var lastError: (any Error)? = nil
        for client in snapshot {
            do {
                return try await body(client)
            } catch let error as RPCError
                where error.kind == .transport
                || {
                    if case .httpStatus = error.kind { return true }
                    return false
                }()
            {
                demote(client.endpoint, reason: error.detail)
                lastError = error
            }
        }
        throw lastError ?? RPCError(kind: .transport, endpoint: "-", method: "-", detail: "no endpoint configured")
    }

    /// Asks endpoints other than the primary for the headers of `range` until `quorum - 1` of them return
    /// exactly `hashes`. Endpoints that disagree or fail are demoted. Returns nil when the quorum is met,
    /// else the block at which it was not.
    public func confirm(
        _ hashes: [Hash32],
        for range: ClosedRange<UInt64>,
        logger: Logger
    ) async -> (block: UInt64, detail: String)? {
        guard quorum > 1 else { return nil }
        let primary = endpoint
        var agreeing = 0
        var firstDisagreement: (UInt64, String)? = nil
        for client in snapshot where client.endpoint != primary && agreeing < quorum - 1 {
            do {
                let results = try await client.batch(
                    range.map { .blockByNumber($0, fullTransactions: false) },
                    logger: logger
                )
                var theirs: [Hash32] = []
                for r in results {
                    guard let o = r as? [String: Any], let h = try? RPCJSON.header(o) else { break }
                    theirs.append(h.hash)
                }
                if theirs == hashes {
                    agreeing += 1
                } else {
                    let i =
                        zip(theirs, hashes).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                        ?? min(theirs.count, hashes.count)
                    let n = range.lowerBound + UInt64(i)
                    firstDisagreement = firstDisagreement ?? (n, "\(client.endpoint) serves another block \(n)")
                    demote(client.endpoint, reason: "disagrees on block \(n)")
                }
            } catch {
                demote(client.endpoint, reason: "\(error)")
            }
        }
        if agreeing >= quorum - 1 { return nil }
        return firstDisagreement ?? (
            range.lowerBound, "only \(agreeing + 1) of the required \(quorum) endpoints answered"
        )
    }
}
