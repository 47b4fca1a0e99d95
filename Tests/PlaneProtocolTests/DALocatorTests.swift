import ChainCore
import Foundation
import PlaneProtocol
import Testing

struct DALocatorTests {
    static let bundle = try! Hash32(Array(repeating: 0x11, count: 32))
    static let runtime = try! Hash32(Array(repeating: 0x22, count: 32))

    @Test func theLocatorRoundTripsAndRecomputesTheImageDigest() throws {
        let locator = DALocator(bundle: Self.bundle, runtime: Self.runtime)
        let text = locator.description
        #expect(
            text == "da:sha256:" + String(repeating: "11", count: 32) + "?runtime=sha256:"
                + String(repeating: "22", count: 32)
        )
        #expect(try DALocator.parse(Array(text.utf8)) == locator)
        let image = ImageDigest.of(runtime: Self.runtime, bundle: Self.bundle)
        #expect(
            try DALocator.check(imageDigest: image, bundleDigest: Self.bundle, locator: Array(text.utf8)) == locator
        )
    }

    @Test func aRecordWhosePairDoesNotMakeItsImageIsRefusedNamingBoth() throws {
        let text = Array(DALocator(bundle: Self.bundle, runtime: Self.runtime).description.utf8)
        let other = try Hash32(Array(repeating: 0x33, count: 32))
        #expect(throws: PlaneProtocolError.self) {
            try DALocator.check(imageDigest: other, bundleDigest: Self.bundle, locator: text)
        }
        #expect(throws: PlaneProtocolError.self) {
            try DALocator.check(
                imageDigest: ImageDigest.of(runtime: Self.runtime, bundle: other),
                bundleDigest: other,
                locator: text
            )
        }
    }

    @Test(arguments: [
        "", "da:", "ipfs://x", String(repeating: "a", count: 154),
        "da:sha256:" + String(repeating: "1", count: 64) + "?runtime=sha256:" + String(repeating: "G", count: 64),
        "da:sha256:" + String(repeating: "A", count: 64) + "?runtime=sha256:" + String(repeating: "2", count: 64),
        "da:sha256:" + String(repeating: "1", count: 64) + "&runtime=sha256:" + String(repeating: "2", count: 64),
        "da:sha256:" + String(repeating: "1", count: 64) + "?runtime=sha256:" + String(repeating: "2", count: 64) + " ",
    ])
    func malformedLocatorsAreRefused(_ text: String) {
        #expect(throws: PlaneProtocolError.self) { try DALocator.parse(Array(text.utf8)) }
    }

    @Test func theStoreAddressesByContentAndRefusesTamperedObjects() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("da-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = DAStore(root: root)
        let bytes = Array("bundle bytes".utf8)
        let digest = try store.put(bytes)
        #expect(digest == BundleDigest.of(bytes))
        #expect(try store.get(digest) == bytes)
        #expect(try store.put(bytes) == digest, "putting the same bytes again is a no-op")
        // A planted object under that address is caught on read, and replaced by the next put.
        try Data("other".utf8).write(to: URL(fileURLWithPath: store.path(of: digest)))
        #expect(throws: PlaneProtocolError.self) { try store.get(digest) }
        try store.put(bytes)
        #expect(try store.get(digest) == bytes)
        let missing = try Hash32(Array(repeating: 0, count: 32))
        #expect(throws: PlaneProtocolError.self) { try store.get(missing) }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root + "/sha256")
        #expect(leftovers == [Hex.encode(digest.bytes, prefix: false)], "no temporary file is left")
    }
}
