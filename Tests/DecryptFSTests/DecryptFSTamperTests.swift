import DecryptFS
import Foundation
import Glibc
import Logging
import PlaneCrypto
import Sealing
import TestSupport
import Testing

/// Tampering seen through the mount: EIO for the affected reads, never a wrong byte.
@Suite struct DecryptFSTamperTests {
    private func object(_ dir: URL, _ result: Sealer.Result, _ path: String) -> URL {
        let entry = result.manifest.entries.first { $0.path == path }!
        return dir.appendingPathComponent("sealed").appendingPathComponent(SealedFormat.objectPath(for: entry.fileID!))
    }

    private func edit(_ url: URL, _ body: (inout [UInt8]) -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: url))
        body(&bytes)
        try Data(bytes).write(to: url)
    }

    @Test func flippedByteGivesEIOForItsChunkAndCorrectBytesElsewhere() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = DeterministicBytes(seed: 5)
        let data = rng.bytes(4096 * 4)
        let result = try MountHarness.seal(files: ["f.bin": data], in: dir)
        try edit(object(dir, result, "f.bin")) { $0[96 + 2 * 4112 + 7] ^= 0x80 }  // chunk 2
        try MountHarness.withMount(dir) { (mnt: URL) throws in
            let url = mnt.appendingPathComponent("f.bin")
            #expect(MountHarness.pread(url, offset: 0, count: 8192) == .success(Array(data[0..<8192])))
            #expect(MountHarness.pread(url, offset: 8192, count: 4096) == .failure(.EIO))
            #expect(MountHarness.pread(url, offset: 8192 + 100, count: 10) == .failure(.EIO))
            #expect(MountHarness.pread(url, offset: 12288, count: 4096) == .success(Array(data[12288...])))
            #expect(MountHarness.readAll(url) == .failure(.EIO))
        }
    }

    @Test func authenticationFailureIsLoggedOnceWithFileAndChunkAndNoKey() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = DeterministicBytes(seed: 8)
        let result = try MountHarness.seal(files: ["secret.csv": rng.bytes(4096 * 2)], in: dir)
        try edit(object(dir, result, "secret.csv")) { $0[96 + 4112 + 1] ^= 1 }  // chunk 1
        let logs = LogCapture()
        try MountHarness.withMount(dir, cacheBytes: 0, logs: logs) { (mnt: URL) throws in
            for _ in 0..<5 {
                #expect(
                    MountHarness.pread(mnt.appendingPathComponent("secret.csv"), offset: 4096, count: 4096)
                        == .failure(.EIO)
                )
            }
        }
        let failures = logs.all.filter { $0.level == .error }
        #expect(failures.count == 1)
        #expect(failures.first?.metadata["file.path"] == "secret.csv")
        #expect(failures.first?.metadata["chunk.index"] == "1")
        let keyHex = HexBytes.encode([UInt8](repeating: 9, count: 32))
        #expect(!logs.all.contains { "\($0.message) \($0.metadata)".contains(keyHex) })
    }

    @Test func swappedChunksWithinAndAcrossFilesGiveEIO() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = DeterministicBytes(seed: 6)
        let a = rng.bytes(4096 * 3)
        let b = rng.bytes(4096 * 3)
        let result = try MountHarness.seal(files: ["a.bin": a, "b.bin": b], in: dir)
        let stride = 4112
        let sealedA = [UInt8](try Data(contentsOf: object(dir, result, "a.bin")))
        try edit(object(dir, result, "b.bin")) { $0[96..<96 + stride] = sealedA[96..<96 + stride] }  // across files
        try edit(object(dir, result, "a.bin")) { bytes in  // within a file: chunks 0 and 1 swapped
            let first = Array(bytes[96..<96 + stride])
            bytes[96..<96 + stride] = bytes[96 + stride..<96 + 2 * stride]
            bytes[96 + stride..<96 + 2 * stride] = first[...]
        }
        try MountHarness.withMount(dir) { (mnt: URL) throws in
            #expect(MountHarness.pread(mnt.appendingPathComponent("b.bin"), offset: 0, count: 4096) == .failure(.EIO))
            #expect(
                MountHarness.pread(mnt.appendingPathComponent("b.bin"), offset: 4096, count: 4096)
                    == .success(Array(b[4096..<8192]))
            )
            #expect(MountHarness.pread(mnt.appendingPathComponent("a.bin"), offset: 0, count: 4096) == .failure(.EIO))
            #expect(
                MountHarness.pread(mnt.appendingPathComponent("a.bin"), offset: 4096, count: 4096) == .failure(.EIO)
            )
            #expect(
                MountHarness.pread(mnt.appendingPathComponent("a.bin"), offset: 8192, count: 4096)
                    == .success(Array(a[8192...]))
            )
        }
    }

    @Test func truncatedOrReplayedObjectsFailToOpenWithEIO() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: old) }
        var rng = DeterministicBytes(seed: 7)
        let oldResult = try MountHarness.seal(files: ["r.bin": rng.bytes(5000)], in: old)
        let result = try MountHarness.seal(files: ["t.bin": rng.bytes(4096 * 3), "r.bin": rng.bytes(5000)], in: dir)
        try edit(object(dir, result, "t.bin")) { $0.removeLast(4112) }  // truncated at a chunk boundary
        let replayed = object(dir, result, "r.bin")
        try FileManager.default.removeItem(at: replayed)
        try FileManager.default.copyItem(at: object(old, oldResult, "r.bin"), to: replayed)  // older version
        try MountHarness.withMount(dir) { (mnt: URL) throws in
            #expect(MountHarness.pread(mnt.appendingPathComponent("t.bin"), offset: 0, count: 10) == .failure(.EIO))
            #expect(MountHarness.pread(mnt.appendingPathComponent("r.bin"), offset: 0, count: 10) == .failure(.EIO))
        }
    }

    @Test func wrongKeyOrEditedManifestRefusesToMount() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try MountHarness.seal(files: ["x": [1]], in: dir)
        let sealed = dir.appendingPathComponent("sealed")
        #expect {
            try SealedDataset(root: sealed.path, keySource: InMemoryKeySource(key: MountHarness.key(1)))
        } throws: { ($0 as? SealingError)?.code == .authenticationFailed }
        try edit(sealed.appendingPathComponent(SealedFormat.manifestFileName)) { $0[100] ^= 1 }
        #expect {
            try SealedDataset(root: sealed.path, keySource: InMemoryKeySource(key: MountHarness.key()))
        } throws: { ($0 as? SealingError)?.code == .authenticationFailed }
    }
}
