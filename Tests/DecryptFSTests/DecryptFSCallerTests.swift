import DecryptFS
import Foundation
import Glibc
import PlaneCrypto
import Sealing
import TestSupport
import Testing

/// A mount restricted to a job uid serves that uid only: another uid and root get EACCES from stat, listing
/// and reading, even after the job has warmed the kernel's caches.
@Suite(.serialized) struct DecryptFSCallerTests {
    /// Unused uids (no account, no process): the job and a bystander.
    static let jobUID: UInt32 = 2_100_000_999
    static let otherUID: UInt32 = 2_100_000_998

    /// A scratch directory every uid can traverse (the default temporary directory may be private).
    static func scratch() throws -> URL {
        let url = URL(fileURLWithPath: "/tmp/delong-fs-uid-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        chmod(url.path, 0o755)
        return url
    }

    @Test func onlyTheAllowedUIDCanStatListOrReadAndEveryOtherCallerGetsEACCES() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = DeterministicBytes(seed: 13)
        let data = rng.bytes(200_000)
        _ = try MountHarness.seal(files: ["data.bin": data, "sub/x.txt": Array("x\n".utf8)], in: dir)
        let digest = sha256Hex(data)
        try MountHarness.withMount(dir, jobUID: Self.jobUID) { (mnt: URL) throws in
            let job = try CallerProbe.run(mnt: mnt, uid: Self.jobUID)
            #expect(job == ["stat": "ok:200000", "list": "ok:data.bin,sub", "read": "ok:\(digest)"])
            // The job's reads have filled the page cache and its lookups the kernel's caches; still refused.
            let eacces = "errno:\(EACCES)"
            let other = try CallerProbe.run(mnt: mnt, uid: Self.otherUID)
            #expect(other == ["stat": eacces, "list": eacces, "read": eacces])
            let root = try CallerProbe.run(mnt: mnt, uid: nil)
            #expect(root == ["stat": eacces, "list": eacces, "read": eacces])
            // And the job still reads after being refused to others.
            #expect(try CallerProbe.run(mnt: mnt, uid: Self.jobUID)["read"] == "ok:\(digest)")
        }
    }

    @Test func withoutAnAllowedUIDTheMountStillServesItsOwnerAsBefore() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = Array("plain\n".utf8)
        _ = try MountHarness.seal(files: ["a.txt": data], in: dir)
        try MountHarness.withMount(dir) { (mnt: URL) throws in
            let root = try CallerProbe.run(mnt: mnt, uid: nil, name: "a.txt")
            #expect(root == ["stat": "ok:6", "list": "ok:a.txt", "read": "ok:\(sha256Hex(data))"])
        }
    }

    /// A job's mount hides the provider's gate policy (its canaries are secrets): not listed, ENOENT by name,
    /// while the tables beside it read as before.
    @Test func hiddenPathsAreNeitherListedNorOpened() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let table = Array("id,age\n1,34\n".utf8)
        _ = try MountHarness.seal(
            files: ["delong-policy.json": Array("{\"canaries\": []}".utf8), "admissions.csv": table],
            in: dir
        )
        try MountHarness.withMountHandle(dir, hidden: ["delong-policy.json"]) { (mnt: URL, _) throws in
            #expect(try FileManager.default.contentsOfDirectory(atPath: mnt.path) == ["admissions.csv"])
            #expect(!FileManager.default.fileExists(atPath: mnt.appendingPathComponent("delong-policy.json").path))
            #expect(open(mnt.appendingPathComponent("delong-policy.json").path, O_RDONLY) == -1 && errno == ENOENT)
            #expect(
                FileManager.default.contents(atPath: mnt.appendingPathComponent("admissions.csv").path) == Data(table)
            )
        }
    }

    @Test func jobMountDirectoryIsNewOwnedByTheJobAndMode0700() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("job").path
        let old = umask(0o077)
        defer { umask(old) }
        try DecryptFSMount.createJobMountDirectory(path, uid: Self.jobUID)
        var st = stat()
        #expect(lstat(path, &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFDIR)
        #expect(st.st_mode & 0o7777 == 0o700)
        #expect(st.st_uid == Self.jobUID && st.st_gid == Self.jobUID)
        // An existing path (which someone else might own) is refused, naming it.
        #expect {
            try DecryptFSMount.createJobMountDirectory(path, uid: Self.jobUID)
        } throws: { error in
            (error as? DecryptFSError)?.code == .mountDirectoryFailed && "\(error)".contains(path)
        }
        let link = dir.appendingPathComponent("link").path
        symlink(dir.path, link)
        #expect(throws: DecryptFSError.self) { try DecryptFSMount.createJobMountDirectory(link, uid: Self.jobUID) }
    }
}

/// Runs a small Python probe as `uid` (via util-linux `setpriv`; nil: as this process's uid, root here) that
/// stats `mnt/name`, lists `mnt` and reads `mnt/name`, reporting "ok:…" or "errno:N" for each.
enum CallerProbe {
    static let script = """
        import hashlib, json, os, sys
        mnt, name = sys.argv[1], sys.argv[2]
        out = {}
        def attempt(key, f):
            try:
                out[key] = "ok:" + f()
            except OSError as e:
                out[key] = "errno:%d" % e.errno
        attempt("stat", lambda: str(os.stat(os.path.join(mnt, name)).st_size))
        attempt("list", lambda: ",".join(sorted(os.listdir(mnt))))
        attempt("read", lambda: hashlib.sha256(open(os.path.join(mnt, name), "rb").read()).hexdigest())
        print(json.dumps(out))
        """

    static func run(mnt: URL, uid: UInt32?, name: String = "data.bin") throws -> [String: String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let python = ["/usr/bin/python3", "-c", script, mnt.path, name]
        process.arguments =
            uid.map { ["setpriv", "--reuid", "\($0)", "--regid", "\($0)", "--clear-groups"] + python } ?? python
        // Debian's python3 by absolute path, from "/": a PATH or working directory under /root is not the
        // probe uid's to use.
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: String] ?? [
            "exit": "\(process.terminationStatus)"
        ]
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    Digest.sha256(bytes).map { String(format: "%02x", $0) }.joined()
}
