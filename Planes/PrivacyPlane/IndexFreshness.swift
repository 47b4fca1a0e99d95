public import ChainRecords
import Synchronization

/// Whether the verified index is fresh enough to decide on, and the plane's clock.
///
/// A frozen index (sync failing, an endpoint that stopped answering or keeps answering an old head) still
/// holds rentals, measurements and datasets that the chain may since have revoked or retired. The plane
/// therefore acts only while
///
/// - the head block was made at most `maxAge` seconds ago (by the plane's clock, below), and
/// - the last sync pass that succeeded ended at most `maxAge` seconds ago (by the monotonic clock, which
///   `settimeofday` does not move);
///
/// and otherwise refuses with `indexStale` (HTTP 503). Its clock ("now" for rentals, tokens and collateral
/// windows) is `max(wall clock, head timestamp)`: a host that sets the guest's clock back cannot reopen an
/// expired rental or token below the verified chain's own time. A wall clock more than `maxClockSkew` behind
/// the head is refused (`clockSkew`, 503): one of the two is wrong, and the plane does not guess which.
public final class IndexFreshness: Sendable {
    /// The bounds, in seconds.
    public struct Policy: Hashable, Sendable {
        public var maxAge: UInt64
        public var maxClockSkew: UInt64

        public init(maxAge: UInt64, maxClockSkew: UInt64 = 60) {
            self.maxAge = maxAge
            self.maxClockSkew = maxClockSkew
        }

        /// The default bound: two polls (a pass may have just missed a block) plus the time the finality
        /// window takes to fill at `blockTime` seconds a block.
        public static func defaultMaxAge(poll: Double, finality: UInt64, blockTime: UInt64 = 12) -> UInt64 {
            UInt64((2 * poll).rounded(.up)) + finality * blockTime
        }
    }

    public let policy: Policy
    private let lastGoodPass = Mutex<ContinuousClock.Instant?>(nil)

    public init(policy: Policy) { self.policy = policy }

    /// Records that a sync pass just succeeded (the index now holds the endpoint's head).
    public func recordGoodPass(at instant: ContinuousClock.Instant = .now) {
        lastGoodPass.withLock { last in
            if last.map({ $0 < instant }) ?? true { last = instant }
        }
    }

    /// Seconds since the last successful sync pass; nil when none has succeeded yet.
    public func secondsSinceGoodPass(at instant: ContinuousClock.Instant = .now) -> Double? {
        lastGoodPass.withLock { $0 }.map { max(0, Self.seconds(instant - $0)) }
    }

    /// Checks the index against the bounds at `wallClock` (unix seconds) and returns the plane's "now":
    /// `max(wallClock, head timestamp)`. Throws `indexStale` or `clockSkew` (both 503), or `indexUnavailable`.
    public func now(
        _ reader: any RecordReader,
        wallClock: UInt64,
        monotonic: ContinuousClock.Instant = .now
    ) throws(PrivacyPlaneError) -> UInt64 {
        let headTime: UInt64
        do { headTime = try reader.headTimestamp() } catch {
            throw PrivacyPlaneError(.indexUnavailable, "index read failed: \(error)")
        }
        guard headTime > 0 else {
            throw PrivacyPlaneError(
                .indexStale,
                "the index holds no verified block after its checkpoint yet; wait for the sync to catch up"
            )
        }
        if headTime > wallClock, headTime - wallClock > policy.maxClockSkew {
            throw PrivacyPlaneError(
                .clockSkew,
                "the wall clock (\(wallClock)) is \(headTime - wallClock) s behind the verified head's time (\(headTime)); at most \(policy.maxClockSkew) s is accepted"
            )
        }
        let now = max(wallClock, headTime)
        guard now - headTime <= policy.maxAge else {
            throw PrivacyPlaneError(
                .indexStale,
                "the index head was made \(now - headTime) s ago (at \(headTime)); at most \(policy.maxAge) s is accepted: the sync is behind or stopped"
            )
        }
        guard let since = secondsSinceGoodPass(at: monotonic) else {
            throw PrivacyPlaneError(.indexStale, "no sync pass has succeeded yet")
        }
        guard since <= Double(policy.maxAge) else {
            throw PrivacyPlaneError(
                .indexStale,
                "the last successful sync pass ended \(Int(since)) s ago; at most \(policy.maxAge) s is accepted: the endpoint is failing or stalled"
            )
        }
        return now
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
