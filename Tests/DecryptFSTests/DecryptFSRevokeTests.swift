import DecryptFS
import Foundation
import Glibc
import PlaneCrypto
import Sealing
import TestSupport
import Testing

/// `DecryptFSMount.revoke()` through a real FUSE mount: a job whose key lease is refused loses the plaintext
/// at once, on descriptors it already holds as well as new ones, and the mount keeps no plaintext or key.
@Suite struct DecryptFSRevokeTests {
    /// Sees whether the dataset key object is still alive without keeping it alive.
    final class WeakKey: @unchecked Sendable {
        weak var key: SecretBytes?
    }

    static func preadFD(_ fd: Int32, offset: Int, count: Int) -> Result<[UInt8], Errno> {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes {
                Glibc.pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 { return .failure(Errno(code: errno)) }
            if n == 0 { break }
            done += n
        }
        return .success(Array(buffer.prefix(done)))
    }

    static func statErrno(_ url: URL) -> Int32 {
        var st = stat()
        return stat(url.path, &st) == 0 ? 0 : errno
    }

    @Test func revokeFailsOpenAndNewDescriptorsWithEIOAndDropsCacheAndKey() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = DeterministicBytes(seed: 41)
        let data = rng.bytes((3 << 20) + 123)
        let small = Array("small file\n".utf8)
        // 1 MiB chunks, so a read that starts inside one is a partial chunk and fills the chunk cache.
        _ = try MountHarness.seal(files: ["data.bin": data, "dir/small.txt": small], in: dir, chunkSize: 1 << 20)
        let watched = WeakKey()
        let makeKeySource: () -> any DatasetKeySource = {
            let key = MountHarness.key()
            watched.key = key
            return InMemoryKeySource(key: key)
        }
        let mnt = try MountHarness.withMountHandle(dir, keySource: makeKeySource, cacheBytes: 4 << 20) {
            (mnt: URL, mount: DecryptFSMount) throws -> URL in
            let url = mnt.appendingPathComponent("data.bin")
            var fd = open(url.path, O_RDONLY)
            try #require(fd >= 0)
            defer { if fd >= 0 { close(fd) } }
            // First a read inside chunk 0 (the kernel asks from page 1: a partial chunk, cached), then all.
            #expect(try Self.preadFD(fd, offset: 5000, count: 70_000).get() == Array(data[5000..<75_000]))
            #expect(try Self.preadFD(fd, offset: 0, count: data.count + 10).get() == data)
            #expect(try MountHarness.readAll(mnt.appendingPathComponent("dir/small.txt")).get() == small)
            #expect(mount.cachedPlaintextBytes > 0, "the reads above should have filled the chunk cache")
            #expect(mount.holdsKeyMaterial)
            #expect(watched.key != nil)
            #expect(!mount.revoked)

            mount.revoke()

            #expect(mount.revoked)
            // The descriptor opened before: its pages were in the kernel's cache, and still every read fails.
            #expect(Self.preadFD(fd, offset: 0, count: 4096).map(\.count) == .failure(.EIO))
            #expect(Self.preadFD(fd, offset: 5000, count: 100).map(\.count) == .failure(.EIO))
            #expect(Self.preadFD(fd, offset: 2 << 20, count: 100).map(\.count) == .failure(.EIO))
            // A new open, a stat, a listing: EIO.
            #expect(MountHarness.pread(url, offset: 0, count: 10).map(\.count) == .failure(.EIO))
            #expect(
                MountHarness.pread(mnt.appendingPathComponent("dir/small.txt"), offset: 0, count: 10).map(\.count)
                    == .failure(.EIO)
            )
            #expect(Self.statErrno(url) == EIO)
            #expect(Self.statErrno(mnt.appendingPathComponent("dir")) == EIO)
            #expect(Self.statErrno(mnt) == EIO)
            #expect(throws: (any Error).self) { try FileManager.default.contentsOfDirectory(atPath: mnt.path) }
            // No plaintext in the cache, no dataset or reader, and the DEK object is gone (wiped as freed).
            #expect(mount.cachedPlaintextBytes == 0)
            #expect(!mount.holdsKeyMaterial)
            #expect(watched.key == nil)

            // A second revoke changes nothing and fails nothing.
            mount.revoke()
            #expect(mount.revoked)
            #expect(Self.preadFD(fd, offset: 0, count: 16).map(\.count) == .failure(.EIO))
            #expect(mount.cachedPlaintextBytes == 0)

            // Unmounting (not lazily: every descriptor closed) still works.
            close(fd)
            fd = -1
            MountHarness.unmount(mnt)
            for _ in 0..<500 where MountTable.isMounted(mnt.path) { usleep(10_000) }
            #expect(!MountTable.isMounted(mnt.path))
            return mnt
        }
        #expect(!MountTable.isMounted(mnt.path))
    }

    /// Threads read random ranges while another revokes: reads that start before may succeed (with the right
    /// bytes) or fail, but every read that starts after `revoke()` returned fails with EIO.
    @Test func noReadThatStartsAfterRevokeReturnsPlaintext() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = DeterministicBytes(seed: 42)
        let data = rng.bytes(2 << 20)
        _ = try MountHarness.seal(files: ["data.bin": data], in: dir, chunkSize: 16384)
        try MountHarness.withMountHandle(dir, cacheBytes: 512 << 10) { (mnt: URL, mount: DecryptFSMount) throws in
            let url = mnt.appendingPathComponent("data.bin")
            let state = RaceState()
            let workers = 4
            let finished = DispatchSemaphore(value: 0)
            // Every descriptor is open before the race: a thread scheduled late would otherwise open after the
            // revocation, and its failed open says nothing about reads.
            let descriptors = (0..<workers).map { _ in open(url.path, O_RDONLY) }
            try #require(descriptors.allSatisfy { $0 >= 0 }, "open: errno \(errno)")
            for (worker, fd) in descriptors.enumerated() {
                let thread = Thread {
                    defer {
                        close(fd)
                        finished.signal()
                    }
                    var local = DeterministicBytes(seed: UInt64(200 + worker))
                    var afterCount = 0
                    while afterCount < 50 {
                        let after = state.revokeReturned
                        let offset = Int(local.next() % UInt64(data.count))
                        let length = Int(local.next() % 70_000) + 1
                        let want = Array(data[offset..<min(data.count, offset + length)])
                        switch Self.preadFD(fd, offset: offset, count: length) {
                        case .success(let bytes):
                            state.record(after: after, outcome: bytes == want ? .plaintext : .wrongBytes)
                        case .failure(let e): state.record(after: after, outcome: e == .EIO ? .eio : .otherError)
                        }
                        if after { afterCount += 1 }
                    }
                }
                thread.start()
            }
            // Revoke while the workers are reading (32 successful reads between them first), however slow
            // the machine.
            for _ in 0..<2000 where state.snapshot.before[.plaintext, default: 0] < 8 * workers { usleep(5000) }
            mount.revoke()
            state.markRevoked()
            for _ in 0..<workers { finished.wait() }
            let (before, after) = state.snapshot
            #expect(before[.plaintext, default: 0] > 0, "no read succeeded before the revocation")
            #expect(before[.wrongBytes, default: 0] == 0)
            #expect(before[.otherError, default: 0] == 0)
            #expect(after[.eio, default: 0] == 50 * workers, "after revoke: \(after)")
            #expect(mount.cachedPlaintextBytes == 0)
            #expect(!mount.holdsKeyMaterial)
        }
    }
}

final class RaceState: @unchecked Sendable {
    enum Outcome: Hashable { case plaintext, wrongBytes, eio, otherError }
    private let lock = NSLock()
    private var revoked = false
    private var before: [Outcome: Int] = [:]
    private var after: [Outcome: Int] = [:]

    var revokeReturned: Bool {
        lock.lock()
        defer { lock.unlock() }
        return revoked
    }

    func markRevoked() {
        lock.lock()
        revoked = true
        lock.unlock()
    }

    func record(after isAfter: Bool, outcome: Outcome) {
        lock.lock()
        if isAfter { after[outcome, default: 0] += 1 } else { before[outcome, default: 0] += 1 }
        lock.unlock()
    }

    var snapshot: (before: [Outcome: Int], after: [Outcome: Int]) {
        lock.lock()
        defer { lock.unlock() }
        return (before, after)
    }
}
