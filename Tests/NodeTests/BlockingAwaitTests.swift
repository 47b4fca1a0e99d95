import Foundation
import TestSupport
import Testing

/// `blockingAwait` (what ComputeWorld's synchronous polling uses) must finish even when every thread of the
/// cooperative pool is blocked in it: CI has 2 cores, so 2 such waits at once used to stop the test process.
@Suite struct BlockingAwaitTests {
    @Test func finishesWhileEveryCooperativeThreadIsBlockedInIt() async throws {
        let callers = 8
        // Hold the callers until as many as the pool has threads (its width is the core count) are blocked at
        // once, so that their bodies can have no cooperative thread. At most 1 s: a wider pool, or one the
        // suites running beside this one keep busy, is held up no longer.
        let barrier = Barrier(count: min(callers, ProcessInfo.processInfo.activeProcessorCount))
        // Each call gives up (throws) after 20 s. Not the whole group's time: that counts the waits for a pool
        // thread, which the suites running beside this one decide.
        let timeout = Duration.seconds(20)
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<callers {
                group.addTask {
                    barrier.arriveAndWait(seconds: 1)
                    return try blockingAwait(timeout: timeout) {
                        // A structured child task, and a resumption from a thread outside the pool.
                        async let doubled = Self.afterAWhile(i * 2)
                        return await doubled / 2
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values.sorted() == Array(0..<callers), "expected every caller's value back, found \(values)")
    }

    @Test func rethrowsTheBodysError() {
        struct Refused: Error {}
        #expect(throws: Refused.self) { try blockingAwait { () async throws -> Int in throw Refused() } }
    }

    /// `value`, 50 ms later, resumed from a thread of its own (not the cooperative pool, nor Dispatch's).
    static func afterAWhile(_ value: Int) async -> Int {
        await withCheckedContinuation { continuation in
            Thread {
                Thread.sleep(forTimeInterval: 0.05)
                continuation.resume(returning: value)
            }
            .start()
        }
    }
}

/// Blocks each caller until `count` have arrived (or `seconds` pass).
private final class Barrier: @unchecked Sendable {
    private let condition = NSCondition()
    private let count: Int
    private var arrived = 0

    init(count: Int) { self.count = count }

    func arriveAndWait(seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        arrived += 1
        condition.broadcast()
        while arrived < count && condition.wait(until: deadline) {}
    }
}
