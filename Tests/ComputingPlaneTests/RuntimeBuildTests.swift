import ComputingPlane
import Foundation
import Glibc
import TestSupport
import Testing

/// A real runtime build from the repository's lock, at a path of the test's own (the standard runtime at
/// /opt/delong/runtime is left alone: other suites run jobs on it). Root and the fetched wheels are needed.
@Suite(.serialized) struct RuntimeBuildTests {
    @Test func buildingTwiceGivesTheSameDigestAndTheReferenceAgrees() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        chmod(dir.path, 0o755)
        let layout = RuntimeLayout(
            venv: dir.appendingPathComponent("runtime").path,
            record: dir.appendingPathComponent("runtime.json").path,
            wheels: RuntimeLayout.standard.wheels
        )
        let lock = TestData.packageRoot.appendingPathComponent("contrib/runtime/requirements.lock").path
        let builder = RuntimeBuilder(layout: layout, lock: lock)

        let first = try builder.build { _ in }
        #expect(first.built)
        // Cached: the record names this lock, so nothing is rebuilt.
        let cached = try builder.build { _ in }
        #expect(!cached.built)
        #expect(cached.record == first.record)
        // Rebuilt from scratch (new files, new times, new inodes): the same digest.
        let second = try builder.build(force: true) { _ in }
        #expect(second.built)
        #expect(second.record.runtime == first.record.runtime)
        let recomputed = try RuntimeVenv.read(layout.venv)
        #expect(JobRuntime(path: nil, digest: recomputed.digest).label == first.record.runtime)
        // No staging directory or moved-aside venv is left beside it.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == [".runtime-build.lock", "runtime", "runtime.json"])

        // The independent Python implementation agrees on the real venv.
        let reference = try ContribTool.run(["/usr/bin/python3", "contrib/runtime/runtime-digest.py", layout.venv])
        #expect(reference.trimmingCharacters(in: .whitespacesAndNewlines) == first.record.runtime)

        // SOURCE_DATE_EPOCH made every compiled file hash-checked (flags 3), not stamped with a time.
        let pyc = try Data(
            contentsOf: URL(
                fileURLWithPath: layout.venv
                    + "/lib/python3.11/site-packages/numpy/__pycache__/__init__.cpython-311.pyc"
            )
        )
        #expect(pyc.count > 16 && pyc[4] == 3 && pyc[5] == 0 && pyc[6] == 0 && pyc[7] == 0)
        // Scripts name the venv's own path (built in a staging directory, but bound at the target while pip ran).
        let script = try String(contentsOfFile: layout.venv + "/bin/f2py", encoding: .utf8)
        #expect(script.hasPrefix("#!\(layout.venv)/bin/python3\n"))
    }
}
