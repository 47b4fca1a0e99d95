import Foundation
import Glibc
import TestSupport
import Testing

/// docs/guides: every ```sh block of the four guides runs, in story order, as one bash script against the local
/// devnet with the built `delong` (contrib/scripts/run-guides.sh), and the story ends where the guides say.
@Suite struct GuidesTests {
    /// The guides in story order (the runner interleaves their parts; see its PARTS).
    static let guides = ["operator", "provider", "consumer", "auditor"]

    static func markdown(_ guide: String) throws -> String {
        try String(
            contentsOf: TestData.packageRoot.appendingPathComponent("docs/guides/\(guide).md"),
            encoding: .utf8
        )
    }

    /// How many ```sh blocks `text` holds, counted here rather than by the runner: a fence opens on a line
    /// starting with three backticks and closes on the next such line; only an opening line that is exactly
    /// "```sh" counts.
    static func shellBlocks(_ text: String) -> Int {
        var open = false
        var count = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where line.hasPrefix("```") {
            if !open && line == "```sh" { count += 1 }
            open.toggle()
        }
        return count
    }

    /// Runs contrib/scripts/run-guides.sh `arguments`, its stdout and stderr in one file; returns the exit status
    /// (nil: still running after `seconds`, then its process group was sent SIGTERM, and SIGKILL 15 s later)
    /// and the output.
    static func runGuides(_ arguments: [String], seconds: Double) throws -> (status: Int32?, output: String) {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("guides.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = TestData.packageRoot.appendingPathComponent("contrib/scripts/run-guides.sh")
        process.arguments = arguments
        process.currentDirectoryURL = TestData.packageRoot
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["DELONG": try DelongProcess.executable.path]
        ) { $1 }
        process.standardInput = FileHandle.nullDevice
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        var status: Int32? = nil
        if process.isRunning {
            // Process starts the runner as a process-group leader; the group holds the planes it started too.
            kill(-process.processIdentifier, SIGTERM)
            let grace = Date().addingTimeInterval(15)
            while process.isRunning && Date() < grace { Thread.sleep(forTimeInterval: 0.1) }
            kill(-process.processIdentifier, SIGKILL)
        } else {
            status = process.terminationStatus
        }
        try handle.close()
        return (status, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// The `== guide FILE block N` markers the script printed, in order.
    static func markers(_ output: String) -> [(guide: String, block: Int)] {
        output.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("== guide ") else { return nil }
            let words = line.split(separator: " ")
            guard words.count >= 5, words[3] == "block", let n = Int(words[4]) else { return nil }
            return (String(words[2]), n)
        }
    }

    @Test func theRunnersScriptHoldsEveryShellBlockOnceAndNoOtherFence() throws {
        let (status, script) = try Self.runGuides(["--print"], seconds: 60)
        #expect(status == 0, "\(script)")
        for guide in Self.guides {
            let count = Self.shellBlocks(try Self.markdown(guide))
            #expect(count > 0, "docs/guides/\(guide).md has no ```sh block")
            let blocks = script.split(separator: "\n").filter { $0.hasPrefix("echo \"== guide \(guide).md block ") }
            #expect(blocks.count == count, "\(guide).md: \(count) ```sh blocks, the script runs \(blocks.count)")
        }
        // ```text blocks are shown, not run.
        #expect(!script.contains("systemctl"))
        #expect(!script.contains("/usr/local/bin/delong"))
        #expect(script.hasPrefix("#!/usr/bin/env bash\n"))
        #expect(script.contains("\nset -euo pipefail\n"))
    }

    @Test func everyShellBlockOfTheGuidesRunsInStoryOrderAndTheJobAuditsClean() throws {
        try #require(
            geteuid() == 0,
            "the guides start `delong compute serve`, whose sandbox needs root (CI runs as root)"
        )
        let expected = try Self.guides.map { ($0, Self.shellBlocks(try Self.markdown($0))) }
        let total = expected.map(\.1).reduce(0, +)
        let started = Date()
        let (status, output) = try Self.runGuides([], seconds: 600)
        let seconds = Date().timeIntervalSince(started)
        let tail = output.split(separator: "\n", omittingEmptySubsequences: false).suffix(60).joined(separator: "\n")
        #expect(status == 0, "run-guides.sh exited \(status.map(String.init) ?? "(killed after 600 s)"):\n\(tail)")

        // Every ```sh block ran, each guide's blocks in their own order, and the whole script reached its end.
        let ran = Self.markers(output)
        #expect(ran.count == total, "expected \(total) blocks to run, \(ran.count) did:\n\(tail)")
        for (guide, count) in expected {
            #expect(ran.filter { $0.guide == "\(guide).md" }.map(\.block) == (0..<count).map { $0 + 1 }, "\(guide).md")
        }
        // The story order: the operator's blocks first, the auditor's last; the provider's review after the
        // consumer's submission.
        #expect(ran.first?.guide == "operator.md" && ran.last?.guide == "auditor.md")
        let guideOrder = ran.map(\.guide).reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } }
        #expect(
            guideOrder == ["operator.md", "provider.md", "consumer.md", "provider.md", "consumer.md", "auditor.md"]
        )
        #expect(output.contains("GUIDES OK: \(total) of \(total) sh blocks ran"))
        #expect(output.contains("left behind: nothing"), "\(tail)")

        // Where the story ends: `serve --config` served all three, a sample published, an Explore sign-in, a reviewed job released, its output
        // opened by `age`, the audit passing every check and failing a changed ciphertext.
        #expect(output.contains("SERVING compute https://"))
        #expect(output.contains("sample sample:sha256:"))
        #expect(output.contains("sign-in answer: 302"))
        #expect(output.contains("2 of 2 approvals, approved"))
        #expect(output.contains("outcome        released"))
        #expect(output.contains("out/by-ward.csv"))
        #expect(output.contains("ICU,3,"))
        #expect(output.contains("verdict: every check passed"))
        #expect(output.contains("[failed] output:"))
        #expect(output.contains("verdict: FAILED (output)"))
        print("the guides' \(total) blocks ran in \(Int(seconds)) s")
    }
}
