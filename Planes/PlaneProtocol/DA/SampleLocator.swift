public import ChainCore

/// Where a dataset's desensitized sample lives: the `sampleLocator` string of `DataMarket.registerDataset` /
/// `updateDataset`, `sample:sha256:<64 hex>` (78 bytes). The sample is one canonical tar (the bundle format:
/// ustar, sorted, fixed modes and times) of the directory `delong dataset sample` wrote, kept in a DA store
/// under that digest. The digest is on chain, so the plane checks the bytes it fetched before it mounts them.
///
/// Any other string (a free-form URL, as older registrations hold) names no sample the plane can serve.
public struct SampleLocator: Sendable, Hashable, CustomStringConvertible {
    /// The archive's content address in a DA store.
    public let digest: Hash32

    public init(digest: Hash32) { self.digest = digest }

    /// The sample archive limits: larger than a bundle's, still read whole into memory.
    public static let limits = CanonicalTar.Limits(maxArchiveBytes: 256 << 20, maxEntries: 10_000)

    public var description: String { "sample:" + BundleDigest.text(digest) }

    /// Parses the exact form; anything else (another scheme, upper-case hex, extra text) is refused.
    public static func parse(_ bytes: [UInt8]) throws(PlaneProtocolError) -> SampleLocator {
        let head = Array("sample:".utf8)
        guard bytes.count == head.count + 71, bytes.starts(with: head) else {
            throw PlaneProtocolError(
                .malformed,
                "sample locator: expected sample:sha256:<64 hex>, found \"\(BundlePath.display(bytes.prefix(200)))\""
            )
        }
        let parsed = SampleLocator(
            digest: try BundleDigest.parse(String(decoding: bytes[head.count...], as: UTF8.self))
        )
        guard Array(parsed.description.utf8) == bytes else {
            throw PlaneProtocolError(.malformed, "sample locator: expected a lower-case hex digest")
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

    /// The sample behind `locator`, from bytes fetched anywhere: refused unless they hash to the locator's
    /// digest and are a canonical archive.
    public static func verified(_ bytes: [UInt8], locator: SampleLocator) throws(PlaneProtocolError) -> PublishedSample
    {
        let found = BundleDigest.of(bytes)
        guard found == locator.digest else {
            throw PlaneProtocolError(
                .notCanonical,
                "sample: the chain names \(BundleDigest.text(locator.digest)), the bytes fetched hash to "
                    + BundleDigest.text(found)
            )
        }
        let entries = try CanonicalTar.verify(bytes, limits: SampleLocator.limits)
        return PublishedSample(archive: bytes, entries: entries)
    }
}
