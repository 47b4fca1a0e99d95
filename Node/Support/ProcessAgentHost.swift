import ChainCore
import ComputingPlane
import Foundation
import Logging
import Synchronization

/// Starts each job's agent as a child process, `delong agent --job ID --plane URL OPTIONS`, with its own state
/// directory `<root>/<job hex>` (its light client's index, its results and work) and the agent secret on its
/// standard input, never on its command line or in its environment. Stopping sends SIGTERM (the agent kills its sandbox), then SIGKILL
/// after `grace`, and sweeps what the agent left (mount, sandbox stage, cgroup) before removing its directory.
/// The same agent runs in a Confidential VM; this host is the one-machine form of it.
final class ProcessAgentHost: AgentHost {
    let executable: String
    /// The agent's options besides the job, the plane and the state directory (from --agent-options).
    let options: [String]
    let root: String
    let grace: Duration
    let logger: Logger
    private let running = Mutex<[Hash32: Process]>([:])

    init(executable: String, options: [String], root: String, grace: Duration = .seconds(10), logger: Logger) {
        self.executable = executable
        self.options = options
        self.root = root
        self.grace = grace
        self.logger = logger
    }

    func directory(_ job: Hash32) -> String { root + "/" + Hex.encode(job.bytes, prefix: false) }

    func start(_ launch: AgentLaunch) async throws {
        if running.withLock({ $0[launch.job] != nil }) { return }
        let state = directory(launch.job)
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments =
            [
                "agent", "--job", launch.job.hex, "--plane", launch.plane, "--state-dir", state, "--data-dir",
                state + "/index",
            ]
            + options
        let input = Pipe()
        process.standardInput = input
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: Data((launch.secret + "\n").utf8))
        try input.fileHandleForWriting.close()
        running.withLock { $0[launch.job] = process }
        logger.info("agent started", metadata: ["job": "\(launch.job.hex)", "pid": "\(process.processIdentifier)"])
    }

    func stop(_ job: Hash32) async {
        guard let process = running.withLock({ $0.removeValue(forKey: job) }) else { return }
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = ContinuousClock.now + grace
            while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        }
        let state = directory(job)
        if let sandbox = try? ComputeServeCommand.sandbox(stateDir: state) {
            let swept = JobSweeper.sweep(
                work: ComputeServeCommand.defaultWorkDirectory(stateDir: state),
                sandbox: sandbox
            )
            if !swept.isEmpty { logger.warning("an agent left these behind", metadata: ["swept": "\(swept)"]) }
        }
        try? FileManager.default.removeItem(atPath: state)
        logger.info("agent stopped", metadata: ["job": "\(job.hex)", "status": "\(process.terminationStatus)"])
    }
}
