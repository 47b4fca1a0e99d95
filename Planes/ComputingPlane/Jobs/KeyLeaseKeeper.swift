import DecryptFS
import Foundation
import Logging
import PlaneCrypto
import PlaneProtocol

/// Keeps a dataset key lease alive while the job runs: renews it every `renewEvery` seconds, signed by the
/// agent's key. A refused renewal, or no successful renewal before the lease ends (the Privacy Plane
/// unreachable), calls `onLoss` once: the caller drops the key and kills the job.
struct LeaseKeeper: Sendable {
    let lease: KeyLease
    let client: PrivacyPlaneClient
    let identity: AgentIdentity
    let logger: Logger
    let onLoss: @Sendable (String) -> Void

    func keep() async {
        var expiresAt = lease.expiresAt
        let every = Duration.seconds(Int64(max(1, lease.renewEvery)))
        var wait = every
        while !Task.isCancelled {
            // Wake in time for the lease's end even when the renewals keep failing.
            let now = Date().timeIntervalSince1970
            let untilEnd = Double(expiresAt) - now
            guard untilEnd > 0 else {
                onLoss("the lease ended at \(expiresAt) without a successful renewal")
                return
            }
            let pause = min(wait, .milliseconds(Int64(untilEnd * 1000)))
            do { try await Task.sleep(for: pause) } catch { return }
            if Double(expiresAt) <= Date().timeIntervalSince1970 {
                onLoss("the lease ended at \(expiresAt) without a successful renewal")
                return
            }
            do {
                let renewed = try await identity.withSigningKeyAsync { key in
                    try await client.renew(lease: lease.id, signerKey: key, at: UInt64(Date().timeIntervalSince1970))
                }
                expiresAt = renewed.expiresAt
                wait = every
            } catch let error as PlaneProtocolError where error.code == .leaseRevoked || error.code == .leaseExpired {
                onLoss("the Privacy Plane refused the renewal: \(error.reason)")
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("lease renewal failed; retrying", metadata: ["error": "\(error)"])
                wait = .seconds(1)
            }
        }
    }
}

extension AgentIdentity {
    /// ``withSigningKey(_:)`` for async work.
    func withSigningKeyAsync<T: Sendable>(_ body: ([UInt8]) async throws -> T) async throws -> T {
        var key = withSigningKey { $0 }
        defer { SecretBytes.wipe(&key) }
        return try await body(key)
    }
}

/// One Decrypt FUSE mount served on its own thread for the length of a job.
final class FuseHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var mount: DecryptFSMount?
    private var done: DispatchSemaphore?
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Serves `mount` on a new thread; returns once the kernel shows it mounted (at most 10 s).
    func start(_ mount: DecryptFSMount) throws {
        let finished = DispatchSemaphore(value: 0)
        lock.withLock {
            self.mount = mount
            self.done = finished
        }
        let logger = self.logger
        Thread.detachNewThread {
            do { try mount.run() } catch { logger.error("the Decrypt FUSE stopped", metadata: ["error": "\(error)"]) }
            finished.signal()
        }
        let deadline = Date().addingTimeInterval(10)
        while !MountTable.isMounted(mount.mountpoint) {
            guard Date() < deadline else {
                mount.unmount()
                throw AgentStop.failed("the Decrypt FUSE did not mount within 10 s")
            }
            usleep(5_000)
        }
    }

    /// From now on the mount serves no plaintext (EIO) and holds no key.
    func revoke() { lock.withLock { mount }?.revoke() }

    /// Unmounts and waits for the serving thread (the key goes with it).
    func stop() {
        let (mount, done) = lock.withLock { (self.mount, self.done) }
        guard let mount, let done else { return }
        mount.revoke()
        mount.unmount()
        _ = done.wait(timeout: .now() + 10)
        lock.withLock {
            self.mount = nil
            self.done = nil
        }
    }
}
