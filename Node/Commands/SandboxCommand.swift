import ArgumentParser
import ComputingPlane
import Foundation
import PlaneProtocol

/// `delong sandbox …`: the job sandbox Secure jobs run in.
struct SandboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run a bundle in the job sandbox (no network, read-only data, limits, seccomp).",
        subcommands: [SandboxRunCommand.self, SandboxCheckCommand.self, SandboxSelfTestCommand.self]
    )
}

/// `delong sandbox run BUNDLE --data DIR --out DIR [--memory SIZE] [--pids N] [--cpus N] [--timeout S] [--json]`
struct SandboxRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run BUNDLE (a folder or a bundle tar) in exactly the sandbox Secure jobs use.",
        discussion: """
            The job runs as a host uid of its own (never root), in bubblewrap with every namespace new (no \
            network), no capabilities, a seccomp filter, and cgroup limits; DIR is read-only at /data, the \
            bundle at /job; /out is a tmpfs of 256 MiB and 1,000 files. After the job has ended, each kept output \
            (regular files only) lands at its path under --out, whatever the outcome. The job's stdout and \
            stderr go to stderr, capped at 8 MiB each. With --json, stdout holds one JSON object: outcome, \
            exitCode, reason, runtime, wallSeconds, cpuSeconds, peakMemoryBytes, outputs, rejected.
            SIZE: bytes, or K/M/G = 1000^n, KiB/MiB/GiB = 1024^n.
            Exit 0 the job exited 0; 1 it exited non-zero or was killed; 2 bad input or a refused bundle; \
            5 the sandbox cannot start on this machine.
            """
    )

    @Argument(help: "The bundle: a folder (packed canonically first) or a bundle tar.") var bundle: String
    @Option(help: "Plaintext data folder, read-only at /data.") var data: String
    @Option(help: "Folder for the outputs: created, or must be empty.") var out: String
    @Option(help: "Memory limit (swap off).") var memory: String = "2GiB"
    @Option(help: "Processes and threads.") var pids: Int = 256
    @Option(help: "CPUs (decimals allowed).") var cpus: Double = 1
    @Option(help: "Wall-clock seconds before the job is killed.") var timeout: Int = 3600
    @Flag(help: "Print the result as one JSON object on stdout.") var json = false

    func run() throws {
        let result: SandboxResult
        do {
            let job = try makeJob()
            try prepareOutput()
            let runner = SandboxRunner(stubExecutable: try Self.ownExecutable())
            result = try runner.run(job, outputDirectory: out) { bytes in
                FileHandle.standardError.write(Data(bytes))
            }
        } catch let error as PlaneProtocolError {
            try refuse(error.reason, code: error.code == .io ? ExitCodes.ioError : ExitCodes.malformedInput)
        } catch let error as ComputingPlaneError {
            try refuse(error.reason, code: ExitCodes.code(for: error))
        }
        if json {
            print(Self.json(result))
        } else {
            FileHandle.standardError.write(Data(Self.summary(result).utf8))
        }
        if result.outcome == .exited && result.exitCode == 0 { return }
        throw ExitCode(ExitCodes.verificationFailed)
    }

    private func makeJob() throws -> SandboxJob {
        guard pids >= 1, pids <= 1_000_000 else {
            throw ComputingPlaneError(.badInput, "--pids: expected 1 to 1000000, found \(pids)")
        }
        guard cpus >= 0.01, cpus <= 1024 else {
            throw ComputingPlaneError(.badInput, "--cpus: expected 0.01 to 1024, found \(cpus)")
        }
        guard timeout >= 1 else {
            throw ComputingPlaneError(.badInput, "--timeout: expected at least 1 second, found \(timeout)")
        }
        let memoryBytes = try ByteSize.parse(memory)
        guard memoryBytes >= 16 << 20 else {
            throw ComputingPlaneError(.badInput, "--memory: expected at least 16 MiB, found \(memory)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: bundle, isDirectory: &isDirectory) else {
            throw PlaneProtocolError(.io, "bundle \(bundle): no such file or directory")
        }
        let algorithm =
            isDirectory.boolValue
            ? try AlgorithmBundle.packed(entries: try BundleTree.entries(under: bundle))
            : try AlgorithmBundle.verified(archive: try BundleCommand.readArchive(bundle))
        let runtime = try JobRuntime.select(
            requested: algorithm.manifest.runtime,
            installed: try JobRuntime.installed()
        )
        return SandboxJob(
            bundle: algorithm,
            data: URL(fileURLWithPath: data).standardizedFileURL.path,
            runtime: runtime,
            limits: CgroupLimits(memoryBytes: memoryBytes, pids: pids, cpus: cpus),
            timeout: .seconds(timeout)
        )
    }

    /// --out is created, or must be an empty directory.
    private func prepareOutput() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, (try? FileManager.default.contentsOfDirectory(atPath: out))?.isEmpty == true
            else {
                throw ComputingPlaneError(.badInput, "--out \(out): expected a new or empty directory")
            }
        } else {
            do {
                try FileManager.default.createDirectory(
                    atPath: out,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700]
                )
            } catch {
                throw ComputingPlaneError(.io, "--out \(out): \(error.localizedDescription)")
            }
        }
    }

    private func refuse(_ reason: String, code: Int32) throws -> Never {
        FileHandle.standardError.write(Data("delong: \(reason)\n".utf8))
        if json {
            let object: [String: Any] = ["outcome": "refused", "exitCode": NSNull(), "reason": reason]
            print(Self.serialize(object))
        }
        throw ExitCode(code)
    }

    static func ownExecutable() throws -> String {
        do { return try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") } catch {
            throw ComputingPlaneError(.systemUnsupported, "cannot find the delong executable (/proc/self/exe)")
        }
    }

    static func json(_ r: SandboxResult) -> String {
        var object: [String: Any] = [
            "outcome": r.outcome.rawValue,
            "runtime": r.runtime,
            "wallSeconds": r.wallSeconds,
            "cpuSeconds": r.cpuSeconds,
            "peakMemoryBytes": r.peakMemoryBytes,
            "uid": r.uid,
            "outputs": r.outputs.map { ["path": $0.path, "size": $0.size, "sha256": $0.sha256] as [String: Any] },
            "rejected": r.rejected.map { ["path": $0.path, "reason": $0.reason] },
        ]
        object["exitCode"] = r.exitCode.map { Int($0) } ?? NSNull()
        object["reason"] = r.reason ?? NSNull()
        object["firstStdoutSeconds"] = r.firstStdoutSeconds ?? NSNull()
        return serialize(object)
    }

    static func serialize(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func summary(_ r: SandboxResult) -> String {
        var text = "delong: job \(r.outcome.rawValue)"
        if let code = r.exitCode { text += " with exit code \(code)" }
        if let reason = r.reason { text += " (\(reason))" }
        text += String(
            format: " after %.2f s wall, %.2f s CPU, peak memory %llu bytes",
            r.wallSeconds,
            r.cpuSeconds,
            r.peakMemoryBytes
        )
        text += "; \(r.outputs.count) outputs kept, \(r.rejected.count) rejected\n"
        for rejected in r.rejected { text += "  rejected \(rejected.path): \(rejected.reason)\n" }
        return text
    }
}

/// `delong sandbox check [--json]`
struct SandboxCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Report what the sandbox needs on this machine and how to fix what is missing.",
        discussion: "Exit 0 when everything is in place, 5 when something is missing."
    )

    @Flag(help: "Print the report as JSON.") var json = false

    func run() throws {
        let items = SandboxCheck.run()
        if json {
            let list: [[String: Any]] = items.map {
                ["name": $0.name, "ok": $0.ok, "found": $0.found, "fix": $0.fix ?? NSNull()]
            }
            print(SandboxRunCommand.serialize(["ok": items.allSatisfy(\.ok), "checks": list]))
        } else {
            for item in items {
                print("\(item.ok ? "ok  " : "FAIL") \(item.name): \(item.found)")
                if let fix = item.fix { print("     fix: \(fix)") }
            }
        }
        if !items.allSatisfy(\.ok) { throw ExitCode(ExitCodes.systemError) }
    }
}

/// `delong sandbox-exec SPEC`: the launch stub (internal; the runner starts it). Joins the job's cgroups, sets
/// its rlimits, drops to the job uid and execs bubblewrap with the seccomp filter.
struct SandboxExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox-exec",
        abstract: "Internal: the sandbox's launch stub.",
        shouldDisplay: false
    )

    @Argument(help: "The launch spec (JSON).") var spec: String

    func run() throws {
        let launch: SandboxLaunch
        do { launch = try SandboxLaunch.decode(spec) } catch {
            FileHandle.standardError.write(Data("delong: \(error.reason)\n".utf8))
            throw ExitCode(ExitCodes.malformedInput)
        }
        launch.execute()
    }
}
