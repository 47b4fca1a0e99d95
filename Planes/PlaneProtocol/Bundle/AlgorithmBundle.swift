public import ChainCore
import Foundation
import PlaneCrypto

/// An algorithm bundle (DeLong bundle v1): a canonical ustar archive holding the entry script (`main.py` unless
/// `delong.json` names another) and an optional `delong.json` {entry, runtime, resources}.
///
/// Only `verified(archive:)` and `packed(entries:)` build one, so a value of this type is always canonical and
/// always names an entry file it holds. Its digest is sha256 of the archive bytes: what AlgorithmPublished
/// records as the bundle digest, and what the consumer CLI, the planes and the auditor all compute here.
public struct AlgorithmBundle: Sendable {
    /// The canonical archive bytes.
    public let archive: [UInt8]
    /// The entries, sorted by path.
    public let entries: [BundleEntry]
    /// sha256 of `archive`.
    public let digest: Hash32
    /// `delong.json`, or the defaults when the bundle has none.
    public let manifest: BundleManifest

    private init(archive: [UInt8], entries: [BundleEntry]) throws(PlaneProtocolError) {
        let sorted = entries.sorted { $0.path.lexicographicallyPrecedes($1.path) }
        let manifestEntry = sorted.first { $0.path == Array(BundleManifest.fileName.utf8) }
        let manifest: BundleManifest
        if let manifestEntry {
            guard let json = manifestEntry.contents else {
                throw PlaneProtocolError(.malformed, "\(BundleManifest.fileName): expected a file, found a directory")
            }
            manifest = try BundleManifest(json: json)
        } else {
            manifest = BundleManifest()
        }
        let entry = sorted.first { $0.path == Array(manifest.entry.utf8) }
        guard let entry, entry.contents != nil else {
            throw PlaneProtocolError(
                .malformed,
                "expected the entry script \(manifest.entry) as a file in the bundle, found "
                    + (entry == nil ? "no such path" : "a directory")
            )
        }
        self.archive = archive
        self.entries = sorted
        self.digest = BundleDigest.of(archive)
        self.manifest = manifest
    }

    /// A bundle from archive bytes, refused unless the archive is canonical and names an entry it holds.
    public static func verified(
        archive: [UInt8],
        limits: CanonicalTar.Limits = .standard
    ) throws(PlaneProtocolError) -> AlgorithmBundle {
        let entries = try CanonicalTar.verify(archive, limits: limits)
        return try AlgorithmBundle(archive: archive, entries: entries)
    }

    /// A bundle packed from entries (a tree read by `BundleTree.read`).
    public static func packed(
        entries: [BundleEntry],
        limits: CanonicalTar.Limits = .standard
    ) throws(PlaneProtocolError) -> AlgorithmBundle {
        try CanonicalTar.checkParents(entries)
        return try AlgorithmBundle(archive: try CanonicalTar.encode(entries, limits: limits), entries: entries)
    }
}

/// The text form of sha256 digests: `sha256:<64 lower-case hex>`, as OCI writes them.
public enum BundleDigest {
    /// sha256 of `bytes`.
    public static func of(_ bytes: [UInt8]) -> Hash32 {
        // sha256 always gives 32 bytes, which is exactly what Hash32 holds.
        try! Hash32(Digest.sha256(bytes))
    }

    /// `digest` as `sha256:<hex>`.
    public static func text(_ digest: Hash32) -> String { "sha256:" + Hex.encode(digest.bytes, prefix: false) }

    /// Parses `sha256:<64 hex>` (or `0x<64 hex>`, as digests appear on chain).
    public static func parse(_ text: String) throws(PlaneProtocolError) -> Hash32 {
        let hex = text.hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        do { return try Hash32(hex: hex) } catch {
            throw PlaneProtocolError(.malformed, "expected sha256:<64 hex digits>, found \"\(text.prefix(80))\"")
        }
    }
}

/// `delong.json`: which script runs, on which runtime, with which resources. Every field is optional; unknown
/// fields are refused, so a typo never silently changes what runs.
public struct BundleManifest: Sendable, Hashable {
    /// The file name of the manifest at the bundle's root.
    public static let fileName = "delong.json"

    /// The entry script's path in the bundle.
    public var entry: String = "main.py"
    /// The runtime digest the bundle asks for; nil runs the plane's default runtime.
    public var runtime: Hash32?
    /// Resource requests (the plane caps them with its own limits).
    public var resources = Resources()

    /// Resource requests of a job.
    public struct Resources: Sendable, Hashable {
        /// Memory in bytes.
        public var memoryBytes: UInt64?
        /// CPUs (decimals allowed).
        public var cpus: Double?
        /// Processes and threads.
        public var pids: Int?
        /// Wall-clock seconds.
        public var timeoutSeconds: Int?
        public init() {}
    }

    /// The defaults: `main.py` on the plane's default runtime.
    public init() {}

    /// Parses the manifest's JSON strictly.
    public init(json: [UInt8]) throws(PlaneProtocolError) {
        let file: ManifestFile
        do {
            file = try JSONDecoder().decode(ManifestFile.self, from: Data(json))
        } catch let error as PlaneProtocolError {
            throw error
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw PlaneProtocolError(.malformed, "\(Self.fileName): \(path): \(context.debugDescription)")
        } catch {
            throw PlaneProtocolError(.malformed, "\(Self.fileName): expected a JSON object (not valid JSON)")
        }
        if let entry = file.entry {
            try BundlePath.check(Array(entry.utf8))
            self.entry = entry
        }
        if let runtime = file.runtime { self.runtime = try BundleDigest.parse(runtime) }
        guard let r = file.resources else { return }
        let at = "\(Self.fileName): resources"
        switch r.memory {
        case .text(let text): resources.memoryBytes = try ByteSize.parse(text)
        case .number(let n): resources.memoryBytes = try Self.whole(n, "\(at).memory")
        case nil: break
        }
        if let cpus = r.cpus {
            guard cpus.isFinite, cpus >= 0.01, cpus <= 1024 else {
                throw PlaneProtocolError(.malformed, "\(at).cpus: expected 0.01 to 1024, found \(cpus)")
            }
            resources.cpus = cpus
        }
        if let pids = r.pids { resources.pids = Int(try Self.whole(pids, "\(at).pids")) }
        if let timeout = r.timeout { resources.timeoutSeconds = Int(try Self.whole(timeout, "\(at).timeout")) }
    }

    private static func whole(_ value: Double, _ field: String) throws(PlaneProtocolError) -> UInt64 {
        guard value.isFinite, value >= 1, value <= 1e15, value.rounded() == value else {
            throw PlaneProtocolError(.malformed, "\(field): expected a whole number of at least 1, found \(value)")
        }
        return UInt64(value)
    }

    /// The JSON shape, decoded with unknown keys refused.
    private struct ManifestFile: Decodable {
        var entry: String?
        var runtime: String?
        var resources: ResourcesFile?

        enum Size: Decodable {
            case text(String)
            case number(Double)
            init(from decoder: any Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let text = try? c.decode(String.self) {
                    self = .text(text)
                } else {
                    self = .number(try c.decode(Double.self))
                }
            }
        }
        struct ResourcesFile: Decodable {
            var memory: Size?
            var cpus: Double?
            var pids: Double?
            var timeout: Double?
            init(from decoder: any Decoder) throws {
                try BundleManifest.refuseUnknownKeys(
                    decoder,
                    allowed: ["memory", "cpus", "pids", "timeout"],
                    in: "resources"
                )
                let c = try decoder.container(keyedBy: AnyKey.self)
                memory = try c.decodeIfPresent(Size.self, forKey: AnyKey("memory"))
                cpus = try c.decodeIfPresent(Double.self, forKey: AnyKey("cpus"))
                pids = try c.decodeIfPresent(Double.self, forKey: AnyKey("pids"))
                timeout = try c.decodeIfPresent(Double.self, forKey: AnyKey("timeout"))
            }
        }
        init(from decoder: any Decoder) throws {
            try BundleManifest.refuseUnknownKeys(
                decoder,
                allowed: ["entry", "runtime", "resources"],
                in: "the top level"
            )
            let c = try decoder.container(keyedBy: AnyKey.self)
            entry = try c.decodeIfPresent(String.self, forKey: AnyKey("entry"))
            runtime = try c.decodeIfPresent(String.self, forKey: AnyKey("runtime"))
            resources = try c.decodeIfPresent(ResourcesFile.self, forKey: AnyKey("resources"))
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private static func refuseUnknownKeys(_ decoder: any Decoder, allowed: Set<String>, in place: String) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = c.allKeys.map(\.stringValue).sorted().first(where: { !allowed.contains($0) }) {
            throw PlaneProtocolError(
                .malformed,
                "\(fileName): unknown field \"\(unknown)\" in \(place); expected only "
                    + allowed.sorted().joined(separator: ", ")
            )
        }
    }
}

/// Sizes as people write them: bytes, or K/M/G (powers of 1000) and KiB/MiB/GiB (powers of 1024).
public enum ByteSize {
    /// Parses "2GiB", "512M", "1000" (bytes).
    public static func parse(_ text: String) throws(PlaneProtocolError) -> UInt64 {
        let units: [(String, UInt64)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
            ("K", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000), ("B", 1),
        ]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var number = Substring(trimmed)
        var scale: UInt64 = 1
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            number = trimmed.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = UInt64(number.trimmingCharacters(in: .whitespaces)), value > 0 else {
            throw PlaneProtocolError(
                .malformed,
                "expected a size like 2GiB, 512M or 1000 (bytes; K/M/G = 1000^n, KiB/MiB/GiB = 1024^n), found \"\(text)\""
            )
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow else { throw PlaneProtocolError(.malformed, "size \"\(text)\" is too large") }
        return product
    }
}

/// The image digest AlgorithmPublished records: it names the runtime and the bundle together.
///
/// imageDigest = sha256("delong/image/v1" ‖ runtimeDigest ‖ bundleDigest), both digests as their 32 bytes.
/// The planes and the auditor recompute it and refuse a record whose pair does not match.
public enum ImageDigest {
    /// The domain tag of image digests, version 1.
    public static let domain = Array("delong/image/v1".utf8)

    /// The image digest of `bundle` on `runtime`.
    public static func of(runtime: Hash32, bundle: Hash32) -> Hash32 {
        BundleDigest.of(domain + runtime.bytes + bundle.bytes)
    }
}
