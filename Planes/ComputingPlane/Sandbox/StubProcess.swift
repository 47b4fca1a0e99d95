import CLinux
import Foundation
import Glibc

/// Starts the launch stub with posix_spawn, forwards the job's stdout and stderr (capped), and waits for the
/// job under its deadline: the one place the sandbox spawns and reaps processes.
enum StubProcess {
    static func run(
        executable: String,
        launch: SandboxLaunch,
        timeout: Duration,
        logBytes: Int,
        log: @escaping @Sendable ([UInt8]) -> Void,
        control: SandboxControl? = nil,
        afterExit: () -> Void
    ) throws(ComputingPlaneError) -> SandboxResult {
        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        var errorPipe: [Int32] = [-1, -1]
        var statusPipe: [Int32] = [-1, -1]
        guard pipe2(&stdoutPipe, O_CLOEXEC) == 0, pipe2(&stderrPipe, O_CLOEXEC) == 0,
            pipe2(&errorPipe, O_CLOEXEC) == 0, pipe2(&statusPipe, O_CLOEXEC) == 0
        else { throw ComputingPlaneError(.sandboxFailure, "pipe: \(ComputingPlaneError.text(errno))") }
        let parentEnds = [stdoutPipe[0], stderrPipe[0], errorPipe[0], statusPipe[0]]
        let childEnds = [stdoutPipe[1], stderrPipe[1], errorPipe[1], statusPipe[1]]

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], SandboxLaunch.errorFD)
        posix_spawn_file_actions_adddup2(&actions, statusPipe[1], SandboxLaunch.statusFD)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The job's signals start at their defaults, whatever the runner blocked (Foundation blocks some).
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = [executable, "sandbox-exec", launch.encoded()]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { for p in cArgs + cEnv { free(p) } }
        let clock = ContinuousClock()
        let start = clock.now
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &cArgs, &cEnv)
        for fd in childEnds { close(fd) }
        guard spawned == 0 else {
            for fd in parentEnds { close(fd) }
            throw ComputingPlaneError(
                .systemUnsupported,
                "cannot start \(executable): \(ComputingPlaneError.text(spawned))"
            )
        }

        let firstStdout = FirstByte()
        let readers = DispatchGroup()
        let capped: @Sendable (Int32, Bool) -> Void = { fd, isStdout in
            var kept = 0
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                if isStdout { firstStdout.mark(clock.now - start) }
                if kept < logBytes {
                    let take = min(n, logBytes - kept)
                    log(Array(buffer[0..<take]))
                    kept += take
                    if kept == logBytes { log(Array("\n[delong: output truncated at \(logBytes) bytes]\n".utf8)) }
                }
            }
            close(fd)
        }
        for (fd, isStdout) in [(stdoutPipe[0], true), (stderrPipe[0], false)] {
            readers.enter()
            DispatchQueue.global().async {
                capped(fd, isStdout)
                readers.leave()
            }
        }

        // The stub's error pipe closes on exec: EOF with no bytes means bubblewrap is running.
        let stubError = readAll(errorPipe[0], limit: 4096)
        var status: Int32 = 0
        var killedForTime = false
        var killedByControl = false
        let deadline = start + timeout
        var pause: UInt32 = 500
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            if clock.now >= deadline && !killedForTime {
                killedForTime = true
                kill(pid, SIGKILL)  // bwrap dies; --die-with-parent takes the job; the runner empties the cgroup
            }
            if !killedByControl, control?.killReason != nil {
                killedByControl = true
                kill(pid, SIGKILL)
            }
            usleep(pause)
            pause = min(pause * 2, 10_000)
        }
        let wall = clock.now - start
        // Whatever the job left running goes now; only then do its pipes reach EOF.
        afterExit()
        let bwrapStatus = String(decoding: readAll(statusPipe[0], limit: 65536), as: UTF8.self)
        readers.wait()

        if !stubError.isEmpty {
            throw ComputingPlaneError(
                .systemUnsupported,
                "the sandbox could not start: \(String(decoding: stubError, as: UTF8.self))"
            )
        }
        guard killedForTime || killedByControl || bwrapStatus.contains("\"child-pid\"") else {
            throw ComputingPlaneError(
                .systemUnsupported,
                "bubblewrap could not start the job (exit \(exitCode(status))); see its message above"
            )
        }
        var result = SandboxResult(
            outcome: .exited,
            exitCode: nil,
            reason: nil,
            wallSeconds: wall.seconds,
            cpuSeconds: 0,
            peakMemoryBytes: 0,
            uid: launch.uid,
            firstStdoutSeconds: firstStdout.seconds
        )
        if killedForTime {
            result.outcome = .killed
            result.reason = "timeout"
        } else if let code = jobExitCode(bwrapStatus) {
            result.exitCode = code
        } else {
            result.exitCode = exitCode(status)
        }
        return result
    }

    /// bwrap's `{"exit-code": N}` line.
    static func jobExitCode(_ status: String) -> Int32? {
        for line in status.split(separator: "\n") {
            guard let data = line.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let code = object["exit-code"] as? Int
            else { continue }
            return Int32(code)
        }
        return nil
    }

    static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    static func readAll(_ fd: Int32, limit: Int) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        close(fd)
        return out
    }
}

/// When the first byte of the job's stdout arrived.
private final class FirstByte: @unchecked Sendable {
    private let lock = NSLock()
    private var at: Duration?
    func mark(_ d: Duration) { lock.withLock { if at == nil { at = d } } }
    var seconds: Double? {
        lock.withLock { at.map(\.seconds) }
    }
}
