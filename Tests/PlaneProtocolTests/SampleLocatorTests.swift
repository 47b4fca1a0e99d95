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
    ])
    func malformedLocatorsAreRefused(_ text: String) {
        #expect(throws: PlaneProtocolError.self) { try SampleLocator.parse(Array(text.utf8)) }
    }
}
