import Foundation
import Glibc
import PlaneCrypto
import TestSupport
import Testing

/// A sealed dataset kept in S3 and read the way a job reads it in production: `delong dataset seal`, upload to
/// a local S3 store (moto), the bucket mounted read-only with Debian's rclone, and the
/// Decrypt FUSE (`delong fs mount`) over that mount. Every plaintext file must come back byte for byte. Needs
/// root and /dev/fuse, as the other FUSE tests do; both mounts are removed even when a check fails.
@Suite(.serialized) struct S3DecryptMountTests {
    static let upload = """
        import boto3, os, sys
        s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
        root, prefix = sys.argv[3], sys.argv[4]
        for d, _, names in os.walk(root):
            for n in names:
                path = os.path.join(d, n)
                s3.upload_file(path, sys.argv[2], prefix + "/" + os.path.relpath(path, root))
        """

    /// Mounts and processes made by one test, undone in reverse order by `tearDown` (idempotent).
    final class Mounts: @unchecked Sendable {
        var points: [String] = []
        var processes: [Process] = []

        func tearDown() {
            for point in points.reversed() where S3DecryptMountTests.isMounted(point) {
                FSMountCommandTests.unmount(point)
                if S3DecryptMountTests.isMounted(point) { S3DecryptMountTests.run(["fusermount3", "-uz", point]) }
            }
            for process in processes where process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    @Test func sealedDatasetInS3ReadsBackThroughRcloneAndTheDecryptFUSEByteForByte() throws {
        let dir = URL(fileURLWithPath: "/tmp/delong-s3fs-\(UUID().uuidString)")
        let mounts = Mounts()
        defer {
            mounts.tearDown()
            try? FileManager.default.removeItem(at: dir)
        }
        var rng = DeterministicBytes(seed: 1717)
        let files: [String: [UInt8]] = [
            "people.csv": Array("id,age,zip\n1,34,75001\n2,51,10115\n".utf8),
            "nested/blob.bin": rng.bytes(3 << 20 + 12_345),  // several chunks, a partial last one
            "nested/deeper/empty.txt": [],
        ]
        let plain = dir.appendingPathComponent("plain")
        for (path, bytes) in files {
            let url = plain.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try Data(bytes).write(to: url)
        }
        let key = dir.appendingPathComponent("dek.key")
        try Data(rng.bytes(32)).write(to: key)
        chmod(key.path, 0o600)
        let sealed = dir.appendingPathComponent("sealed")
        let seal = try DelongProcess.run([
            "dataset", "seal", plain.path, sealed.path, "--dataset-id", "0x" + String(repeating: "5e", count: 32),
            "--key-file", key.path,
        ])
        #expect(seal.status == 0, "\(seal.stderr)")

        // Signatures unchecked: moto refuses rclone's correctly signed `prefix=datasets/ds1/` listings when it
        // checks them (MotoS3 says why); DeLong's own signing is checked in BundlePublishS3Tests.
        let moto = try MotoS3(checkSignatures: false)
        defer { moto.stop() }
        try moto.boto3(Self.upload, [sealed.path, "datasets/ds1"])
        #expect(try moto.listing(prefix: "datasets/ds1/").count == (try Self.regularFiles(under: sealed)).count)

        // rclone reads the bucket with the same key, from a temporary config (0600: it holds the secret).
        let config = dir.appendingPathComponent("rclone.conf")
        try Data(
            """
            [moto]
            type = s3
            provider = Other
            access_key_id = \(moto.accessKeyID)
            secret_access_key = \(moto.secretAccessKey)
            endpoint = \(moto.endpoint)
            region = us-east-1

            """.utf8
        ).write(to: config)
        chmod(config.path, 0o600)
        let s3mnt = dir.appendingPathComponent("s3")
        let clear = dir.appendingPathComponent("clear")
        for d in [s3mnt, clear] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }

        let rclone = try Self.start(
            // Debian's rclone 1.60 fails on S3 with LoadCustomCABundleError when AWS_CA_BUNDLE is set.
            [
                "/usr/bin/env", "-u", "AWS_CA_BUNDLE", "rclone", "--config", config.path, "mount",
                "moto:\(moto.bucket)/datasets/ds1", s3mnt.path, "--read-only",
            ],
            log: dir.appendingPathComponent("rclone.log")
        )
        mounts.processes.append(rclone)
        mounts.points.append(s3mnt.path)
        try #require(FSMountCommandTests.waitForMount(s3mnt.path), "rclone mount: \(Self.log(dir, "rclone.log"))")
        #expect(!FileManager.default.createFile(atPath: s3mnt.appendingPathComponent("x").path, contents: nil))

        let decrypt = try Self.start(
            [
                try DelongProcess.executable.path, "fs", "mount", s3mnt.path, clear.path, "--key-file", key.path,
                "--foreground",
            ],
            log: dir.appendingPathComponent("fs.log")
        )
        mounts.processes.append(decrypt)
        mounts.points.append(clear.path)
        try #require(FSMountCommandTests.waitForMount(clear.path), "delong fs mount: \(Self.log(dir, "fs.log"))")

        for (path, bytes) in files.sorted(by: { $0.key < $1.key }) {
            let read = try [UInt8](Data(contentsOf: clear.appendingPathComponent(path)))
            #expect(read.count == bytes.count, "\(path)")
            #expect(Digest.sha256(read) == Digest.sha256(bytes), "\(path) decrypts byte for byte")
        }
        #expect(try Self.regularFiles(under: clear) == Set(files.keys), "the decrypted tree lists the plaintext names")

        mounts.tearDown()
        #expect(!Self.isMounted(clear.path) && !Self.isMounted(s3mnt.path), "no mount is left behind")
        #expect(!rclone.isRunning && !decrypt.isRunning)
    }

    static func start(_ arguments: [String], log: URL) throws -> Process {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? output.close()
        return process
    }

    static func log(_ dir: URL, _ name: String) -> String {
        String(((try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? "").suffix(2000))
    }

    static func isMounted(_ path: String) -> Bool {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first == path[...] }
    }

    static func run(_ arguments: [String]) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        p.standardError = FileHandle.nullDevice
        try? p.run()
        p.waitUntilExit()
    }

    /// Relative paths of the regular files under `root`.
    static func regularFiles(under root: URL) throws -> Set<String> {
        var found: Set<String> = []
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            if try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true {
                found.insert(String(url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1)))
            }
        }
        return found
    }
}
