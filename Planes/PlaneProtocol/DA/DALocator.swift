public import ChainCore

/// Where a published algorithm's bundle lives and which runtime its image digest binds: the `daLocator` string
/// of `AlgorithmRegistry.publish`, `da:sha256:<bundle hex>?runtime=sha256:<runtime hex>` (154 bytes).
///
/// The contract records the image and bundle digests but not the runtime, and the image digest cannot be
/// recomputed without it; the locator carries it, so the plane and the auditor can check the pair.
public struct DALocator: Sendable, Hashable, CustomStringConvertible {
    /// The bundle's content address in a DA store.
    public let bundle: Hash32
    /// The runtime digest the image digest was computed with.
    public let runtime: Hash32

    public init(bundle: Hash32, runtime: Hash32) {
        self.bundle = bundle
        self.runtime = runtime
    }

    /// The image digest this locator's pair defines.
    public var imageDigest: Hash32 { ImageDigest.of(runtime: runtime, bundle: bundle) }

    public var description: String {
        "da:" + BundleDigest.text(bundle) + "?runtime=" + BundleDigest.text(runtime)
    }

    /// Parses the exact form; anything else (another scheme, upper-case hex, extra text) is refused.
    public static func parse(_ bytes: [UInt8]) throws(PlaneProtocolError) -> DALocator {
        let head = Array("da:".utf8)
        let separator = Array("?runtime=".utf8)
        let digestLength = 71  // sha256:<64 hex>
        let split = head.count + digestLength
        guard bytes.count == split + separator.count + digestLength, bytes.starts(with: head),
            Array(bytes[split..<(split + separator.count)]) == separator
        else {
            throw PlaneProtocolError(
                .malformed,
                "DA locator: expected da:sha256:<64 hex>?runtime=sha256:<64 hex>, found "
                    + BundlePath.display(bytes.prefix(200))
            )
        }
        let text = { (range: Range<Int>) in String(decoding: bytes[range], as: UTF8.self) }
        let bundle = try BundleDigest.parse(text(head.count..<split))
        let runtime = try BundleDigest.parse(text((split + separator.count)..<bytes.count))
        let parsed = DALocator(bundle: bundle, runtime: runtime)
        // One spelling per locator: lower-case hex only, as `description` writes it.
        guard Array(parsed.description.utf8) == bytes else {
            throw PlaneProtocolError(.malformed, "DA locator: expected lower-case hex digests")
        }
        return parsed
    }

    /// Checks an `AlgorithmPublished` record: its locator parses, names the bundle digest the record carries,
    /// and the pair recomputes to the record's image digest. A record that fails names what disagrees.
    public static func check(
        imageDigest: Hash32,
        bundleDigest: Hash32,
        locator: [UInt8]
    ) throws(PlaneProtocolError) -> DALocator {
        let parsed = try parse(locator)
        guard parsed.bundle == bundleDigest else {
            throw PlaneProtocolError(
                .malformed,
                "algorithm record: the locator names bundle \(BundleDigest.text(parsed.bundle)), the record "
                    + BundleDigest.text(bundleDigest)
            )
        }
        guard parsed.imageDigest == imageDigest else {
            throw PlaneProtocolError(
                .malformed,
                "algorithm record: runtime \(BundleDigest.text(parsed.runtime)) and bundle "
                    + "\(BundleDigest.text(bundleDigest)) make image \(BundleDigest.text(parsed.imageDigest)), "
                    + "the record says \(BundleDigest.text(imageDigest))"
            )
        }
        return parsed
    }
}
