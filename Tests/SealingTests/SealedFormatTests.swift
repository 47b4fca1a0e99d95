import Foundation
import PlaneCrypto
import Sealing
import TestSupport
import Testing

@Suite struct SealedFormatTests {
    @Test func boundarySizesRoundTripThroughSealAndUnseal() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let tree = PlainTree.boundaries(chunk: 4096)
        let (sealed, result) = try sealTree(tree, in: dir)
        let dataset = try SealedDataset(root: sealed.path, keySource: InMemoryKeySource(key: testKey()))
        #expect(dataset.manifestDigest == result.manifestDigest)
        try dataset.verify()
        let out = dir.appendingPathComponent("unsealed")
        try dataset.unseal(to: out.path)
        for (path, bytes) in tree.files {
            #expect([UInt8](try Data(contentsOf: out.appendingPathComponent(path))) == bytes, "\(path)")
        }
        var isDirectory: ObjCBool = false
        #expect(
            FileManager.default.fileExists(atPath: out.appendingPathComponent("empty").path, isDirectory: &isDirectory)
        )
        #expect(isDirectory.boolValue)
    }

    @Test func sealedSizeIsHeaderPlusTagsPlusPlaintext() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let tree = PlainTree.boundaries(chunk: 4096)
        let (sealed, result) = try sealTree(tree, in: dir)
        for (path, bytes) in tree.files {
            let size =
                try FileManager.default.attributesOfItem(atPath: objectURL(sealed, result, path).path)[.size] as! Int
            let chunks = max(1, (bytes.count + 4095) / 4096)
            #expect(size == 96 + 16 * chunks + bytes.count, "\(path)")
        }
    }

    @Test func randomOffsetReadsMatchPlaintext() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        var rng = DeterministicBytes(seed: 42)
        let data = rng.bytes(300_000)
        let (sealed, _) = try sealTree(PlainTree(files: ["f.bin": data]), in: dir)
        let dataset = try SealedDataset(root: sealed.path, keySource: InMemoryKeySource(key: testKey()))
        let reader = try dataset.openFile(dataset.manifest.entries[0])
        let cache = ChunkCache(capacityBytes: 64 * 1024)
        for _ in 0..<500 {
            let offset = Int(rng.next() % UInt64(data.count + 10))
            let length = Int(rng.next() % 70_000)
            var buffer = [UInt8](repeating: 0xEE, count: length)
            let n = try buffer.withUnsafeMutableBytes { try reader.read(at: UInt64(offset), into: $0, cache: cache) }
            let expected = offset >= data.count ? [] : Array(data[offset..<min(data.count, offset + length)])
            #expect(n == expected.count)
            #expect(Array(buffer.prefix(n)) == expected)
        }
        #expect(cache.currentBytes <= 64 * 1024)
    }

    @Test func headerRoundTripsAndHostileFieldsAreRefused() throws {
        let header = SealedFileHeader(
            kind: .data,
            chunkSize: 4096,
            plaintextLength: 12345,
            keyVersion: 3,
            datasetID: testDatasetID,
            fileID: try sealedFileID()
        )
        let bytes = header.encoded()
        #expect(bytes.count == 96)
        #expect(try SealedFileHeader.decode(bytes, source: "t") == header)

        func refused(_ edit: (inout [UInt8]) -> Void) -> SealingError.Code? {
            var b = bytes
            edit(&b)
            do {
                _ = try SealedFileHeader.decode(b, source: "t")
                return nil
            } catch { return error.code }
        }
        #expect(refused { $0[0] = 0 } == .malformed)  // magic
        #expect(refused { $0[9] = 2 } == .unsupportedVersion)
        #expect(refused { $0[12...15] = [0xFF, 0xFF, 0xFF, 0xFF] } == .malformed)  // 4 GiB chunk size
        #expect(refused { $0[12...15] = [0, 0, 0x30, 0] } == .malformed)  // not a power of two
        #expect(refused { $0[16...23] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] } == .malformed)
        #expect(refused { $0[11] = 1 } == .malformed)  // reserved
        #expect(refused { $0.removeLast(10) } == .malformed)  // truncated header
    }

    @Test func manifestRefusesTraversalAbsoluteAndDuplicatePaths() throws {
        let id = try sealedFileID()
        let digest = [UInt8](repeating: 0, count: 32)
        for bad in ["../escape", "a/../../b", "/etc/passwd", "a//b", "./a", "a/", ""] {
            #expect(throws: SealingError.self, "\(bad)") {
                try Manifest(entries: [.file(bad, fileID: id, size: 1, sha256: digest)])
            }
        }
        // Hand-encoded manifests (the encoder would not write these): duplicate, missing parent, lies.
        func encode(_ entries: [(UInt8, String)]) -> [UInt8] {
            var out = Array("DLMANIF1".utf8)
            out += withUnsafeBytes(of: UInt32(entries.count).bigEndian, Array.init)
            var n: UInt8 = 0
            for (kind, path) in entries {
                out.append(kind)
                out += withUnsafeBytes(of: UInt16(path.utf8.count).bigEndian, Array.init)
                out += Array(path.utf8)
                if kind == 2 {
                    n += 1
                    out += [UInt8](repeating: n, count: 32) + [UInt8](repeating: 0, count: 8 + 32)
                }
            }
            return out
        }
        #expect(throws: SealingError.self) { try Manifest.decode(encode([(2, "a"), (2, "a")])) }
        #expect(throws: SealingError.self) { try Manifest.decode(encode([(2, "x/y")])) }
        #expect(throws: SealingError.self) { try Manifest.decode(encode([(2, "../x")])) }
        #expect(throws: SealingError.self) { try Manifest.decode(encode([(2, "/abs")])) }
        #expect(throws: SealingError.self) { try Manifest.decode(encode([(7, "a")])) }
        var huge = encode([(2, "a")])
        huge[8...11] = [0xFF, 0xFF, 0xFF, 0xFF]  // claims 4 billion entries
        #expect(throws: SealingError.self) { try Manifest.decode(huge) }
        #expect(throws: SealingError.self) { try Manifest.decode(Array(encode([(2, "a")]).dropLast(5))) }
        #expect(try Manifest.decode(encode([(1, "d"), (2, "d/f")])).entries.count == 2)
    }

    @Test func keyFileAcceptsRawAndHexAndRefusesLoosePermissions() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let raw = dir.appendingPathComponent("raw")
        let hex = dir.appendingPathComponent("hex")
        let key = [UInt8](repeating: 0x5a, count: 32)
        try Data(key).write(to: raw)
        try Data(("0x" + String(repeating: "5a", count: 32) + "\n").utf8).write(to: hex)
        for url in [raw, hex] {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
            let loaded = try KeyFile(path: url.path).load()
            #expect(loaded.withUnsafeBytes { Array($0) } == key)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: raw.path)
        #expect {
            try KeyFile(path: raw.path).load()
        } throws: { ($0 as? SealingError)?.code == .keyRefused && "\($0)".contains("600") }
        let short = dir.appendingPathComponent("short")
        try Data([1, 2, 3]).write(to: short)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: short.path)
        #expect(throws: SealingError.self) { try KeyFile(path: short.path).load() }
    }

    @Test func sealRefusesExistingOutputAndLeavesNothingOnFailure() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let (sealed, _) = try sealTree(PlainTree(files: ["a": [1]]), in: dir)
        let sealer = try Sealer(options: .init(datasetID: testDatasetID, durable: false))
        #expect(throws: SealingError.self) {
            try sealer.seal(
                source: dir.appendingPathComponent("plain-sealed").path,
                output: sealed.path,
                keySource: InMemoryKeySource(key: testKey())
            )
        }
        // A symlink in the source aborts sealing; no output or staging directory remains.
        let source = dir.appendingPathComponent("withlink")
        try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: source.appendingPathComponent("l").path,
            withDestinationPath: "/etc/passwd"
        )
        let out = dir.appendingPathComponent("out2")
        #expect(throws: SealingError.self) {
            try sealer.seal(source: source.path, output: out.path, keySource: InMemoryKeySource(key: testKey()))
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("out2") }
        #expect(leftovers.isEmpty)
    }

    private func sealedFileID() throws -> FileID {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let (_, result) = try sealTree(PlainTree(files: ["x": [1]]), in: dir)
        return result.manifest.entries[0].fileID!
    }
}
