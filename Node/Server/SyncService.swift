import ChainIndex
import ChainRecords
import Foundation
import LightClient
import Logging
import PrivacyPlane
import ServiceLifecycle

/// Keeps the index following the chain head: sync, wait `interval`, repeat, until shutdown.
/// A block that does not verify stops nothing but that pass: it is logged and counted, and the next pass
/// tries again (a later endpoint answer, or a reorg, may resolve it); nothing unverified is ever indexed.
/// Each good pass is reported to `freshness` (the Privacy Plane refuses to act on an index whose last good
/// pass is too old); each failure is counted and kept in `state` for /v1/status and /metrics.
struct SyncService: Service {
    let syncer: Syncer
    let state: NodeState
    let interval: Duration
    let freshness: IndexFreshness?
    let logger: Logger

    init(syncer: Syncer, state: NodeState, interval: Duration, freshness: IndexFreshness? = nil, logger: Logger) {
        self.syncer = syncer
        self.state = state
        self.interval = interval
        self.freshness = freshness
        self.logger = logger
    }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let progress = try await syncer.sync()
                freshness?.recordGoodPass()
                await state.record(progress)
            } catch is CancellationError {
                return
            } catch {
                logger.warning("sync pass failed", metadata: ["error": "\(error)"])
                await state.recordFailure("\(error)")
            }
            try? await Task.sleep(for: interval)
        }
    }
}
