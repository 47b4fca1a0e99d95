import PlaneCrypto
import Sealing
import TestSupport
import Testing

/// A sealed blob (what a sealed sample is): one sealed file v1 around a byte string, opened only with the key
/// and dataset id it was sealed for, and never with any byte changed.
@Suite struct SealedBlobTests {
    static let dataset = try! DatasetID(bytes: Array(repeating: 0x5a, count: 32))

    static func plaintext(_ count: Int) -> [UInt8] {
        var rng = DeterministicBytes(seed: 3)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    @Test(arguments: [0, 1, 1 << 20, (5 << 20) / 2])
    func aBlobOpensToItsPlaintextWithItsKeyAndDataset(_ count: Int) throws {
        let plain = Self.plaintext(count)
        let sealed = try SealedBlob.seal(plain, datasetKey: testKey(), datasetID: Self.dataset, keyVersion: 3)
        let header = try SealedBlob.header(of: sealed, maxPlaintext: count, source: "blob")
        #expect(header.keyVersion == 3 && header.datasetID == Self.dataset && header.kind == .data)
        #expect(sealed.count == 96 + 16 * Int(header.chunkCount) + count)
        let opened = try SealedBlob.open(
            sealed,
            datasetKey: testKey(),
            datasetID: Self.dataset,
            maxPlaintext: count,
            source: "blob"
        )
        #expect(opened == plain)
        // Two sealings of the same bytes differ (a fresh file id): the digest names one sealing.
        #expect(try SealedBlob.seal(plain, datasetKey: testKey(), datasetID: Self.dataset, keyVersion: 3) != sealed)
    }

    @Test func anotherKeyDatasetLengthOrAnyFlippedByteIsRefused() throws {
        let plain = Self.plaintext((3 << 20) / 2)
        let sealed = try SealedBlob.seal(plain, datasetKey: testKey(), datasetID: Self.dataset, keyVersion: 1)
        func code(
            _ bytes: [UInt8],
            key: SecretBytes = testKey(),
            dataset: DatasetID = SealedBlobTests.dataset,
            max: Int = 2 << 20
        ) -> SealingError.Code? {
            do {
                _ = try SealedBlob.open(bytes, datasetKey: key, datasetID: dataset, maxPlaintext: max, source: "blob")
                return nil
            } catch { return error.code }
        }
        #expect(code(sealed) == nil)
        #expect(code(sealed, key: testKey(8)) == .authenticationFailed)
        #expect(code(sealed, dataset: try DatasetID(bytes: Array(repeating: 1, count: 32))) == .mismatch)
        #expect(code(sealed, max: plain.count - 1) == .malformed)
        #expect(code(Array(sealed.dropLast())) == .malformed)
        #expect(code(sealed + [0]) == .malformed)
        var rng = DeterministicBytes(seed: 11)
        var positions = Array(0..<96)
        for _ in 0..<64 { positions.append(96 + Int(rng.next() % UInt64(sealed.count - 96))) }
        for position in positions {
            var flipped = sealed
            flipped[position] ^= 0x40
            #expect(code(flipped) != nil, "a flip at byte \(position) was accepted")
        }
    }
}
