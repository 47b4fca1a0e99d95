import ComputingPlane
import Foundation
import Glibc
import TestSupport
import Testing

/// Runtime venvs read from disk: the digest against an independent implementation, what changes it, what does
/// not, hostile inputs, the runtime a bundle may ask for, and the build record.
@Suite struct RuntimeVenvTests {
    /// A small venv-shaped tree on Debian's python3.11: pyvenv.cfg, the interpreter links, a module, lib64.
    static func fakeVenv(in parent: URL, name: String = "venv") throws -> URL {
        let venv = parent.appendingPathComponent(name)
        let fm = FileManager.default
        try fm.createDirectory(
            at: venv.appendingPathComponent("lib/python3.11/site-packages/pkg"),
            withIntermediateDirectories: true
        )
        try fm.createDirectory(at: venv.appendingPathComponent("bin"), withIntermediateDirectories: true)
        for dir in [
            "", "bin", "lib", "lib/python3.11", "lib/python3.11/site-packages", "lib/python3.11/site-packages/pkg",
        ] {
            chmod(venv.appendingPathComponent(dir).path, 0o755)
        }
        try Data("home = /usr/bin\nversion = 3.11.2\n".utf8).write(to: venv.appendingPathComponent("pyvenv.cfg"))
        try Data("VALUE = 1\n".utf8).write(to: venv.appendingPathComponent("lib/python3.11/site-packages/pkg/m.py"))
        try Data("#!/opt/delong/runtime/bin/python3\n".utf8).write(to: venv.appendingPathComponent("bin/tool"))
        chmod(venv.appendingPathComponent("pyvenv.cfg").path, 0o644)
        chmod(venv.appendingPathComponent("lib/python3.11/site-packages/pkg/m.py").path, 0o644)
        chmod(venv.appendingPathComponent("bin/tool").path, 0o755)
        symlink("/usr/bin/python3.11", venv.appendingPathComponent("bin/python").path)
        symlink("python", venv.appendingPathComponent("bin/python3").path)
        symlink("lib", venv.appendingPathComponent("lib64").path)
        return venv
    }

    static func digest(_ venv: URL) throws -> String {
        JobRuntime(path: nil, digest: try RuntimeVenv.read(venv.path).digest).label
    }

    @Test func theDigestEqualsTheIndependentPythonReference() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let venv = try Self.fakeVenv(in: dir)
        let swift = JobRuntime(path: venv.path, digest: try RuntimeVenv.read(venv.path).digest).label
        let python = try ContribTool.run(["/usr/bin/python3", "contrib/runtime/runtime-digest.py", venv.path])
        #expect(swift == python.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(swift.hasPrefix("sha256:") && swift.count == 71)
    }

    @Test func theSameTreeElsewhereWithOtherTimesHasTheSameDigest() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try Self.fakeVenv(in: dir, name: "a")
        usleep(20_000)
        let second = try Self.fakeVenv(in: dir, name: "b")
        // Times are not part of the listing.
        utimes(second.appendingPathComponent("pyvenv.cfg").path, nil)
        #expect(try Self.digest(first) == (try Self.digest(second)))
    }

    @Test func oneByteOneModeOrOneLinkChangesTheDigest() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = try Self.digest(try Self.fakeVenv(in: dir, name: "base"))

        let byte = try Self.fakeVenv(in: dir, name: "byte")
        try Data("VALUE = 2\n".utf8).write(to: byte.appendingPathComponent("lib/python3.11/site-packages/pkg/m.py"))
        let mode = try Self.fakeVenv(in: dir, name: "mode")
        chmod(mode.appendingPathComponent("bin/tool").path, 0o750)
        let link = try Self.fakeVenv(in: dir, name: "link")
        unlink(link.appendingPathComponent("lib64").path)
        symlink("./lib", link.appendingPathComponent("lib64").path)
        let added = try Self.fakeVenv(in: dir, name: "added")
        try Data().write(to: added.appendingPathComponent("lib/python3.11/site-packages/pkg/__init__.py"))
        chmod(added.appendingPathComponent("lib/python3.11/site-packages/pkg/__init__.py").path, 0o644)

        let digests = try [byte, mode, link, added].map(Self.digest)
        #expect(Set(digests).count == 4)
        #expect(!digests.contains(base))
        // Another Debian version of the same interpreter bytes is another runtime.
        let other = try RuntimeVenv.read(
            dir.appendingPathComponent("base").path,
            packageOf: { _ in ("python3.11-minimal", "3.11.2-6+deb12u99") }
        )
        #expect(JobRuntime(path: nil, digest: other.digest).label != base)
    }

    @Test func hostilePathsAreRefusedWithAReason() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func reason(_ path: String) -> String? {
            do {
                _ = try RuntimeVenv.read(path)
                return nil
            } catch {
                return error.code == .badInput ? error.reason : "wrong code \(error.code): \(error.reason)"
            }
        }
        // A symlink loop as the path.
        symlink("loop-b", dir.appendingPathComponent("loop-a").path)
        symlink("loop-a", dir.appendingPathComponent("loop-b").path)
        #expect(reason(dir.appendingPathComponent("loop-a").path)?.contains("symlink loop") == true)
        // A directory that is not a venv.
        let plain = dir.appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: plain.appendingPathComponent("file"))
        #expect(reason(plain.path)?.contains("not a venv (expected a pyvenv.cfg") == true)
        // A venv whose interpreter link loops.
        let looping = try Self.fakeVenv(in: dir, name: "looping")
        unlink(looping.appendingPathComponent("bin/python").path)
        symlink("python3", looping.appendingPathComponent("bin/python").path)
        #expect(reason(looping.path)?.contains("interpreter") == true)
        #expect(reason(looping.path)?.contains("symlink loop") == true)
        // A FIFO inside a venv.
        let fifo = try Self.fakeVenv(in: dir, name: "fifo")
        mkfifo(fifo.appendingPathComponent("lib/pipe").path, 0o600)
        #expect(reason(fifo.path)?.contains("lib/pipe") == true)
        // Nothing there.
        #expect(reason(dir.appendingPathComponent("missing").path)?.contains("nothing there") == true)
    }

    @Test func aBundleGetsTheInstalledRuntimeOrIsRefusedNamingBoth() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mine = try RuntimeVenv.read(try Self.fakeVenv(in: dir, name: "mine").path).digest
        let otherVenv = try Self.fakeVenv(in: dir, name: "other")
        chmod(otherVenv.appendingPathComponent("bin/tool").path, 0o700)
        let theirs = try RuntimeVenv.read(otherVenv.path).digest
        let installed = JobRuntime(path: "/opt/delong/runtime", digest: mine)

        #expect(try JobRuntime.select(requested: nil, installed: installed) == installed)
        #expect(try JobRuntime.select(requested: mine, installed: installed) == installed)
        #expect(try JobRuntime.select(requested: nil, installed: .system) == .system)
        #expect(JobRuntime.system.label == "system")
        do {
            _ = try JobRuntime.select(requested: theirs, installed: installed)
            Issue.record("a bundle asking for another runtime ran")
        } catch {
            #expect(error.code == .badInput)
            #expect(error.reason.contains(JobRuntime(path: nil, digest: theirs).label))
            #expect(error.reason.contains(installed.label))
        }
        do {
            _ = try JobRuntime.select(requested: theirs, installed: .system)
            Issue.record("a bundle asking for a runtime ran on the system Python")
        } catch {
            #expect(error.reason.contains("only the system runtime"))
        }
    }

    @Test func theInstalledRuntimeComesFromItsRecordAndIsSystemWithoutOne() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let venv = try Self.fakeVenv(in: dir)
        let layout = RuntimeLayout(
            venv: venv.path,
            record: dir.appendingPathComponent("venv.json").path,
            wheels: dir.appendingPathComponent("wheels").path
        )
        #expect(try JobRuntime.installed(layout) == .system)
        let read = try RuntimeVenv.read(venv.path)
        try RuntimeRecord(lockSHA256: "00", digest: read.digest, interpreter: read.interpreter).write(layout.record)
        #expect(try JobRuntime.installed(layout) == JobRuntime(path: venv.path, digest: read.digest))
        try Data("{\"runtime\": 1}".utf8).write(to: URL(fileURLWithPath: layout.record))
        #expect(throws: ComputingPlaneError.self) { try JobRuntime.installed(layout) }
    }

    @Test func aLockWithoutAHashOnEveryRequirementIsRefused() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let lock = dir.appendingPathComponent("requirements.lock")
        try Data("numpy==2.4.6 \\\n    --hash=sha256:\(String(repeating: "0", count: 64))\npandas==3.1.1\n".utf8)
            .write(to: lock)
        let builder = RuntimeBuilder(
            layout: RuntimeLayout(
                venv: dir.appendingPathComponent("runtime").path,
                record: dir.appendingPathComponent("runtime.json").path,
                wheels: dir.appendingPathComponent("wheels").path
            ),
            lock: lock.path
        )
        do {
            _ = try builder.build { _ in }
            Issue.record("a lock without hashes was accepted")
        } catch {
            #expect(error.code == .badInput)
            #expect(error.reason.contains("pandas==3.1.1"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("runtime").path))
    }
}
