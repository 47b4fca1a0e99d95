import Foundation
import Synchronization

/// Token buckets by key (an address, or one global key): `burst` requests at once, refilled at `perSecond`.
/// Idle buckets are dropped once full again, so memory follows the active callers, not every caller ever seen.
final class RateLimiter: Sendable {
    let burst: Double
    let perSecond: Double
    private let buckets = Mutex<[String: (tokens: Double, at: Double)]>([:])

    init(burst: Int, perSecond: Double) {
        self.burst = Double(burst)
        self.perSecond = perSecond
    }

    /// Takes one token for `key`; false when the bucket is empty (the caller answers 429).
    func allow(_ key: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        buckets.withLock { table in
            if table.count > 10_000 {
                table = table.filter { now - $0.value.at < (burst - $0.value.tokens) / perSecond }
            }
            var bucket = table[key] ?? (burst, now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * perSecond)
            bucket.at = now
            guard bucket.tokens >= 1 else {
                table[key] = bucket
                return false
            }
            bucket.tokens -= 1
            table[key] = bucket
            return true
        }
    }
}
