import ChainIndex
import ChainRecords
import Foundation
import LightClient
import Logging
import ServiceLifecycle

/// Keeps the index following the chain head: sync, wait `interval`, repeat, until shutdown.
/// A block that does not verify stops nothing but that pass: it is logged and counted, and the next pass
/// tries again (a later endpoint answer, or a reorg, may resolve it); nothing unverified is ever indexed.
struct SyncService: Service {
    let syncer: Syncer
    let state: NodeState
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let progress = try await syncer.sync()
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
