import ComputingPlane
import Foundation
import Glibc
import TestSupport
import Testing

/// `delong runtime build|digest` as an operator runs them, on the standard runtime at /opt/delong/runtime.
@Suite(.serialized) struct RuntimeCommandTests {
    static let lock = TestData.packageRoot.appendingPathComponent("contrib/runtime/requirements.lock").path

    /// Builds the standard runtime (cached: a no-op when it was built from this lock) and returns its digest.
    static func ensureRuntime() throws -> String {
        let r = try DelongProcess.run(["runtime", "build", "--lock", lock, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json, "stdout: \(r.stdout)\nstderr: \(r.stderr)")
        return try #require(json["runtime"] as? String)
    }

    @Test func buildIsCachedAndTheRecordedDigestIsTheRecomputedOne() throws {
        let digest = try Self.ensureRuntime()
        #expect(digest.count == 71 && digest.hasPrefix("sha256:"))
        let again = try DelongProcess.run(["runtime", "build", "--lock", Self.lock, "--json"])
        #expect(again.status == 0)
        #expect(again.json?["built"] as? Bool == false)
        #expect(again.json?["runtime"] as? String == digest)

        let recomputed = try DelongProcess.run(["runtime", "digest"])
        #expect(recomputed.status == 0, "\(recomputed.stderr)")
        #expect(recomputed.stdout == digest + "\n")
        let json = try DelongProcess.run(["runtime", "digest", "/opt/delong/runtime", "--json"])
        #expect(json.json?["runtime"] as? String == digest)
        let interpreter = try #require(json.json?["interpreter"] as? [String: String])
        #expect(interpreter["path"] == "/usr/bin/python3.11")
        #expect(interpreter["debianPackage"]?.hasPrefix("python3.11") == true)
        #expect((json.json?["files"] as? Int ?? 0) > 10_000)
    }

    /// The explore runtime: the job lock's every pin plus JupyterLab, built by the same command with --explore at
    /// its own path and record, with its own digest; a job's sandbox never binds it.
    @Test func theExploreRuntimeHasItsOwnPathRecordAndDigest() throws {
        let jobDigest = try Self.ensureRuntime()
        let exploreLock = TestData.packageRoot.appendingPathComponent("contrib/runtime/explore-requirements.lock").path
        let pins = { (path: String) -> Set<String> in
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return Set(
                text.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n").compactMap { line in
                    let requirement =
                        line.split(separator: "#", omittingEmptySubsequences: false).first?.trimmingCharacters(
                            in: .whitespaces
                        ) ?? ""
                    return requirement.isEmpty ? nil : requirement.split(separator: " ").joined(separator: " ")
                }
            )
        }
        let jobPins = pins(Self.lock)
        let explorePins = pins(exploreLock)
        #expect(jobPins.count > 10 && jobPins.isSubset(of: explorePins))
        #expect(explorePins.contains { $0.hasPrefix("jupyterlab==") })

        let r = try DelongProcess.run(["runtime", "build", "--explore", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json, "stdout: \(r.stdout)\nstderr: \(r.stderr)")
        let digest = try #require(json["runtime"] as? String)
        #expect(json["path"] as? String == "/opt/delong/explore-runtime")
        #expect(digest.hasPrefix("sha256:") && digest != jobDigest)
        let record = try #require(FileManager.default.contents(atPath: "/opt/delong/explore-runtime.json"))
        #expect(String(decoding: record, as: UTF8.self).contains(digest))
        let recomputed = try DelongProcess.run(["runtime", "digest", "/opt/delong/explore-runtime"])
        #expect(recomputed.stdout == digest + "\n")

        let job = Bubblewrap(
            bundle: "/b",
            data: "/d",
            runtime: RuntimeLayout.standard.venv,
            out: "/o",
            tmpBytes: 1,
            entry: "main.py"
        )
        #expect(!job.arguments(statusFD: 4).contains { $0.contains("explore") })
    }

    @Test func aDirectoryThatIsNotAVenvOrASymlinkLoopIsBadInput() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("x".utf8).write(to: dir.appendingPathComponent("file"))
        let plain = try DelongProcess.run(["runtime", "digest", dir.path])
        #expect(plain.status == 2)
        #expect(plain.stderr.contains("not a venv"))
        #expect(plain.stdout.isEmpty)

        let loop = dir.appendingPathComponent("loop").path
        symlink(loop, loop)
        let looped = try DelongProcess.run(["runtime", "digest", loop, "--json"])
        #expect(looped.status == 2)
        #expect(looped.stderr.contains("symlink loop"))
    }

    @Test func aLockWithoutHashesIsRefusedBeforeAnythingIsTouched() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let lock = dir.appendingPathComponent("requirements.lock")
        try Data("numpy==2.4.6\n".utf8).write(to: lock)
        let r = try DelongProcess.run(["runtime", "build", "--lock", lock.path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--hash=sha256"))
        let missing = try DelongProcess.run(["runtime", "build", "--lock", dir.appendingPathComponent("none").path])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("cannot read"))
    }
}
