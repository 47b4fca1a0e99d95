import ChainIndex
import ChainRecords
import Foundation
import LightClient

/// Counters of the running node, for /v1/status and /metrics.
actor NodeState {
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

    func record(_ p: SyncProgress, at instant: ContinuousClock.Instant = .now) {
        blocks += p.blocks
        events += p.events
        reorgs += p.reorgs
        target = p.target
        syncs += 1
        lastError = nil
        consecutiveFailures = 0
        lastGoodPass = instant
    }

    /// A good pass that indexed nothing new (the initial catch-up of `privacy serve`).
    func recordGoodPass(at instant: ContinuousClock.Instant = .now) { lastGoodPass = instant }

    func recordFailure(_ message: String, at date: Date = Date()) {
        failures += 1
        consecutiveFailures += 1
        lastError = message
        lastFailure = (message, date)
    }

    /// Seconds since the last good pass, nil when none succeeded yet.
    func secondsSinceGoodPass(at instant: ContinuousClock.Instant = .now) -> Double? {
        lastGoodPass.map { instant - $0 }.map {
            Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18
        }
    }
}
