import Foundation

/// `blockingAwait` gave up: `body` had not finished within `timeout`.
public struct BlockingAwaitTimeout: Error, CustomStringConvertible {
    public let timeout: Duration
    public var description: String { "blockingAwait: the body did not finish within \(timeout)" }
}

/// Runs `body` and blocks the calling thread until it finishes (or `timeout` passes): for synchronous test
/// helpers (the CLI-style polling loops) that need an async call.
///
/// The body runs on a thread of its own (a `ThreadTaskExecutor` is its task's executor preference), never on
/// Swift's cooperative pool. The pool is as wide as the machine has cores (2 on CI), and a synchronous helper
/// called from an async test blocks one of its threads: with the usual `Task { … }` plus a semaphore, two such
/// helpers waiting at once hold both threads while their tasks wait for a thread, and the whole test process
/// stops. Whatever the body awaits (an HTTP client resuming it from its event loop, a child task) comes back
/// to its own thread; each call has a thread of its own, so one body's blocking work delays no other. A limit:
/// an unstructured `Task { … }` the body starts does not inherit the preference and still needs the pool.
///
/// Errors the body throws are rethrown; on timeout the body's task is cancelled and `BlockingAwaitTimeout`
/// thrown, so no caller waits forever.
public func blockingAwait<T: Sendable>(
    timeout: Duration = .seconds(300),
    _ body: @escaping @Sendable () async throws -> T
) throws -> T {
    let executor = ThreadTaskExecutor(name: "blockingAwait")
    defer { executor.finish() }
    let outcome = OutcomeSlot<T>()
    let done = DispatchSemaphore(value: 0)
    let task = Task(executorPreference: executor) {
        do {
            outcome.set(.success(try await body()))
        } catch {
            outcome.set(.failure(error))
        }
        done.signal()
    }
    let (seconds, attoseconds) = timeout.components
    let deadline = DispatchTime.now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
    guard done.wait(timeout: deadline) == .success, let result = outcome.get() else {
        task.cancel()
        throw BlockingAwaitTimeout(timeout: timeout)
    }
    return try result.get()
}

/// A `TaskExecutor` that runs its jobs, in order, on one dedicated thread outside the cooperative pool.
///
/// `finish()` lets the thread end once it has no job left; a job enqueued after that (a cancelled body's task
/// that wakes late) runs on a fresh thread of its own, so it is never lost.
final class ThreadTaskExecutor: TaskExecutor, @unchecked Sendable {
    // Guards jobs, finishing and exited; the thread waits on it for work.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finishing = false
    private var exited = false

    init(name: String) {
        let thread = Thread { [self] in runJobs() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        if exited {
            condition.unlock()
            Thread { [self] in job.runSynchronously(on: asUnownedTaskExecutor()) }.start()
            return
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets the thread end once its queue is empty.
    func finish() {
        condition.lock()
        finishing = true
        condition.signal()
        condition.unlock()
    }

    private func runJobs() {
        while true {
            condition.lock()
            while jobs.isEmpty && !finishing { condition.wait() }
            if jobs.isEmpty {
                exited = true
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// The body's result, handed from its thread to the waiting one.
private final class OutcomeSlot<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, any Error>?

    func set(_ result: Result<T, any Error>) {
        lock.lock()
        defer { lock.unlock() }
        self.result = result
    }

    func get() -> Result<T, any Error>? {
        lock.lock()
        defer { lock.unlock() }
        return result
    }
}
