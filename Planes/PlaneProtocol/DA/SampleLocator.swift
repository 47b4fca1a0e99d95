public import ChainCore

/// Where a dataset's desensitized sample lives: the `sampleLocator` string of `DataMarket.registerDataset` /
/// `updateDataset`, in one of two exact forms:
///
///     sample:sha256:<64 hex>                          (78 bytes) a plain sample
///     sample:sealed:0x<64 hex>:sha256:<64 hex>        (152 bytes) a sample sealed under that dataset's key
///
/// The sample is one canonical tar (the bundle format: ustar, sorted, fixed modes and times) of the directory
/// `delong dataset sample` wrote, kept in a DA store under the digest. A plain sample's digest names the tar; a
/// sealed sample's names the sealed bytes (one sealed file v1 holding the tar, sealed under the key of the
/// dataset the locator names: the sample's own dataset id, registered by the same provider). The digest is on
/// chain, so the plane checks the bytes it fetched before it asks for any key or mounts anything.
///
/// Any other string (a free-form URL, as older registrations hold) names no sample the plane can serve.
public struct SampleLocator: Sendable, Hashable, CustomStringConvertible {
    /// The stored bytes' content address in a DA store (the tar, or the sealed file holding it).
    public let digest: Hash32
    /// The dataset whose key seals the sample; nil for a plain sample.
    public let sealedUnder: Hash32?

    public init(digest: Hash32, sealedUnder: Hash32? = nil) {
        self.digest = digest
        self.sealedUnder = sealedUnder
    }

    /// The sample archive limits: larger than a bundle's, still read whole into memory.
    public static let limits = CanonicalTar.Limits(maxArchiveBytes: 256 << 20, maxEntries: 10_000)
    /// The most a sealed sample may add to its archive: the sealed header and a tag per 4 KiB chunk at worst.
    public static let maxSealingOverhead = 96 + 16 * (limits.maxArchiveBytes / 4096 + 1)

    public var description: String {
        if let sealedUnder { return "sample:sealed:" + sealedUnder.hex + ":" + BundleDigest.text(digest) }
        return "sample:" + BundleDigest.text(digest)
    }

    /// Parses one of the exact forms; anything else (another scheme, upper-case hex, extra text) is refused.
    public static func parse(_ bytes: [UInt8]) throws(PlaneProtocolError) -> SampleLocator {
        let head = Array("sample:".utf8)
        let sealedHead = Array("sample:sealed:".utf8)
        let expected = "expected sample:sha256:<64 hex> or sample:sealed:0x<64 hex>:sha256:<64 hex>"
        let found = "found \"\(BundlePath.display(bytes.prefix(200)))\""
        let parsed: SampleLocator
        if bytes.count == sealedHead.count + 66 + 1 + 71, bytes.starts(with: sealedHead),
            bytes[sealedHead.count + 66] == UInt8(ascii: ":")
        {
            let id = String(decoding: bytes[sealedHead.count..<(sealedHead.count + 66)], as: UTF8.self)
            let dataset: Hash32
            do { dataset = try Hash32(hex: id) } catch {
                throw PlaneProtocolError(.malformed, "sample locator: \(expected), \(found)")
            }
            parsed = SampleLocator(
                digest: try BundleDigest.parse(String(decoding: bytes[(sealedHead.count + 67)...], as: UTF8.self)),
                sealedUnder: dataset
            )
        } else if bytes.count == head.count + 71, bytes.starts(with: head) {
            parsed = SampleLocator(
                digest: try BundleDigest.parse(String(decoding: bytes[head.count...], as: UTF8.self))
            )
        } else {
            throw PlaneProtocolError(.malformed, "sample locator: \(expected), \(found)")
        }
        guard Array(parsed.description.utf8) == bytes else {
            throw PlaneProtocolError(.malformed, "sample locator: expected lower-case hex, \(found)")
        }
        return parsed
    }
}

/// A published sample: the canonical archive of a sample directory and its entries.
public struct PublishedSample: Sendable {
    public let archive: [UInt8]
    public let entries: [BundleEntry]
    public var digest: Hash32 { BundleDigest.of(archive) }
    public var locator: SampleLocator { SampleLocator(digest: digest) }

    /// Packs a sample directory (the tables and report.json `delong dataset sample` wrote) canonically.
    /// Links and special files are refused, as in bundles.
    public static func packed(directory: String) throws(PlaneProtocolError) -> PublishedSample {
        let entries = try BundleTree.entries(under: directory, limits: SampleLocator.limits)
        guard entries.contains(where: { $0.contents != nil }) else {
            throw PlaneProtocolError(.malformed, "\(directory): expected the sample's tables, found no files")
        }
        try CanonicalTar.checkParents(entries)
        let archive = try CanonicalTar.encode(entries, limits: SampleLocator.limits)
        return PublishedSample(archive: archive, entries: entries.sorted { $0.path.lexicographicallyPrecedes($1.path) })
    }

    /// The sample behind a plain `locator`, from bytes fetched anywhere: refused unless they hash to the
    /// locator's digest and are a canonical archive.
    public static func verified(_ bytes: [UInt8], locator: SampleLocator) throws(PlaneProtocolError) -> PublishedSample
    {
        try checkDigest(bytes, locator: locator)
        return try decoded(bytes)
    }

    /// Refuses `bytes` unless they hash to the locator's digest (for a sealed sample: the sealed bytes, checked
    /// before any key is asked for).
    public static func checkDigest(_ bytes: [UInt8], locator: SampleLocator) throws(PlaneProtocolError) {
        let found = BundleDigest.of(bytes)
        guard found == locator.digest else {
            throw PlaneProtocolError(
                .notCanonical,
                "sample: the chain names \(BundleDigest.text(locator.digest)), the bytes fetched hash to "
                    + BundleDigest.text(found)
            )
        }
    }

    /// The sample in a canonical archive (a sealed sample's, once opened; its digest was checked sealed).
    public static func decoded(_ archive: [UInt8]) throws(PlaneProtocolError) -> PublishedSample {
        let entries = try CanonicalTar.verify(archive, limits: SampleLocator.limits)
        return PublishedSample(archive: archive, entries: entries)
    }
}
