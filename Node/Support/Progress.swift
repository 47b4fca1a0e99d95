import Foundation
import Glibc
import Synchronization

/// The one progress renderer of the CLI (node sync, chain verify-rpc, dataset seal/verify/unseal, job submit
/// --wait and job status --watch, bundle publish's upload and receipt): one line on stderr, redrawn in place at most once per
/// `interval` (100 ms), cut to the terminal's width, and ended with a newline so what follows starts clean.
/// Never on stdout. Drawn only when it is on (``CLIProgress/isOn(json:)``): stderr is a terminal and the output
/// is not JSON, or DELONG_PROGRESS=always forces it (tests); DELONG_PROGRESS=never turns it off.
final class CLIProgress: Sendable {
    private struct State {
        var lastDraw: Duration?
        var lastText: String?
        var drawn = false
    }

    let enabled: Bool
    let width: Int
    let interval: Duration
    private let elapsed: @Sendable () -> Duration
    private let write: @Sendable (String) -> Void
    private let state = Mutex(State())

    /// `elapsed` is the time since the work began (a test passes its own clock); `write` gets each frame.
    init(
        enabled: Bool,
        width: Int = CLIProgress.terminalWidth(),
        interval: Duration = .milliseconds(100),
        elapsed: (@Sendable () -> Duration)? = nil,
        write: @escaping @Sendable (String) -> Void = CLIProgress.writeStderr
    ) {
        self.enabled = enabled
        self.width = max(width, 20)
        self.interval = interval
        let start = ContinuousClock.now
        self.elapsed = elapsed ?? { ContinuousClock.now - start }
        self.write = write
    }

    /// On for `json` false when DELONG_PROGRESS is `always`, or unset (or `auto`) and stderr is a terminal.
    static func isOn(json: Bool = false, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard !json else { return false }
        switch environment["DELONG_PROGRESS"] {
        case "always": return true
        case "never": return false
        default: return isatty(STDERR_FILENO) == 1
        }
    }

    /// A renderer that is on when ``isOn(json:environment:)`` says so.
    static func forCommand(json: Bool = false) -> CLIProgress { CLIProgress(enabled: isOn(json: json)) }

    /// Seconds since the work began.
    var seconds: Double { elapsed().seconds }

    /// Draws `text` unless a frame was drawn less than `interval` ago (then `text` is not even made).
    func update(_ text: @autoclosure () -> String) {
        guard enabled else { return }
        let now = elapsed()
        let frame = state.withLock { state -> String? in
            if let last = state.lastDraw, now - last < interval { return nil }
            state.lastDraw = now
            let line = fit(text())
            state.lastText = line
            state.drawn = true
            return line
        }
        if let frame { write("\r\u{1B}[K" + frame) }
    }

    /// A line of its own (a job's phase) above the progress line, which is drawn again below it.
    func note(_ line: String) {
        let redraw = state.withLock { state -> String? in state.drawn ? state.lastText : nil }
        guard enabled, let redraw else {
            write(line + "\n")
            return
        }
        write("\r\u{1B}[K" + line + "\n" + redraw)
    }

    /// Ends the line: draws `last` (the final state, whatever the rate limit skipped) and a newline, or with no
    /// `last` the latest frame stays and the newline follows it. Nothing if nothing was drawn and no `last`.
    func finish(_ last: String? = nil) {
        guard enabled else { return }
        let drawn = state.withLock { state -> Bool in
            defer { state = State() }
            return state.drawn
        }
        if let last {
            write("\r\u{1B}[K" + fit(last) + "\n")
        } else if drawn {
            write("\n")
        }
    }

    /// Runs `body`, one long step with no count of its own (an upload, a transaction's receipt), while
    /// "`label` · elapsed" is redrawn every `interval`.
    func ticking<T: Sendable>(_ label: String, _ body: () async throws -> T) async throws -> T {
        guard enabled else { return try await body() }
        let ticker = Task { [self] in
            while !Task.isCancelled {
                update("\(label) · \(Self.duration(seconds))")
                try? await Task.sleep(for: interval)
            }
        }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        ticker.cancel()
        await ticker.value  // no frame after this returns
        return try result.get()
    }

    /// Clears the line without a newline (an error message follows in its place).
    func clear() {
        guard enabled else { return }
        let drawn = state.withLock { state -> Bool in
            defer { state = State() }
            return state.drawn
        }
        if drawn { write("\r\u{1B}[K") }
    }

    /// `text` cut to one column less than the width (a full line would wrap on some terminals).
    func fit(_ text: String) -> String {
        text.count < width ? text : String(text.prefix(width - 2)) + "…"
    }

    // MARK: Texts

    /// "label [#####-----] 45% 12.0 MB of 26.7 MB · 120.3 MB/s · ETA 1s".
    func transfer(_ label: String, done: UInt64, total: UInt64) -> String {
        let seconds = max(self.seconds, 1e-9)
        let rate = Double(done) / seconds
        return "\(label) \(Self.bar(done: done, total: total)) \(Self.bytes(done)) of \(Self.bytes(total)) · "
            + "\(Self.bytes(UInt64(rate)))/s · ETA \(Self.eta(done: done, total: total, rate: rate))"
    }

    /// "sync [#####-----] block 120 of 500 · 340 blocks/s · ETA 1s · 3 events".
    func blocks(_ label: String, at: UInt64, of target: UInt64, from start: UInt64, extra: String = "") -> String {
        let done = at >= start ? at - start : 0
        let total = target >= start ? target - start : 0
        let rate = Double(done) / max(seconds, 1e-9)
        return "\(label) \(Self.bar(done: done, total: total)) block \(at) of \(target) · "
            + "\(String(format: "%.0f", rate)) blocks/s · ETA \(Self.eta(done: done, total: total, rate: rate))"
            + extra
    }

    /// "[####------] 40%" (20 columns of bar).
    static func bar(done: UInt64, total: UInt64, columns: Int = 20) -> String {
        let fraction = total == 0 ? 1 : min(Double(done) / Double(total), 1)
        let filled = Int((fraction * Double(columns)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: columns - filled) + "] "
            + "\(Int((fraction * 100).rounded(.down)))%"
    }

    /// Bytes in decimal units: 999 B, 12.3 kB, 4.5 MB, 1.2 GB.
    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(n)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// Seconds as 42s, 3m05s, 2h07m.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.down))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }

    static func eta(done: UInt64, total: UInt64, rate: Double) -> String {
        guard done < total else { return "0s" }
        guard rate > 0 else { return "?" }
        return duration(Double(total - done) / rate)
    }

    /// The terminal's columns (TIOCGWINSZ on stderr), else COLUMNS, else 80.
    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init) ?? 80
    }

    /// Writes to fd 2 directly (the C `stderr` global is not concurrency-safe in Swift 6).
    @Sendable static func writeStderr(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = Glibc.write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }
}
