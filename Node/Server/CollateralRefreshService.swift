import Foundation
import Logging
import PrivacyPlane
import ServiceLifecycle
import UnixSignals

/// Reloads the Privacy Plane's DCAP collateral every `interval` and on each SIGHUP (which never stops the
/// server: the service group stops on SIGTERM and SIGINT only). Each reload swaps the prepared collateral
/// atomically; a failed one keeps the last good collateral and is logged and counted by the store.
struct CollateralRefreshService: Service {
    let store: DCAPCollateralStore
    let interval: Duration
    /// Created before the server starts (it ignores SIGHUP's default action, which would end the process).
    let hangups: UnixSignalsSequence
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in hangups.cancelOnGracefulShutdown() {
                    logger.info("SIGHUP: reloading DCAP collateral")
                    await store.refresh()
                }
            }
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    do { try await Task.sleep(for: interval) } catch { return }
                    guard !Task.isShuttingDownGracefully else { return }
                    await store.refresh()
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}
