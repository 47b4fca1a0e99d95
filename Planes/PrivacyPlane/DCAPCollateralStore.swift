public import Attestation
import ChainCore
import Foundation
public import Logging
public import Metrics
public import PlaneCrypto
public import PlaneProtocol
import Synchronization

/// Which collateral a TDX quote needs: its PCK certificate's FMSPC and the PCK CA that issued it.
public struct PCKCollateralKey: Hashable, Sendable, CustomStringConvertible {
    /// The 6-byte FMSPC from the PCK certificate's SGX extension.
    public let fmspc: [UInt8]
    /// The PCK CA as Intel's PCS names it in `pckcrl?ca=`: `processor` or `platform`.
    public let ca: String

    public init(fmspc: [UInt8], ca: String) {
        self.fmspc = fmspc
        self.ca = ca
    }

    /// The FMSPC as the PCS API spells it (12 upper-case hex digits).
    public var fmspcHex: String { Hex.encode(fmspc, prefix: false).uppercased() }
    public var description: String { "FMSPC \(fmspcHex) (PCK \(ca) CA)" }

    /// The key of `quote`, read from its PCK chain, which must be a PCK certificate issued by an Intel PCK
    /// CA issued by `trustAnchor` (so only genuine Intel FMSPCs ever make the plane fetch collateral).
    public static func of(
        _ quote: TDXQuote,
        trustAnchor: X509Certificate = IntelRootCA.certificate
    ) throws(PrivacyPlaneError) -> PCKCollateralKey {
        let chain: [X509Certificate]
        do { chain = try X509Certificate.pemChain(quote.signature.pckChainPEM) } catch {
            throw PrivacyPlaneError(.attestationRefused, "quote PCK certificate chain: \(error.reason)")
        }
        guard chain.count >= 2, chain[0].isSigned(by: chain[1]), chain[1].isSigned(by: trustAnchor) else {
            throw PrivacyPlaneError(
                .attestationRefused,
                "quote PCK chain: expected a PCK certificate issued by an Intel PCK CA under the Intel SGX Root CA, "
                    + "found \(chain.count) certificate(s) that do not chain to it"
            )
        }
        let ca: String
        switch chain[1].subjectCommonNames {
        case ["Intel SGX PCK Processor CA"]: ca = "processor"
        case ["Intel SGX PCK Platform CA"]: ca = "platform"
        default:
            throw PrivacyPlaneError(
                .attestationRefused,
                "quote PCK chain: expected the Intel SGX PCK Processor or Platform CA, found \(chain[1].subject)"
            )
        }
        guard let value = chain[0].extensionValue(oid: PCKExtensions.oid),
            let extensions = try? PCKExtensions(der: value)
        else {
            throw PrivacyPlaneError(
                .attestationRefused,
                "PCK certificate: expected the Intel SGX extension \(PCKExtensions.oid) with an FMSPC, found none"
            )
        }
        return PCKCollateralKey(fmspc: extensions.fmspc, ca: ca)
    }
}

/// Where DCAP collateral comes from, for reloads.
public enum CollateralSource: Sendable, CustomStringConvertible {
    /// A dcap-qvl collateral JSON file, re-read on every refresh.
    case file(String)
    /// An Intel PCS or PCCS (v4 API), asked per FMSPC the first time a quote needs it, then on every refresh.
    case pcs(PCSCollateralClient)

    public var description: String {
        switch self {
        case .file(let path): "file \(path)"
        case .pcs(let client): "PCS \(client.displayURL)"
        }
    }
}

/// The Privacy Plane's DCAP collateral: prepared (chains and signatures verified) once per load, swapped
/// atomically by ``refresh(now:)`` (on SIGHUP and a timer), and checked for expiry on every quote.
///
/// A failed reload keeps the last good collateral, logs why and counts it (``status``); expired collateral
/// makes TDX key releases answer `collateralExpired` (503) naming what expired and when, never a crash.
public final class DCAPCollateralStore: Sendable {
    /// One prepared collateral and when it was loaded.
    public struct Entry: Sendable {
        public let key: PCKCollateralKey?
        public let prepared: VerifiedCollateral
        public let loadedAt: Int64
    }

    /// What /v1/attestation and /metrics report.
    public struct Status: Sendable {
        public let source: String
        public let entries: [Entry]
        public let refreshes: UInt64
        public let failures: UInt64
        public let lastRefresh: Int64?
        public let lastFailure: (at: Int64, reason: String)?
    }

    struct State {
        var single: Entry?
        var byKey: [PCKCollateralKey: Entry] = [:]
        /// When a key release last made the store ask the PCS for each key (success or not).
        var lastAttempt: [PCKCollateralKey: Int64] = [:]
        /// The fetch under way for each key, which concurrent key releases wait for.
        var inFlight: [PCKCollateralKey: Task<Result<VerifiedCollateral, PrivacyPlaneError>, Never>] = [:]
        var refreshes: UInt64 = 0
        var failures: UInt64 = 0
        var lastRefresh: Int64?
        var lastFailure: (at: Int64, reason: String)?
    }

    public let source: CollateralSource?
    let trustAnchor: X509Certificate
    let logger: Logger
    let state: Mutex<State>
    /// Where reloads are counted as they happen; ``recordGauges()`` sets the rest when /metrics is scraped.
    let metrics: any MetricsFactory
    private let refreshCounter: Counter
    private let failureCounter: Counter

    /// The most FMSPCs a PCS-sourced store keeps (a plane serves a handful of platform models).
    public static let maxKeys = 64
    /// Key releases ask the PCS for a key at most once per this many seconds (a failed fetch, or one that
    /// brought collateral that is still expired, is not repeated for every quote).
    public static let fetchRetrySeconds: Int64 = 30

    /// A store of `initial` collateral; with a `source`, ``refresh(now:)`` reloads it from there.
    public init(
        source: CollateralSource? = nil,
        initial: VerifiedCollateral? = nil,
        loadedAt: Int64? = nil,
        trustAnchor: X509Certificate = IntelRootCA.certificate,
        logger: Logger = Logger(label: "delong.collateral"),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.source = source
        self.trustAnchor = trustAnchor
        self.logger = logger
        self.metrics = metrics
        refreshCounter = Counter(label: "delong_collateral_refreshes_total", factory: metrics)
        failureCounter = Counter(label: "delong_collateral_refresh_failures_total", factory: metrics)
        var state = State()
        state.single = initial.map { Entry(key: nil, prepared: $0, loadedAt: loadedAt ?? Self.wallClock()) }
        self.state = Mutex(state)
    }

    /// Sets the collateral gauges from ``status`` (when /metrics is scraped): the last reload and failure
    /// times, the earliest end of the loaded collateral's validity (NaN when none is loaded) and how many
    /// are loaded.
    public func recordGauges() {
        let status = self.status
        func gauge(_ name: String, _ value: Double) { Meter(label: name, factory: metrics).set(value) }
        gauge("delong_collateral_last_refresh_timestamp_seconds", status.lastRefresh.map { Double($0) } ?? .nan)
        gauge("delong_collateral_last_failure_timestamp_seconds", status.lastFailure.map { Double($0.at) } ?? .nan)
        gauge(
            "delong_collateral_valid_until_timestamp_seconds",
            status.entries.map(\.prepared.validUntil).min().map { Double($0) } ?? .nan
        )
        gauge("delong_collateral_loaded", Double(status.entries.count))
    }

    /// The collateral loaded from a file source or given at start (nil for a PCS source).
    public var current: VerifiedCollateral? { state.withLock { $0.single?.prepared } }

    public var status: Status {
        state.withLock { s in
            Status(
                source: source?.description ?? "none",
                entries: ([s.single].compactMap { $0 } + s.byKey.values).sorted {
                    ($0.key?.fmspcHex ?? "") < ($1.key?.fmspcHex ?? "")
                },
                refreshes: s.refreshes,
                failures: s.failures,
                lastRefresh: s.lastRefresh,
                lastFailure: s.lastFailure
            )
        }
    }

    /// The collateral for `quote`: the file's, or (PCS) the one of its FMSPC, fetched the first time it is
    /// needed and again when it has expired.
    public func collateral(for quote: TDXQuote, now: Int64) async throws(PrivacyPlaneError) -> VerifiedCollateral {
        guard case .pcs(let client) = source else {
            guard let single = current else {
                throw PrivacyPlaneError(
                    .attestationRefused,
                    "this plane has no DCAP collateral (start it with --collateral or --collateral-url), so it cannot verify TDX quotes"
                )
            }
            return single
        }
        let key = try PCKCollateralKey.of(quote, trustAnchor: trustAnchor)
        // One PCS request per key at a time (concurrent quotes wait for it) and at most one per
        // `fetchRetrySeconds`: a PCS that is down, or still serves expired collateral, is not asked per quote.
        enum Plan {
            case use(VerifiedCollateral)
            case wait(Task<Result<VerifiedCollateral, PrivacyPlaneError>, Never>, cached: VerifiedCollateral?)
            case refuse(String)
        }
        let plan: Plan = state.withLock { s in
            let cached = s.byKey[key]?.prepared
            if let cached, Self.expired(cached, at: now).isEmpty { return .use(cached) }
            if let task = s.inFlight[key] { return .wait(task, cached: cached) }
            if let last = s.lastAttempt[key], now - last < Self.fetchRetrySeconds {
                if let cached { return .use(cached) }
                return .refuse(
                    "the last fetch from \(client.displayURL) failed less than \(Self.fetchRetrySeconds) s ago ("
                        + (s.lastFailure?.reason ?? "no reason") + "); retry later"
                )
            }
            if cached == nil && s.byKey.count >= Self.maxKeys {
                return .refuse("this plane already holds collateral for \(Self.maxKeys) FMSPCs")
            }
            s.lastAttempt[key] = now
            let task = Task { await self.fetchAndStore(key, client, now: now) }
            s.inFlight[key] = task
            return .wait(task, cached: cached)
        }
        switch plan {
        case .use(let prepared): return prepared
        case .refuse(let why): throw PrivacyPlaneError(.collateralUnavailable, "no DCAP collateral for \(key): \(why)")
        case .wait(let task, let cached):
            switch await task.value {
            case .success(let prepared): return prepared
            case .failure(let error):
                if let cached { return cached }  // expired: the caller answers collateralExpired
                throw PrivacyPlaneError(.collateralUnavailable, "no DCAP collateral for \(key): \(error.reason)")
            }
        }
    }

    /// One fetch for a key release: stored on success, logged and counted on failure.
    func fetchAndStore(
        _ key: PCKCollateralKey,
        _ client: PCSCollateralClient,
        now: Int64
    ) async -> Result<VerifiedCollateral, PrivacyPlaneError> {
        let result: Result<VerifiedCollateral, PrivacyPlaneError>
        do {
            let prepared = try await fetch(key, client)
            try Self.checkNotOlder(prepared, than: state.withLock { $0.byKey[key]?.prepared })
            result = .success(prepared)
        } catch { result = .failure(error) }
        state.withLock { s in
            s.inFlight[key] = nil
            if case .success(let prepared) = result {
                s.byKey[key] = Entry(key: key, prepared: prepared, loadedAt: now)
            }
        }
        switch result {
        case .success:
            logger.info("DCAP collateral fetched", metadata: ["for": "\(key)", "from": "\(client.displayURL)"])
        case .failure(let error): recordFailure("\(key): \(error.reason)", at: now)
        }
        return result
    }

    /// Reloads every collateral from the source: the file, or each FMSPC seen so far from the PCS. Each
    /// success is swapped in atomically; a failure keeps the last good one, is logged and counted. Returns
    /// whether everything reloaded.
    @discardableResult
    public func refresh(now: Int64? = nil) async -> Bool {
        guard let source else { return true }
        let now = now ?? Self.wallClock()
        var ok = true
        switch source {
        case .file(let path):
            do {
                let prepared = try Self.load(file: path, trustAnchor: trustAnchor)
                try Self.checkNotOlder(prepared, than: current)
                state.withLock { $0.single = Entry(key: nil, prepared: prepared, loadedAt: now) }
            } catch {
                ok = false
                recordFailure("\(path): \(error.reason)", at: now)
            }
        case .pcs(let client):
            for key in state.withLock({ Array($0.byKey.keys) }) {
                do {
                    let prepared = try await fetch(key, client)
                    try Self.checkNotOlder(prepared, than: state.withLock { $0.byKey[key]?.prepared })
                    state.withLock { $0.byKey[key] = Entry(key: key, prepared: prepared, loadedAt: now) }
                } catch {
                    ok = false
                    recordFailure("\(key): \(error.reason)", at: now)
                }
            }
        }
        if ok {
            state.withLock { s in
                s.refreshes += 1
                s.lastRefresh = now
            }
            refreshCounter.increment()
            logger.info("DCAP collateral reloaded", metadata: ["source": "\(source)"])
        }
        return ok
    }

    static func wallClock() -> Int64 { Int64(Date().timeIntervalSince1970) }

    func recordFailure(_ reason: String, at now: Int64) {
        state.withLock { s in
            s.failures += 1
            s.lastFailure = (now, reason)
        }
        failureCounter.increment()
        logger.warning(
            "DCAP collateral reload failed; keeping the last good collateral",
            metadata: ["reason": "\(reason)"]
        )
    }

    func fetch(
        _ key: PCKCollateralKey,
        _ client: PCSCollateralClient
    ) async throws(PrivacyPlaneError) -> VerifiedCollateral {
        let collateral = try await client.fetch(key)
        do { return try DCAPVerifier.prepare(collateral, trustAnchor: trustAnchor) } catch {
            throw PrivacyPlaneError(
                .collateralUnavailable,
                "collateral from \(client.displayURL) does not verify: \(error)"
            )
        }
    }

    /// Refuses to replace collateral by an older issue for the same FMSPC (a rollback, e.g. a replayed TCB
    /// Info from before a TCB recovery that still lists a platform as UpToDate).
    static func checkNotOlder(_ new: VerifiedCollateral, than old: VerifiedCollateral?) throws(PrivacyPlaneError) {
        guard let old, new.collateral.tcbInfo.fmspc == old.collateral.tcbInfo.fmspc else { return }
        let (n, o) = (new.collateral, old.collateral)
        for (name, newDate, oldDate) in [
            ("TCB Info", n.tcbInfo.issueDate, o.tcbInfo.issueDate),
            ("QE Identity", n.qeIdentity.issueDate, o.qeIdentity.issueDate),
        ] where newDate < oldDate {
            throw PrivacyPlaneError(
                .collateralUnavailable,
                "\(name): expected an issue at least as new as the loaded one (issueDate \(RFC3339.format(oldDate))), "
                    + "found one issued \(RFC3339.format(newDate)); keeping the loaded collateral"
            )
        }
    }

    /// Reads and prepares a dcap-qvl collateral JSON file.
    public static func load(
        file path: String,
        trustAnchor: X509Certificate = IntelRootCA.certificate
    ) throws(PrivacyPlaneError) -> VerifiedCollateral {
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw PrivacyPlaneError(
                .collateralUnavailable,
                "cannot read the collateral file: \(error.localizedDescription)"
            )
        }
        do { return try DCAPVerifier.prepare(QuoteCollateral(json: bytes), trustAnchor: trustAnchor) } catch {
            throw PrivacyPlaneError(.collateralUnavailable, "\(error)")
        }
    }

    /// The validity windows of `prepared` that have ended before `now` (TCB Info, QE Identity, a CRL's
    /// nextUpdate, or a certificate's notAfter), in checking order.
    public static func expired(_ prepared: VerifiedCollateral, at now: Int64) -> [(name: String, until: Int64)] {
        prepared.validityWindows.filter { now > $0.until }.map { ($0.name, $0.until) }
    }

    /// Throws `collateralExpired` naming each expired item and when it ended, when `prepared` is past any
    /// nextUpdate (or notAfter) at `now`.
    public func checkNotExpired(_ prepared: VerifiedCollateral, at now: Int64) throws(PrivacyPlaneError) {
        let gone = Self.expired(prepared, at: now)
        guard !gone.isEmpty else { return }
        let items = gone.map { "\($0.name) ended \(RFC3339.format($0.until))" }.joined(separator: "; ")
        let failure = status.lastFailure.map { " The last reload failed: \($0.reason)." } ?? ""
        throw PrivacyPlaneError(
            .collateralExpired,
            "the plane's DCAP collateral has expired at \(RFC3339.format(now)): \(items). It is reloaded from "
                + "\(source?.description ?? "nowhere (no source)") on SIGHUP and on the refresh timer.\(failure)"
        )
    }
}

extension DCAPCollateralStore.Status {
    /// The `collateral` object of GET /v1/attestation: the source, each loaded collateral (FMSPC, TCB Info
    /// and QE Identity nextUpdate, the earliest end of any window, whether that has passed at `now`) and the
    /// reload counters with the last failure's reason.
    public func json(now: Int64) -> OrderedJSON {
        .object([
            ("source", .string(source)),
            (
                "loaded",
                .array(
                    entries.map { entry in
                        let c = entry.prepared.collateral
                        return .object([
                            ("fmspc", .string(Hex.encode(c.tcbInfo.fmspc, prefix: false).uppercased())),
                            ("tcbInfoNextUpdate", .string(RFC3339.format(c.tcbInfo.nextUpdate))),
                            ("qeIdentityNextUpdate", .string(RFC3339.format(c.qeIdentity.nextUpdate))),
                            ("validUntil", .string(RFC3339.format(entry.prepared.validUntil))),
                            ("expired", .bool(now > entry.prepared.validUntil)),
                            ("loadedAt", .string(RFC3339.format(entry.loadedAt))),
                        ])
                    }
                )
            ),
            ("refreshes", .int(refreshes)),
            ("refreshFailures", .int(failures)),
            ("lastRefresh", lastRefresh.map { .string(RFC3339.format($0)) } ?? .null),
            (
                "lastFailure",
                lastFailure.map { .object([("at", .string(RFC3339.format($0.at))), ("reason", .string($0.reason))]) }
                    ?? .null
            ),
        ])
    }
}
