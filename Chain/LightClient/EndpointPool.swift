public import ChainCore
import Foundation
public import Logging

/// One JSON-RPC endpoint as the pool uses it: `JSONRPCClient` over HTTP, or a fake in tests.
public protocol RPCTransport: Sendable {
    /// The endpoint as configured (may carry an API key: print it only through `EndpointName.redacted`).
    var endpoint: String { get }
    /// Calls one method and returns its `result` (JSONSerialization types; NSNull for null).
    func call(_ request: RPCRequest, logger: Logger) async throws -> Any
    /// Calls several methods in one batch and returns their results in request order.
    func batch(_ requests: [RPCRequest], logger: Logger) async throws -> [Any]
}

extension JSONRPCClient: RPCTransport {}

/// Several independent JSON-RPC endpoints behind one face: requests go to the first endpoint (the primary) and
/// fail over to the next on any failed answer (transport, HTTP status, JSON-RPC error, malformed JSON); an
/// endpoint that fails, serves data that does not verify, or is outvoted is demoted to the end of the list.
/// With a quorum of K, every block hash must be served identically by K endpoints; when the primary is in the
/// minority, the majority wins and the primary is demoted.
public final class EndpointPool: @unchecked Sendable {
    private let lock = NSLock()
    private var clients: [any RPCTransport]
    private var counts: (requests: UInt64, calls: UInt64) = (0, 0)
    /// How many endpoints must agree on each block hash (1: trust the primary's hash chain alone).
    public let quorum: Int
    private let logger: Logger

    public convenience init(endpoints: [String], quorum: Int = 1, timeout: Duration = .seconds(15), logger: Logger) {
        self.init(
            transports: endpoints.map { JSONRPCClient(endpoint: $0, timeout: timeout, retries: 1) },
            quorum: quorum,
            logger: logger
        )
    }

    /// A pool over any transports (the seam the in-process tests drive the syncer through).
    public init(transports: [any RPCTransport], quorum: Int = 1, logger: Logger) {
        clients = transports
        self.quorum = max(1, min(quorum, transports.count))
        self.logger = logger
    }

    /// The endpoint requests go to first.
    public var endpoint: String { lock.withLock { clients[0].endpoint } }

    /// The endpoints in their current order of preference.
    public var endpoints: [String] { lock.withLock { clients.map(\.endpoint) } }

    private var snapshot: [any RPCTransport] { lock.withLock { clients } }

    /// Requests sent so far (one per call or batch, over every endpoint, retries by failover included) and the
    /// JSON-RPC calls they carried.
    public var sent: (requests: UInt64, calls: UInt64) { lock.withLock { counts } }

    private func count(calls: Int) {
        lock.withLock {
            counts.requests += 1
            counts.calls += UInt64(calls)
        }
    }

    /// Moves `endpoint` to the end of the preference order.
    public func demote(_ endpoint: String, reason: String) {
        let moved = lock.withLock { () -> Bool in
            guard let i = clients.firstIndex(where: { $0.endpoint == endpoint }), clients.count > 1 else {
                return false
            }
            clients.append(clients.remove(at: i))
            return true
        }
        guard moved else { return }
        logger.warning(
            "endpoint demoted",
            metadata: ["rpc.endpoint": "\(EndpointName.redacted(endpoint))", "reason": "\(reason)"]
        )
    }

    /// Moves `endpoint` to the front: it becomes the primary.
    public func promote(_ endpoint: String) {
        lock.withLock {
            guard let i = clients.firstIndex(where: { $0.endpoint == endpoint }) else { return }
            clients.insert(clients.remove(at: i), at: 0)
        }
    }

    public func call(_ request: RPCRequest, logger: Logger) async throws -> Any {
        try await failover(calls: 1) { try await $0.call(request, logger: logger) }.value
    }

    public func batch(_ requests: [RPCRequest], logger: Logger) async throws -> [Any] {
        try await failover(calls: requests.count) { try await $0.batch(requests, logger: logger) }.value
    }

    /// Like `batch`, and names the endpoint whose answer it is (to demote it if the answer does not verify).
    public func servedBatch(_ requests: [RPCRequest], logger: Logger) async throws -> (endpoint: String, results: [Any])
    {
        let (endpoint, value) = try await failover(calls: requests.count) {
            try await $0.batch(requests, logger: logger)
        }
        return (endpoint, value)
    }

    /// Asks endpoints in order of preference; any failed answer demotes the endpoint and moves on.
    private func failover<T>(
        calls: Int,
        _ body: (any RPCTransport) async throws -> T
    ) async throws -> (endpoint: String, value: T) {
        var lastError: (any Error)? = nil
        for client in snapshot {
            count(calls: calls)
            do {
                return (client.endpoint, try await body(client))
            } catch let error as RPCError {
                demote(client.endpoint, reason: error.detail)
                lastError = error
            }
        }
        throw lastError ?? RPCError(kind: .transport, endpoint: "-", method: "-", detail: "no endpoint configured")
    }

    /// What the quorum said about the primary's block hashes.
    public enum Confirmation: Sendable, Equatable {
        /// `quorum` endpoints, the primary included, serve exactly these hashes.
        case confirmed
        /// `quorum` endpoints agree on other hashes: the primary was demoted and `majority` promoted; fetch again.
        case outvoted(majority: String)
        /// No `quorum` endpoints agree on anything: the first block where they split, and how.
        case failed(block: UInt64, detail: String)
    }

    /// Asks the other endpoints for the headers of `range` and counts who serves exactly `hashes` (the primary's
    /// answer). Stops as soon as `quorum` agree. Otherwise the majority decides: if `quorum` endpoints agree on
    /// other hashes, the primary and everyone else outside that group is demoted and a majority endpoint
    /// becomes the primary. With no group of `quorum`, nobody is trusted and the pass fails.
    public func confirm(
        _ hashes: [Hash32],
        for range: ClosedRange<UInt64>,
        logger: Logger
    ) async -> Confirmation {
        guard quorum > 1 else { return .confirmed }
        let primary = endpoint
        var groups: [[Hash32]: [String]] = [hashes: [primary]]
        var unanswered = 0
        for client in snapshot where client.endpoint != primary {
            if groups[hashes, default: []].count >= quorum { break }
            count(calls: range.count)
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
                groups[theirs, default: []].append(client.endpoint)
            } catch {
                unanswered += 1
                demote(client.endpoint, reason: "\(error)")
            }
        }
        let agreeing = groups[hashes, default: []]
        if agreeing.count >= quorum {
            for (list, members) in groups where list != hashes {
                for m in members { demote(m, reason: "disagrees with the quorum on blocks \(range)") }
            }
            return .confirmed
        }
        if let (list, majority) = groups.first(where: { $0.value.count >= quorum && $0.key.count == hashes.count }) {
            for (other, members) in groups where other != list {
                for m in members { demote(m, reason: "outvoted on blocks \(range)") }
            }
            promote(majority[0])
            return .outvoted(majority: EndpointName.redacted(majority[0]))
        }
        let split = groups.keys.filter { $0 != hashes }.compactMap { theirs -> Int? in
            zip(theirs, hashes).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? (theirs.count == hashes.count ? nil : min(theirs.count, hashes.count))
        }.min()
        let n = range.lowerBound + UInt64(split ?? 0)
        return .failed(
            block: n,
            detail:
                "\(agreeing.count) of the required \(quorum) endpoints serve block \(n) as the primary does; \(groups.count - 1) other answer(s), \(unanswered) endpoint(s) unanswered"
        )
    }
}
