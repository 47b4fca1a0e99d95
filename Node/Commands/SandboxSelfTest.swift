import ArgumentParser
import ComputingPlane
import Foundation

/// `delong sandbox selftest [--probe NAME]... [--json]`: the escape suite, run on this machine.
struct SandboxSelfTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Run the sandbox escape suite on this machine.",
        discussion: """
            Each probe is a job that tries to get out of the sandbox Secure jobs use: the network, host files, \
            processes and uids, capabilities, every denied system call, i386 calls, daemonized children, \
            linked outputs, and every limit. Probes reach only this machine's own addresses. \
            Probes: \(EscapeProbe.all.map(\.name).joined(separator: ", ")).
            Exit 0 every probe passed; 1 a probe failed (the sandbox is not safe here); 2 an unknown probe; \
            5 the sandbox cannot start on this machine.
            """
    )

    @Option(name: .customLong("probe"), help: "Run only this probe (repeatable).") var probes: [String] = []
    @Flag(help: "Print the report as one JSON object on stdout.") var json = false

    func run() throws {
        let known = Set(EscapeProbe.all.map(\.name))
        if let unknown = probes.first(where: { !known.contains($0) }) {
            FileHandle.standardError.write(
                Data("delong: --probe: expected one of \(EscapeProbe.all.map(\.name)), found \(unknown)\n".utf8)
            )
            throw ExitCode(ExitCodes.malformedInput)
        }
        let chosen = probes.isEmpty ? EscapeProbe.all : EscapeProbe.all.filter { probes.contains($0.name) }
        var verdicts: [ProbeVerdict] = []
        do {
            let suite = EscapeSuite(
                runner: SandboxRunner(stubExecutable: try SandboxRunCommand.ownExecutable()),
                runtime: try JobRuntime.installed()
            )
            if !json { print("runtime: \(suite.runtime.label)") }
            let bait = try HostBait()
            for probe in chosen {
                let verdict = try suite.run(probe, bait: bait)
                verdicts.append(verdict)
                if !json { Self.printLine(verdict) }
            }
        } catch let error as ComputingPlaneError {
            FileHandle.standardError.write(Data("delong: the sandbox cannot run here: \(error.reason)\n".utf8))
            if json { print(SandboxRunCommand.serialize(["ok": false, "error": error.reason, "probes": []])) }
            throw ExitCode(ExitCodes.systemError)
        }
        let passed = verdicts.allSatisfy(\.passed)
        if json {
            let list: [[String: Any]] = verdicts.map {
                ["name": $0.name, "claim": $0.claim, "ok": $0.passed, "failures": $0.failures, "seconds": $0.seconds]
            }
            print(SandboxRunCommand.serialize(["ok": passed, "probes": list]))
        } else {
            let failed = verdicts.filter { !$0.passed }.count
            print(passed ? "all \(verdicts.count) probes passed" : "\(failed) of \(verdicts.count) probes FAILED")
        }
        if !passed { throw ExitCode(ExitCodes.verificationFailed) }
    }

    private static func printLine(_ v: ProbeVerdict) {
        print(String(format: "%@ %@ (%.1f s): %@", v.passed ? "ok  " : "FAIL", v.name, v.seconds, v.claim))
        for failure in v.failures { print("     \(failure)") }
    }
}
