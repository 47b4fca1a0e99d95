import DecryptFS
import Foundation
import Glibc
import PlaneCrypto
import Sealing
import TestSupport
import Testing

/// Round trips through a real FUSE mount.
@Suite struct DecryptFSMountTests {
    @Test func boundarySizesManyFilesAndNestedDirectoriesReadBackExactly() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chunk = 4096
        var rng = DeterministicBytes(seed: 1)
        var files: [String: [UInt8]] = [:]
        for size in [0, 1, chunk - 1, chunk, chunk + 1, 75 * chunk + 17] {
            files["sizes/\(size).bin"] = rng.bytes(size)
        }
        for i in 0..<120 { files["many/d\(i % 7)/sub\(i % 3)/f\(i).txt"] = Array("file \(i)\n".utf8) }
        let result = try MountHarness.seal(files: files, directories: ["empty/inner"], in: dir)
        try MountHarness.withMount(dir) { (mnt: URL) throws in
            for (path, bytes) in files {
                #expect(try MountHarness.readAll(mnt.appendingPathComponent(path)).get() == bytes, "\(path)")
                let attributes = try FileManager.default.attributesOfItem(atPath: mnt.appendingPathComponent(path).path)
                #expect((attributes[.size] as? Int) == bytes.count)
            }
            // Listings come from the manifest and match the plaintext tree.
            let listed = try FileManager.default.subpathsOfDirectory(atPath: mnt.path).sorted()
            let expected = result.manifest.entries.map(\.path).sorted()
            #expect(listed == expected)
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: mnt.appendingPathComponent("empty/inner").path)
                    .isEmpty
            )
        }
    }

    @Test func randomOffsetReadsFromManyThreadsMatchPlaintext() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = DeterministicBytes(seed: 2)
        let data = rng.bytes(3 << 20)
        _ = try MountHarness.seal(files: ["data.bin": data], in: dir, chunkSize: 16384)
        try MountHarness.withMount(dir, cacheBytes: 256 << 10) { (mnt: URL) throws in
            let url = mnt.appendingPathComponent("data.bin")
            let failures = LockedCounter()
            DispatchQueue.concurrentPerform(iterations: 8) { worker in
                var local = DeterministicBytes(seed: UInt64(100 + worker))
                for _ in 0..<300 {
                    let offset = Int(local.next() % UInt64(data.count + 100))
                    let length = Int(local.next() % 40_000) + 1
                    let want = offset >= data.count ? [] : Array(data[offset..<min(data.count, offset + length)])
                    if (try? MountHarness.pread(url, offset: UInt64(offset), count: length).get()) != want {
                        failures.increment()
                    }
                }
            }
            #expect(failures.value == 0)
        }
    }

    @Test func multiGigabyteSparseFileRoundTrips() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        // 2 GiB + 1 MiB + 4097 bytes, mostly a hole, with marked islands (including past 2^31) that must read back.
        let size: UInt64 = (1 << 31) + (1 << 20) + 4097
        let plain = dir.appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        let fd = open(plain.appendingPathComponent("sparse.bin").path, O_WRONLY | O_CREAT, 0o644)
        #expect(fd >= 0)
        var islands: [(UInt64, [UInt8])] = []
        var rng = DeterministicBytes(seed: 3)
        for offset: UInt64 in [0, 16383, 1 << 30, (1 << 31) - 5, (1 << 31) + 12345, size - 100] {
            let bytes = rng.bytes(Int(min(100, size - offset)))
            islands.append((offset, bytes))
            _ = bytes.withUnsafeBytes { Glibc.pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        }
        #expect(ftruncate(fd, off_t(size)) == 0)
        close(fd)
        let sealer = try Sealer(options: .init(datasetID: MountHarness.datasetID, durable: false))
        let result = try sealer.seal(
            source: plain.path,
            output: dir.appendingPathComponent("sealed").path,
            keySource: InMemoryKeySource(key: MountHarness.key())
        )
        try MountHarness.withMount(dir) { (mnt: URL) throws in
            let url = mnt.appendingPathComponent("sparse.bin")
            #expect((try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? UInt64) == size)
            for (offset, bytes) in islands {
                #expect(
                    try MountHarness.pread(url, offset: offset, count: bytes.count).get() == bytes,
                    "island at \(offset)"
                )
            }
            #expect(try MountHarness.pread(url, offset: size - 10, count: 100).get().count == 10)
            #expect(
                try MountHarness.pread(url, offset: (1 << 31) + 1_000_000, count: 4096).get()
                    == [UInt8](repeating: 0, count: 4096)
            )
            // A full sequential pass through the mount hashes to the manifest's digest.
            let fd = open(url.path, O_RDONLY)
            defer { close(fd) }
            let hasher = DigestContext(.sha256)
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                hasher.update(Array(buffer[0..<n]))
            }
            #expect(hasher.finalize() == result.manifest.entries[0].sha256)
        }
    }

    @Test func mountIsReadOnly() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try MountHarness.seal(files: ["a.txt": [1, 2, 3]], in: dir)
        try MountHarness.withMount(dir) { (mnt: URL) throws in
            let fd = open(mnt.appendingPathComponent("a.txt").path, O_WRONLY)
            let openErrno = errno
            if fd >= 0 { close(fd) }
            #expect(fd < 0 && (openErrno == EROFS || openErrno == EACCES))
            #expect(mkdir(mnt.appendingPathComponent("new").path, 0o755) != 0)
            #expect(open(mnt.appendingPathComponent("b.txt").path, O_WRONLY | O_CREAT, 0o644) < 0)
        }
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() {
        lock.lock()
        count += 1
        lock.unlock()
    }
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}
