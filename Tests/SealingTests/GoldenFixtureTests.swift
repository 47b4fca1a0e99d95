import Foundation
import PlaneCrypto
import Sealing
import TestSupport
import Testing

/// The v1 golden fixture decrypts forever, and an independent implementation agrees with ours.
@Suite struct GoldenFixtureTests {
    static var fixtures: URL {
        if let url = Bundle.module.resourceURL?.appendingPathComponent("Fixtures"),
            FileManager.default.fileExists(atPath: url.appendingPathComponent("v1").path)
        {
            return url
        }
        return TestData.packageRoot.appendingPathComponent("Tests/SealingTests/Fixtures")
    }

    struct Expected: Decodable {
        struct Entry: Decodable {
            let path: String
            let kind: String
            let size: UInt64?
            let sha256: String?
        }
        let dataset_id: String
        let key_hex: String
        let manifest_digest: String
        let readme_text: String
        let entries: [Entry]
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(
            Expected.self,
            from: Data(contentsOf: fixtures.appendingPathComponent("v1/expected.json"))
        )
    }

    @Test func goldenV1DatasetStillDecrypts() throws {
        let expected = try Self.expected()
        let key = SecretBytes(copying: HexBytes.decode(expected.key_hex)!)
        let digest = HexBytes.decode(expected.manifest_digest)!
        let dataset = try SealedDataset(
            root: Self.fixtures.appendingPathComponent("v1/sealed").path,
            keySource: InMemoryKeySource(key: key),
            expectedManifestDigest: digest,
            expectedDatasetID: try DatasetID(hex: expected.dataset_id)
        )
        #expect(dataset.manifest.entries.map(\.path) == expected.entries.map(\.path))
        for (entry, want) in zip(dataset.manifest.entries, expected.entries) {
            #expect((entry.kind == .file ? "file" : "directory") == want.kind)
            if entry.kind == .file {
                #expect(entry.size == want.size)
                #expect(HexBytes.encode(entry.sha256) == want.sha256)
            }
        }
        try dataset.verify()
        let readme = dataset.manifest.entries.first { $0.path == "README.txt" }!
        let reader = try dataset.openFile(readme)
        var buffer = [UInt8](repeating: 0, count: Int(readme.size))
        _ = try buffer.withUnsafeMutableBytes { try reader.read(at: 0, into: $0) }
        #expect(String(decoding: buffer, as: UTF8.self) == expected.readme_text)
    }

    @Test func independentPythonReaderAgreesOnGoldenAndFreshDatasets() throws {
        let expected = try Self.expected()
        let golden = try runReference(Self.fixtures.appendingPathComponent("v1/sealed"), keyHex: expected.key_hex)
        #expect("0x" + (golden["manifest_digest"] as? String ?? "") == expected.manifest_digest)

        // A fresh dataset sealed now with the default chunk size must also open in the reference reader.
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let key: [UInt8] = (0..<32).map { UInt8($0 * 3 + 1) }
        let (sealed, result) = try sealTree(
            PlainTree.boundaries(chunk: Int(SealedFormat.defaultChunkSize)),
            in: dir,
            key: SecretBytes(copying: key),
            chunkSize: SealedFormat.defaultChunkSize
        )
        let fresh = try runReference(sealed, keyHex: HexBytes.encode(key))
        #expect(fresh["manifest_digest"] as? String == HexBytes.encode(result.manifestDigest))
        let entries = fresh["entries"] as? [[String: Any]] ?? []
        #expect(entries.count == result.manifest.entries.count)
        for (mine, theirs) in zip(result.manifest.entries, entries) where mine.kind == .file {
            #expect(theirs["sha256"] as? String == HexBytes.encode(mine.sha256))
        }
        // And it must reject what we reject: a flipped ciphertext byte.
        try editFile(objectURL(sealed, result, "sizes/1.bin")) { $0[96] ^= 1 }
        #expect(throws: (any Error).self) { try runReference(sealed, keyHex: HexBytes.encode(key)) }
    }

    /// Runs reference_v1.py (Python `cryptography`); fails with instructions if it cannot run.
    private func runReference(_ sealed: URL, keyHex: String) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", Self.fixtures.appendingPathComponent("reference_v1.py").path, sealed.path, keyHex,
        ]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if errors.contains("No module named") {
            Issue.record(
                "the differential test needs python3 with `cryptography` (apt-get install python3-cryptography): \(errors)"
            )
        }
        guard process.terminationStatus == 0 else { throw ReferenceFailure(message: errors) }
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    struct ReferenceFailure: Error { let message: String }
}
