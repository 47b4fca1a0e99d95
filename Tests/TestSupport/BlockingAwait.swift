import Foundation
import Synchronization

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

/// Runs `body` with a thread of its own as its task's executor preference, and its child tasks with it: an
/// async test whose body blocks (synchronous CLI runs and polling loops) or that serves in-process fakes is
/// neither held up by the other suites on the cooperative pool nor holds one of its threads.
public func onOwnThread<T: Sendable>(
    _ name: String = "test",
    _ body: () async throws -> T
) async throws -> T {
    let executor = ThreadTaskExecutor(name: name)
    defer { executor.finish() }
    return try await withTaskExecutorPreference(executor) { try await body() }
}

/// Sleeps for `duration` without the cooperative pool, or until the task is cancelled. `Task.sleep` wakes a
/// task through that pool even when the task runs on an executor of its own, so a pool the other suites hold
/// delays every wake-up; this one is woken by a dispatch timer on a queue of its own.
public func sleepOffPool(for duration: Duration) async {
    let slot = SleepSlot()
    await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
            slot.set(continuation)
            let (seconds, attoseconds) = duration.components
            let nanoseconds = max(0, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
            sleepTimers.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { slot.wake() }
        }
    } onCancel: {
        slot.wake()
    }
}

private let sleepTimers = DispatchQueue(label: "delong-test-sleep-timers")

/// Polls `condition` every `interval` (sleeping off the pool) until it holds or `seconds` pass; a last check
/// after the deadline, so a late wake-up on a loaded machine still sees the state it waited for.
public func eventually(
    within seconds: Double,
    every interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        await sleepOffPool(for: interval)
    }
    return try await condition()
}

/// One sleeper's continuation, resumed once: by its timer or by cancellation, whichever comes first.
private final class SleepSlot: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Void, Never>?, woken: Bool)>((nil, false))

    func set(_ continuation: CheckedContinuation<Void, Never>) {
        let resumeNow = state.withLock { state -> Bool in
            if state.woken { return true }
            state.continuation = continuation
            return false
        }
        if resumeNow { continuation.resume() }
    }

    func wake() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.woken = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }
}

/// A `TaskExecutor` that runs its jobs, in order, on one dedicated thread outside the cooperative pool.
///
/// `finish()` lets the thread end once it has no job left; a job enqueued after that (a cancelled body's task
/// that wakes late) starts a fresh thread, so it is never lost and jobs still run one at a time. One thread runs
/// the jobs in order, so the executor is also serial: an actor can make it its own (`unownedExecutor`).
public final class ThreadTaskExecutor: TaskExecutor, SerialExecutor, @unchecked Sendable {
    // Guards jobs, finishing and running; the thread waits on it for work.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finishing = false
    private var running = true
    private let name: String

    public init(name: String) {
        self.name = name
        startThread()
    }

    private func startThread() {
        let thread = Thread { [self] in runJobs() }
        thread.name = name
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        if running {
            condition.signal()
        } else {
            running = true
            startThread()
        }
        condition.unlock()
    }

    /// Lets the thread end once its queue is empty.
    public func finish() {
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
                running = false
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            run(job)
        }
    }

    /// One thread runs the jobs in order, so the executor is also serial: an actor can make it its own.
    private func run(_ job: UnownedJob) {
        job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
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
