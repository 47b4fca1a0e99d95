import Foundation
import PlaneCrypto
import Sealing
import TestSupport
import Testing

/// Every kind of tampering is detected, and no tampered byte is ever returned.
@Suite struct TamperTests {
    private func open(_ sealed: URL, key: SecretBytes = testKey(), digest: [UInt8]? = nil) throws -> SealedDataset {
        try SealedDataset(root: sealed.path, keySource: InMemoryKeySource(key: key), expectedManifestDigest: digest)
    }

    private func verifyFailure(_ sealed: URL) -> SealingError.Code? {
        do {
            try open(sealed).verify()
            return nil
        } catch { return (error as? SealingError)?.code }
    }

    @Test func flippingAnyByteOfAnyFileIsDetected() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let tree = PlainTree.boundaries(chunk: 4096)
        let (sealed, result) = try sealTree(tree, in: dir)
        var rng = DeterministicBytes(seed: 9)
        var objects = tree.files.keys.map { objectURL(sealed, result, $0) }
        objects.append(sealed.appendingPathComponent(SealedFormat.manifestFileName))
        for url in objects {
            let original = try Data(contentsOf: url)
            // Every header byte, plus a sample of body bytes (ciphertext and tags).
            var positions = Array(0..<96)
            for _ in 0..<40 { positions.append(96 + Int(rng.next() % UInt64(original.count - 96))) }
            for position in positions {
                try editFile(url) { $0[position] ^= 0x40 }
                #expect(verifyFailure(sealed) != nil, "flip at \(position) of \(url.lastPathComponent)")
                try original.write(to: url)
            }
        }
        #expect(verifyFailure(sealed) == nil)
    }

    @Test func swappedChunksWithinAFileFailAuthentication() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        var rng = DeterministicBytes(seed: 3)
        let (sealed, result) = try sealTree(PlainTree(files: ["f": rng.bytes(4096 * 4)]), in: dir)
        let stride = 4096 + 16
        try editFile(objectURL(sealed, result, "f")) { b in
            let first = Array(b[96..<96 + stride])
            b[96..<96 + stride] = b[96 + stride..<96 + 2 * stride]
            b[96 + stride..<96 + 2 * stride] = first[...]
        }
        #expect(verifyFailure(sealed) == .authenticationFailed)
    }

    @Test func swappedChunksAcrossFilesFailAuthentication() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        var rng = DeterministicBytes(seed: 4)
        let (sealed, result) = try sealTree(PlainTree(files: ["a": rng.bytes(8192), "b": rng.bytes(8192)]), in: dir)
        let a = try Data(contentsOf: objectURL(sealed, result, "a"))
        try editFile(objectURL(sealed, result, "b")) { b in b[96..<96 + 4112] = [UInt8](a[96..<96 + 4112])[...] }
        #expect(verifyFailure(sealed) == .authenticationFailed)
    }

    @Test func truncationAtAChunkBoundaryIsDetected() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        var rng = DeterministicBytes(seed: 5)
        let (sealed, result) = try sealTree(PlainTree(files: ["f": rng.bytes(4096 * 3)]), in: dir)
        try editFile(objectURL(sealed, result, "f")) { $0.removeLast(4112) }
        #expect(verifyFailure(sealed) == .mismatch)
    }

    @Test func replayedOlderVersionOfAFileIsDetected() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let (old, oldResult) = try sealTree(PlainTree(files: ["f": Array("version 1".utf8)]), in: dir, name: "v1")
        let (new, newResult) = try sealTree(PlainTree(files: ["f": Array("version 2".utf8)]), in: dir, name: "v2")
        try FileManager.default.removeItem(at: objectURL(new, newResult, "f"))
        try FileManager.default.copyItem(at: objectURL(old, oldResult, "f"), to: objectURL(new, newResult, "f"))
        #expect(verifyFailure(new) == .mismatch)
    }

    @Test func replacedManifestFailsTheOnChainDigest() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let (old, _) = try sealTree(PlainTree(files: ["f": [1]]), in: dir, name: "v1")
        let (new, newResult) = try sealTree(PlainTree(files: ["f": [2]]), in: dir, name: "v2")
        let manifest = SealedFormat.manifestFileName
        try FileManager.default.removeItem(at: new.appendingPathComponent(manifest))
        try FileManager.default.copyItem(
            at: old.appendingPathComponent(manifest),
            to: new.appendingPathComponent(manifest)
        )
        #expect {
            try open(new, digest: newResult.manifestDigest)
        } throws: { ($0 as? SealingError)?.code == .mismatch }
    }

    @Test func editedManifestFailsAuthentication() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let (sealed, _) = try sealTree(PlainTree(files: ["f": [1]]), in: dir)
        try editFile(sealed.appendingPathComponent(SealedFormat.manifestFileName)) { $0[$0.count - 20] ^= 1 }
        #expect { try open(sealed) } throws: { ($0 as? SealingError)?.code == .authenticationFailed }
    }

    @Test func wrongKeyIsRefusedWithAClearError() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let (sealed, _) = try sealTree(PlainTree(files: ["f": [1]]), in: dir)
        #expect {
            try open(sealed, key: testKey(8))
        } throws: { "\($0)".contains("wrong key") && ($0 as? SealingError)?.code == .authenticationFailed }
    }

    @Test func tamperedChunkReadReturnsNoBytes() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        var rng = DeterministicBytes(seed: 6)
        let (sealed, result) = try sealTree(PlainTree(files: ["f": rng.bytes(4096 * 3)]), in: dir)
        try editFile(objectURL(sealed, result, "f")) { $0[96 + 4112 + 100] ^= 1 }  // chunk 1
        let dataset = try open(sealed)
        let reader = try dataset.openFile(dataset.manifest.entries[0])
        var buffer = [UInt8](repeating: 0xEE, count: 4096 * 3)
        #expect {
            try buffer.withUnsafeMutableBytes { try reader.read(at: 0, into: $0) }
        } throws: { ($0 as? SealingError)?.chunkIndex == 1 }
        #expect(buffer.allSatisfy { $0 == 0 })  // wiped: neither chunk 0 nor the tampered plaintext remain
    }
}
