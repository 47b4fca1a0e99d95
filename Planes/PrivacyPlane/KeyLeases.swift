public import ChainCore
public import Metrics
import PlaneProtocol
import Synchronization

/// The key leases the plane has granted, in memory: what each was granted on (the agent signer its sandbox
/// bound, the rental, the measurement digest that allowed the release) and until when it runs.
///
/// A lease is live until `expiresAt` unless renewed; a renewal that comes later, or one refused because the
/// index shows a revocation, ends it for good (`terminated`): every later renewal is refused too. The table is
/// not persisted: a plane restart loses every lease, and renewals after it are refused (`unknownLease`), so a
/// restart ends running jobs rather than trusting state it no longer holds (fail closed).
///
/// The table holds at most `capacity` leases; entries are pruned `retention` seconds after they ended, and a
/// grant into a full table of live leases is refused (`rateLimited`).
public final class KeyLeases: Sendable {
    /// How long a lease runs without renewal, in seconds (3…600; `privacy serve --lease-seconds`).
    public let seconds: UInt64
    /// Seconds between renewals the plane asks for: a third of the lease, at least 1.
    public var renewEvery: UInt64 { max(1, seconds / 3) }
    /// The furthest a renewal's `at` may be from the plane's clock, in seconds.
    public static let maxSkew: UInt64 = 30
    public static let allowedSeconds: ClosedRange<UInt64> = 3...600
    public let capacity: Int
    /// How long an ended lease stays in the table (so its renewals get `leaseExpired`/`leaseRevoked`, not
    /// `unknownLease`).
    public let retention: UInt64

    /// What a lease was granted on.
    public struct Grant: Hashable, Sendable {
        public var id: Hash32
        public var agentSigner: Address
        public var dataset: Hash32
        public var consumer: Address
        /// The on-chain allow-list digest that matched the sandbox's measurements at release.
        public var measurement: Hash32

        public init(id: Hash32, agentSigner: Address, dataset: Hash32, consumer: Address, measurement: Hash32) {
            self.id = id
            self.agentSigner = agentSigner
            self.dataset = dataset
            self.consumer = consumer
            self.measurement = measurement
        }
    }

    /// Why a lease ended.
    public enum Ending: Hashable, Sendable {
        case expired
        case revoked(String)
    }

    struct Entry {
        var grant: Grant
        var expiresAt: UInt64
        var ended: (Ending, at: UInt64)?
    }

    /// Why a renewal was refused, as /metrics counts them.
    public enum RefusalReason: String, Sendable, CaseIterable {
        case unknown, signature, stale, expired, revoked
    }

    struct Counters {
        var renewed = 0
        var refused: [RefusalReason: Int] = [:]
    }

    private let table = Mutex<[Hash32: Entry]>([:])
    private let counters = Mutex(Counters())
    /// Where renewals are recorded (`delong_lease_renewals_total`, `delong_lease_renewals_refused_total`) and
    /// the live leases (`delong_leases_active`, set by ``recordGauges(now:)``).
    let metrics: any MetricsFactory
    private let renewedCounter: Counter
    private let refusedCounters: [RefusalReason: Counter]

    public convenience init(
        seconds: UInt64 = 30,
        capacity: Int = 65536,
        retention: UInt64 = 600,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws(PrivacyPlaneError) {
        guard Self.allowedSeconds.contains(seconds) else {
            throw PrivacyPlaneError(
                .invalidConfiguration,
                "lease seconds: expected \(Self.allowedSeconds.lowerBound)…\(Self.allowedSeconds.upperBound), found \(seconds)"
            )
        }
        guard capacity > 0 else { throw PrivacyPlaneError(.invalidConfiguration, "lease capacity must be positive") }
        self.init(unchecked: seconds, capacity: capacity, retention: retention, metrics: metrics)
    }

    /// Whether a lease can be granted at `now` (pruning ended leases when the table is full): asked before a
    /// release uses its token, so a full table refuses (`rateLimited`) without spending it.
    func admit(now: UInt64) throws(PrivacyPlaneError) {
        let (capacity, retention) = (self.capacity, self.retention)
        try table.withLock { (t: inout [Hash32: Entry]) throws(PrivacyPlaneError) in
            if t.count >= capacity { t = t.filter { !Self.prunable($0.value, now: now, retention: retention) } }
            guard t.count < capacity else {
                throw PrivacyPlaneError(.rateLimited, "the plane holds \(capacity) key leases; retry later")
            }
        }
    }

    /// The default table: 30 s leases (always in range, so this cannot fail).
    public static func standard() -> KeyLeases {
        KeyLeases(unchecked: 30, capacity: 65536, retention: 600, metrics: NOOPMetricsHandler.instance)
    }

    private init(unchecked seconds: UInt64, capacity: Int, retention: UInt64, metrics: any MetricsFactory) {
        self.seconds = seconds
        self.capacity = capacity
        self.retention = retention
        self.metrics = metrics
        // Every reason from the start, at 0, so a dashboard sees the series before the first refusal.
        renewedCounter = Counter(label: "delong_lease_renewals_total", factory: metrics)
        refusedCounters = Dictionary(
            uniqueKeysWithValues: RefusalReason.allCases.map { reason in
                (
                    reason,
                    Counter(
                        label: "delong_lease_renewals_refused_total",
                        dimensions: [("reason", reason.rawValue)],
                        factory: metrics
                    )
                )
            }
        )
    }

    /// Grants the lease `grant.id` at `now`, once the receipt log has recorded the token's one release (which
    /// is what makes the id unique).
    func grant(_ grant: Grant, now: UInt64) -> KeyLease {
        let lease = KeyLease(id: grant.id, expiresAt: now + seconds, renewEvery: renewEvery)
        table.withLock { $0[grant.id] = Entry(grant: grant, expiresAt: lease.expiresAt) }
        return lease
    }

    /// What lease `id` was granted on, ended or not; `unknownLease` when the plane does not hold it.
    func granted(_ id: Hash32) throws(PrivacyPlaneError) -> Grant {
        guard let grant = table.withLock({ $0[id]?.grant }) else {
            throw PrivacyPlaneError(
                .unknownLease,
                "no lease \(id.hex) on this plane (never granted, ended long ago, or lost in a plane restart)"
            )
        }
        return grant
    }

    static func prunable(_ e: Entry, now: UInt64, retention: UInt64) -> Bool {
        let end = e.ended?.at ?? e.expiresAt
        return now >= end && now - end >= retention
    }

    /// The grant of a live lease `id` at `now`, or the refusal: unknown, or ended (an expiry found now ends it).
    func live(_ id: Hash32, now: UInt64) throws(PrivacyPlaneError) -> (Grant, UInt64) {
        try table.withLock { (t: inout [Hash32: Entry]) throws(PrivacyPlaneError) -> (Grant, UInt64) in
            guard var e = t[id] else {
                throw PrivacyPlaneError(.unknownLease, "no lease \(id.hex) on this plane (pruned meanwhile)")
            }
            if e.ended == nil && now >= e.expiresAt {
                e.ended = (.expired, e.expiresAt)
                t[id] = e
            }
            switch e.ended?.0 {
            case .expired?:
                throw PrivacyPlaneError(
                    .leaseExpired,
                    "lease \(id.hex) expired at \(e.expiresAt) without a renewal; a missed renewal ends it for good"
                )
            case .revoked(let why)?:
                throw PrivacyPlaneError(.leaseRevoked, "lease \(id.hex) was revoked: \(why)")
            case nil: return (e.grant, e.expiresAt)
            }
        }
    }

    /// Ends lease `id` as revoked at `now` for `reason` (every later renewal is refused).
    func revoke(_ id: Hash32, reason: String, now: UInt64) {
        table.withLock { t in
            if t[id]?.ended == nil { t[id]?.ended = (.revoked(reason), now) }
        }
    }

    /// Extends live lease `id` to `now + seconds`; refused when it ended meanwhile.
    func extend(_ id: Hash32, now: UInt64) throws(PrivacyPlaneError) -> KeyLease {
        _ = try live(id, now: now)
        let expiresAt = now + seconds
        table.withLock { t in
            if var e = t[id], e.ended == nil {
                e.expiresAt = max(e.expiresAt, expiresAt)
                t[id] = e
            }
        }
        return KeyLease(id: id, expiresAt: expiresAt, renewEvery: renewEvery)
    }

    func count(_ outcome: RefusalReason?) {
        counters.withLock { c in
            if let outcome { c.refused[outcome, default: 0] += 1 } else { c.renewed += 1 }
        }
        if let outcome { refusedCounters[outcome]?.increment() } else { renewedCounter.increment() }
    }

    /// How many leases are live (granted, not ended, not past their expiry) at `now`.
    public func active(now: UInt64) -> Int {
        table.withLock { t in t.values.count { $0.ended == nil && now < $0.expiresAt } }
    }

    /// Renewals granted so far.
    public var renewed: Int { counters.withLock { $0.renewed } }

    /// Renewals refused so far for `reason`.
    public func refused(_ reason: RefusalReason) -> Int { counters.withLock { $0.refused[reason] ?? 0 } }

    /// Sets `delong_leases_active` to the leases live at `now` (when /metrics is scraped: expiry is a matter
    /// of the clock, not of an event).
    public func recordGauges(now: UInt64) {
        Meter(label: "delong_leases_active", factory: metrics).set(active(now: now))
    }
}
