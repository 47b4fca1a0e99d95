import ChainCore
import Foundation
import PlaneProtocol
import TestSupport
import Testing

/// The sample locator (`sample:sha256:<hex>`) and the published sample archive: GNU tar writes the same bytes,
/// and only the bytes the chain names are accepted.
@Suite struct SampleLocatorTests {
    static func sampleTree() throws -> URL {
        try CanonicalTarTests.makeTree(
            files: [
                "accounts.csv": (Array("account_id,postcode\np1,SW1\n".utf8), 0o644),
                "report.json": (Array("{\"k\": 10}\n".utf8), 0o600),
                "more/transactions.csv": (Array("account_id,amount\np1,12\n".utf8), 0o644),
            ]
        )
    }

    @Test func aSampleIsPackedAsGNUTarWouldAndItsLocatorRoundTrips() throws {
        let root = try Self.sampleTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let sample = try PublishedSample.packed(directory: root.path)
        #expect(sample.archive == (try CanonicalTarTests.gnuTarBytes(of: root)))
        let text = sample.locator.description
        #expect(text == "sample:sha256:" + Hex.encode(sample.digest.bytes, prefix: false))
        #expect(try SampleLocator.parse(Array(text.utf8)) == sample.locator)
        let back = try PublishedSample.verified(sample.archive, locator: sample.locator)
        #expect(back.entries == sample.entries)
    }

    /// A sealed sample's locator names the dataset whose key seals it and the digest of the sealed bytes; it
    /// parses back to exactly that, and its 152 bytes are the only spelling.
    @Test func aSealedLocatorNamesTheSampleDatasetAndTheSealedBytes() throws {
        let dataset = Keccak256.hash(utf8: "sample dataset")
        let digest = BundleDigest.of(Array("sealed bytes".utf8))
        let locator = SampleLocator(digest: digest, sealedUnder: dataset)
        let text = locator.description
        #expect(text == "sample:sealed:" + dataset.hex + ":sha256:" + Hex.encode(digest.bytes, prefix: false))
        #expect(text.utf8.count == 152)
        let parsed = try SampleLocator.parse(Array(text.utf8))
        #expect(parsed == locator && parsed.sealedUnder == dataset && parsed.digest == digest)
        #expect(try SampleLocator.parse(Array(SampleLocator(digest: digest).description.utf8)).sealedUnder == nil)
        // The digest is of the bytes stored, whatever they are: a sealed sample is checked before any key.
        #expect(throws: PlaneProtocolError.self) {
            try PublishedSample.checkDigest(Array("other bytes".utf8), locator: locator)
        }
        try PublishedSample.checkDigest(Array("sealed bytes".utf8), locator: locator)
    }

    @Test func bytesOtherThanTheOnesTheChainNamesAreRefusedNamingBothDigests() throws {
        let root = try Self.sampleTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let sample = try PublishedSample.packed(directory: root.path)
        var flipped = sample.archive
        flipped[600] ^= 1
        do {
            _ = try PublishedSample.verified(flipped, locator: sample.locator)
            Issue.record("a flipped byte was accepted")
        } catch {
            #expect(error.reason.contains(BundleDigest.text(sample.digest)), "\(error)")
            #expect(error.reason.contains(BundleDigest.text(BundleDigest.of(flipped))), "\(error)")
        }
        // A well-formed but non-canonical archive (GNU tar's default format, with times and owners) whose
        // digest the locator names is refused too: only canonical bytes are a sample.
        let (loose, status) = try CanonicalTarTests.shell("tar -cf - accounts.csv", in: root)
        #expect(status == 0)
        #expect(throws: PlaneProtocolError.self) {
            _ = try PublishedSample.verified(loose, locator: SampleLocator(digest: BundleDigest.of(loose)))
        }
        let empty = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(throws: PlaneProtocolError.self) { _ = try PublishedSample.packed(directory: empty.path) }
    }

    @Test(arguments: [
        "", "sample:", "s3://bucket/sample", "https://example.org/sample.csv",
        "sample:sha256:" + String(repeating: "A", count: 64),
        "sample:sha256:" + String(repeating: "1", count: 63),
        "sample:sha256:" + String(repeating: "1", count: 64) + " ",
        "da:sha256:" + String(repeating: "1", count: 64),
        // Sealed forms: the dataset id needs 0x and lower-case hex, the parts their exact separators.
        "sample:sealed:" + String(repeating: "2", count: 66) + ":sha256:" + String(repeating: "1", count: 64),
        "sample:sealed:0x" + String(repeating: "A", count: 64) + ":sha256:" + String(repeating: "1", count: 64),
        "sample:sealed:0x" + String(repeating: "2", count: 64) + ":sha256:" + String(repeating: "A", count: 64),
        "sample:sealed:0x" + String(repeating: "2", count: 64) + "/sha256:" + String(repeating: "1", count: 64),
        "sample:sealed:0x" + String(repeating: "2", count: 64) + ":sha256:" + String(repeating: "1", count: 63),
        "sample:sealed:0x" + String(repeating: "2", count: 64) + ":sha256:" + String(repeating: "1", count: 64) + "\n",
        "sample:sealed:sha256:" + String(repeating: "1", count: 64),
    ])
    func malformedLocatorsAreRefused(_ text: String) {
        #expect(throws: PlaneProtocolError.self) { try SampleLocator.parse(Array(text.utf8)) }
    }
}
