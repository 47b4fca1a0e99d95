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
    private(set) var lastError: String? = nil
    private(set) var syncs: UInt64 = 0

    func record(_ p: SyncProgress) {
        blocks += p.blocks
        events += p.events
        reorgs += p.reorgs
        target = p.target
        syncs += 1
        lastError = nil
    }

    func recordFailure(_ message: String) {
        failures += 1
        lastError = message
    }
}
