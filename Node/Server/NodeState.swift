import ChainIndex
import ChainRecords
import Foundation
import LightClient
import Metrics

/// Counters of the running node, for /v1/status and /metrics (the counters are recorded into `metrics` as
/// they move; the gauges are read from here and the index when /metrics is scraped).
actor NodeState {
    /// This process's metrics, which /metrics renders.
    nonisolated let metrics: ProcessMetrics
    private let counted: (blocks: Counter, events: Counter, reorgs: Counter, failures: Counter)
    private(set) var blocks: UInt64 = 0
    private(set) var events: UInt64 = 0
    private(set) var reorgs: UInt64 = 0
    private(set) var failures: UInt64 = 0
    private(set) var target: UInt64 = 0
    /// The error of the last pass, nil once a pass succeeds again.
    private(set) var lastError: String? = nil
    private(set) var syncs: UInt64 = 0
    /// Failed passes since the last good one.
    private(set) var consecutiveFailures: UInt64 = 0
    /// When the last pass succeeded (monotonic clock: the wall clock may be moved).
    private(set) var lastGoodPass: ContinuousClock.Instant? = nil
    /// The last failure and when it happened (kept after later passes succeed, so a flapping sync shows).
    private(set) var lastFailure: (message: String, at: Date)? = nil

    init(metrics: ProcessMetrics) {
        self.metrics = metrics
        let f = metrics.factory
        counted = (
            Counter(label: "delong_sync_blocks_total", factory: f),
            Counter(label: "delong_sync_events_total", factory: f),
            Counter(label: "delong_sync_reorgs_total", factory: f),
            Counter(label: "delong_sync_failures_total", factory: f)
        )
    }

    func record(_ p: SyncProgress, at instant: ContinuousClock.Instant = .now) {
        blocks += p.blocks
        events += p.events
        reorgs += p.reorgs
        counted.blocks.increment(by: Int64(clamping: p.blocks))
        counted.events.increment(by: Int64(clamping: p.events))
        counted.reorgs.increment(by: Int64(clamping: p.reorgs))
        target = p.target
        syncs += 1
        lastError = nil
        consecutiveFailures = 0
        lastGoodPass = instant
    }

    /// A good pass that indexed nothing new (the initial catch-up of `privacy serve`).
    func recordGoodPass(at instant: ContinuousClock.Instant = .now) { lastGoodPass = instant }

    /// Counts a failed pass. Its message leaves the process (/v1/status), so endpoint URLs in it are cut to
    /// scheme, host and port: a path or query often carries an API key.
    func recordFailure(_ message: String, at date: Date = Date()) {
        failures += 1
        counted.failures.increment()
        consecutiveFailures += 1
        let shown = Self.redactingURLs(message)
        lastError = shown
        lastFailure = (shown, date)
    }

    /// `text` with every http(s) URL reduced to scheme://host[:port] (user info, path, query dropped).
    static func redactingURLs(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let first = [rest.range(of: "http://"), rest.range(of: "https://")].compactMap({ $0 })
            .min(by: { $0.lowerBound < $1.lowerBound })
        {
            out += rest[..<first.lowerBound]
            let tail = rest[first.lowerBound...]
            let end = tail.firstIndex { $0.isWhitespace || "\"'<>),;".contains($0) } ?? tail.endIndex
            let url = String(tail[..<end])
            if let components = URLComponents(string: url), let scheme = components.scheme,
                let host = components.host
            {
                out += "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
            } else {
                out += "<url>"
            }
            rest = tail[end...]
        }
        return out + rest
    }

    /// Seconds since the last good pass, nil when none succeeded yet.
    func secondsSinceGoodPass(at instant: ContinuousClock.Instant = .now) -> Double? {
        lastGoodPass.map { instant - $0 }.map {
            Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18
        }
    }
}
