import Foundation
import Glibc
import PlaneCrypto
import TestSupport
import Testing

/// `delong fs mount`, run as a process: the pinned foreground form serves its owner as before, and
/// `--allow-uid UID` serves that uid only (root and other uids get EACCES).
@Suite(.serialized) struct FSMountCommandTests {
    static let jobUID: UInt32 = 2_100_000_997
    static let otherUID: UInt32 = 2_100_000_996

    let dir: URL
    let data: [UInt8]

    init() throws {
        dir = URL(fileURLWithPath: "/tmp/delong-fs-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("plain"),
            withIntermediateDirectories: true
        )
        chmod(dir.path, 0o755)
        var rng = DeterministicBytes(seed: 77)
        data = rng.bytes(70_000)
        try Data(data).write(to: dir.appendingPathComponent("plain/data.bin"))
        let key = dir.appendingPathComponent("dek.key")
        try Data(rng.bytes(32)).write(to: key)
        chmod(key.path, 0o600)
        let sealed = try DelongProcess.run([
            "dataset", "seal", dir.appendingPathComponent("plain").path, dir.appendingPathComponent("sealed").path,
            "--dataset-id", "0x" + String(repeating: "ab", count: 32), "--key-file", key.path,
        ])
        #expect(sealed.status == 0, "\(sealed.stderr)")
    }

    var digest: String { Digest.sha256(data).map { String(format: "%02x", $0) }.joined() }

    @Test func pinnedForegroundFormServesItsOwnerAndUnmountsCleanly() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let mnt = dir.appendingPathComponent("mnt")
        try FileManager.default.createDirectory(at: mnt, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = try DelongProcess.executable
        process.arguments = [
            "fs", "mount", dir.appendingPathComponent("sealed").path, mnt.path,
            "--key-file", dir.appendingPathComponent("dek.key").path, "--foreground",
        ]
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        #expect(Self.waitForMount(mnt.path))
        #expect(try Self.probe(mnt: mnt, uid: nil) == ["stat": "ok:70000", "read": "ok:\(digest)"])
        Self.unmount(mnt.path)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test func allowUIDServesOnlyThatUIDAndRefusesRootAndOthersWithEACCES() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let mnt = dir.appendingPathComponent("mnt")
        try FileManager.default.createDirectory(at: mnt, withIntermediateDirectories: true)
        // Background form: returns once mounted (detected without asking the mount, which refuses root). The
        // detached mount process keeps the output descriptors open, so they go to a file, not a pipe.
        let log = dir.appendingPathComponent("mount.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = try DelongProcess.executable
        process.arguments = [
            "fs", "mount", dir.appendingPathComponent("sealed").path, mnt.path,
            "--key-file", dir.appendingPathComponent("dek.key").path, "--allow-uid", "\(Self.jobUID)",
        ]
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        defer { Self.unmount(mnt.path) }
        let stderr = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "\(stderr)")
        #expect(Self.waitForMount(mnt.path))
        #expect(try Self.probe(mnt: mnt, uid: Self.jobUID) == ["stat": "ok:70000", "read": "ok:\(digest)"])
        let eacces = "errno:\(EACCES)"
        #expect(try Self.probe(mnt: mnt, uid: Self.otherUID) == ["stat": eacces, "read": eacces])
        #expect(try Self.probe(mnt: mnt, uid: nil) == ["stat": eacces, "read": eacces])
    }

    @Test func allowUIDMinusOneIsRefusedAsUsage() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try DelongProcess.run([
            "fs", "mount", dir.appendingPathComponent("sealed").path, dir.path,
            "--key-file", dir.appendingPathComponent("dek.key").path, "--foreground", "--allow-uid", "4294967295",
        ])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--allow-uid"))
    }

    static func waitForMount(_ path: String) -> Bool {
        for _ in 0..<1000 {
            let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
            if table.split(separator: "\n").contains(where: { $0.split(separator: " ").dropFirst(4).first == path[...] }
            ) {
                return true
            }
            usleep(10_000)
        }
        return false
    }

    static func unmount(_ path: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["fusermount3", "-u", path]
        p.standardError = FileHandle.nullDevice
        try? p.run()
        p.waitUntilExit()
    }

    /// Stats and reads `mnt/data.bin` as `uid` (nil: as root) in a child process; "ok:…" or "errno:N" each.
    static func probe(mnt: URL, uid: UInt32?) throws -> [String: String] {
        let script = """
            import hashlib, json, os, sys
            path = os.path.join(sys.argv[1], "data.bin")
            out = {}
            for key, f in (("stat", lambda: str(os.stat(path).st_size)),
                           ("read", lambda: hashlib.sha256(open(path, "rb").read()).hexdigest())):
                try:
                    out[key] = "ok:" + f()
                except OSError as e:
                    out[key] = "errno:%d" % e.errno
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let python = ["/usr/bin/python3", "-c", script, mnt.path]
        process.arguments =
            uid.map { ["setpriv", "--reuid", "\($0)", "--regid", "\($0)", "--clear-groups"] + python } ?? python
        // Debian's python3 by absolute path, from "/": a PATH or working directory under /root is not the
        // probe uid's to use.
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let bytes = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (try? JSONSerialization.jsonObject(with: bytes)) as? [String: String]
            ?? ["exit": "\(process.terminationStatus)"]
    }
}
