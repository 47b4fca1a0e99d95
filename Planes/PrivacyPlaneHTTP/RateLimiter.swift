public import Foundation
public import Hummingbird
public import NIOCore
import Synchronization

/// Token buckets by key (an address, a client, or one global key): `burst` requests at once, refilled at
/// `perSecond`. Idle buckets are dropped once full again (swept at most once a second), so memory follows the
/// active callers, not every caller ever seen; at most `maxKeys` buckets exist, and a new key beyond that is
/// refused until the sweep makes room.
public final class RateLimiter: Sendable {
    let burst: Double
    let perSecond: Double
    let maxKeys: Int
    private struct Table {
        var buckets: [String: (tokens: Double, at: Double)] = [:]
        var swept: Double = 0
    }
    private let table = Mutex(Table())

    public init(burst: Int, perSecond: Double, maxKeys: Int = 100_000) {
        self.burst = Double(burst)
        self.perSecond = perSecond
        self.maxKeys = maxKeys
    }

    /// Takes one token for `key`; false when the bucket is empty (the caller answers 429).
    public func allow(_ key: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        table.withLock { t in
            if t.buckets.count > 10_000, now - t.swept >= 1 {
                t.swept = now
                t.buckets = t.buckets.filter { now - $0.value.at < (burst - $0.value.tokens) / perSecond }
            }
            guard var bucket = t.buckets[key] ?? (t.buckets.count < maxKeys ? (burst, now) : nil) else {
                return false
            }
            bucket.tokens = min(burst, bucket.tokens + max(0, now - bucket.at) * perSecond)
            bucket.at = now
            guard bucket.tokens >= 1 else {
                t.buckets[key] = bucket
                return false
            }
            bucket.tokens -= 1
            t.buckets[key] = bucket
            return true
        }
    }
}

/// Limits anonymous routes per client under a global ceiling per route: a client first spends its own
/// allowance, then the route's shared one. One client over its rate is refused alone (its refused requests
/// take nothing from the ceiling), so it cannot lock others out; many clients together meet the ceiling.
public struct ClientRateLimiter: Sendable {
    let perClient: RateLimiter
    let ceiling: RateLimiter

    public init(perClient: RateLimiter, ceiling: RateLimiter) {
        self.perClient = perClient
        self.ceiling = ceiling
    }

    public func allow(_ route: String, client: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        perClient.allow(route + " " + client, now: now) && ceiling.allow(route, now: now)
    }
}

/// Who a request comes from: the TCP peer's address, or — only when the peer is one of the operator's
/// trusted reverse proxies (`--trusted-proxy`) — the last address in its `X-Forwarded-For` header (the one
/// that proxy saw), when it is an IP address. A header from anyone else is ignored, so no client can pick its
/// own bucket.
public struct ClientAddresses: Sendable {
    let trustedProxies: Set<String>

    public init(trustedProxies: Set<String>) { self.trustedProxies = trustedProxies }

    public func client(of request: Request, peer: SocketAddress?) -> String {
        let address = peer?.ipAddress ?? "unknown"
        guard trustedProxies.contains(address) else { return address }
        let header = request.headers.filter { $0.name.canonicalName == "x-forwarded-for" }.last?.value ?? ""
        let last = String(header.split(separator: ",").last ?? "").trimmingCharacters(in: .whitespaces)
        guard let client = Self.canonical(last) else { return address }
        return client
    }

    /// The canonical text of an IP address given on the command line, or nil when it is not one.
    public static func canonical(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= 64 else { return nil }
        return (try? SocketAddress(ipAddress: text, port: 0))?.ipAddress
    }
}

/// The Privacy Plane's request context: Hummingbird's core context plus the TCP peer's address, which the
/// per-client rate limits key on.
public struct PlaneRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
