import Foundation
import Glibc
import Synchronization
import Testing

@testable import delong

/// The CLI's one progress renderer: frames on stderr only, at most ten a second, cut to the width, ended
/// cleanly; on only for a terminal (or DELONG_PROGRESS=always) and never with --json.
@Suite struct ProgressRendererTests {
    /// A renderer on a clock the test moves, recording every frame it writes.
    final class Recorder: Sendable {
        let now = Mutex<Duration>(.zero)
        let frames = Mutex<[String]>([])
        var written: [String] { frames.withLock { $0 } }

        func progress(enabled: Bool = true, width: Int = 40) -> CLIProgress {
            CLIProgress(
                enabled: enabled,
                width: width,
                interval: .milliseconds(100),
                elapsed: { self.now.withLock { $0 } },
                write: { text in self.frames.withLock { $0.append(text) } }
            )
        }
    }

    static let clearLine = "\r\u{1B}[K"

    @Test func drawsAtMostTenFramesASecondAndEndsWithTheFinalLine() {
        let r = Recorder()
        let p = r.progress()
        var made = 0
        for step in 0..<100 {  // one update every 10 ms for a second
            r.now.withLock { $0 = .milliseconds(step * 10) }
            p.update(
                {
                    made += 1
                    return "step \(step)"
                }()
            )
        }
        #expect(r.written.count == 10, "\(r.written)")
        #expect(made == 10, "a skipped frame's text is not even made")
        #expect(r.written.first == Self.clearLine + "step 0")
        #expect(r.written.allSatisfy { $0.hasPrefix(Self.clearLine) && !$0.contains("\n") })
        p.finish("done: 100 steps")
        #expect(r.written.last == Self.clearLine + "done: 100 steps\n")
        // After finish the next frame starts afresh.
        r.now.withLock { $0 = .milliseconds(1001) }
        p.update("again")
        #expect(r.written.last == Self.clearLine + "again")
    }

    @Test func aLineLongerThanTheTerminalIsCut() {
        let r = Recorder()
        let p = r.progress(width: 40)
        p.update(String(repeating: "x", count: 100))
        let frame = String(r.written[0].dropFirst(Self.clearLine.count))
        #expect(frame.count == 39 && frame.hasSuffix("…"), "\(frame.count): \(frame)")
        p.update("short")  // within 100 ms: not drawn
        #expect(r.written.count == 1)
    }

    @Test func finishWithoutAFinalLineEndsTheLastFrameAndClearErasesIt() {
        let r = Recorder()
        let p = r.progress()
        p.finish()
        #expect(r.written.isEmpty, "nothing drawn, nothing to end")
        p.update("half")
        p.finish()
        #expect(r.written == [Self.clearLine + "half", "\n"])
        r.now.withLock { $0 = .seconds(5) }
        p.update("again")
        p.clear()
        #expect(r.written.last == Self.clearLine)
    }

    @Test func aNoteGoesAboveTheLineWhichIsDrawnAgain() {
        let r = Recorder()
        let p = r.progress()
        p.note("  first phase")
        #expect(r.written == ["  first phase\n"])
        p.update("job running · 3s")
        p.note("  second phase")
        #expect(r.written.last == Self.clearLine + "  second phase\n" + "job running · 3s")
    }

    @Test func aLongStepTicksUntilItReturnsAndNotAfter() async throws {
        let r = Recorder()
        let p = r.progress()
        let answer = try await p.ticking("uploading") {
            try await Task.sleep(for: .milliseconds(50))
            return 42
        }
        #expect(answer == 42)
        let frames = r.written
        #expect(frames.first == Self.clearLine + "uploading · 0s", "\(frames)")
        try await Task.sleep(for: .milliseconds(300))
        #expect(r.written == frames, "no frame after the step returned")
        await #expect(throws: CancellationError.self) {
            try await p.ticking("failing") { throw CancellationError() }
        }
    }

    @Test func offItWritesNothing() {
        let r = Recorder()
        let p = r.progress(enabled: false)
        p.update("x")
        p.finish("y")
        p.clear()
        #expect(r.written.isEmpty)
    }

    @Test func onlyForATerminalOrWhenForcedAndNeverForJSON() {
        #expect(CLIProgress.isOn(environment: ["DELONG_PROGRESS": "always"]))
        #expect(!CLIProgress.isOn(json: true, environment: ["DELONG_PROGRESS": "always"]))
        #expect(!CLIProgress.isOn(environment: ["DELONG_PROGRESS": "never"]))
        #expect(CLIProgress.isOn(environment: [:]) == (isatty(STDERR_FILENO) == 1))
    }

    @Test func textsForBytesBlocksAndTime() {
        #expect(CLIProgress.bar(done: 0, total: 10, columns: 10) == "[----------] 0%")
        #expect(CLIProgress.bar(done: 45, total: 100, columns: 10) == "[####------] 45%")
        #expect(CLIProgress.bar(done: 5, total: 0, columns: 4) == "[####] 100%")
        #expect(CLIProgress.bytes(999) == "999 B")
        #expect(CLIProgress.bytes(12_345_678) == "12.3 MB")
        #expect(CLIProgress.duration(42.9) == "42s")
        #expect(CLIProgress.duration(185) == "3m05s")
        #expect(CLIProgress.duration(7620) == "2h07m")
        let r = Recorder()
        let p = r.progress(width: 200)
        r.now.withLock { $0 = .seconds(2) }
        #expect(
            p.transfer("sealing", done: 20_000_000, total: 60_000_000)
                == "sealing [######--------------] 33% 20.0 MB of 60.0 MB · 10.0 MB/s · ETA 4s"
        )
        #expect(
            p.blocks("sync", at: 300, of: 500, from: 100)
                == "sync [##########----------] 50% block 300 of 500 · 100 blocks/s · ETA 2s"
        )
    }
}
