import Foundation
import PlaneCrypto
import Sampling

/// The gate's index cache: `$XDG_CACHE_HOME/delong` (default `~/.cache/delong`), one file per dataset keyed by
/// the SHA-256 of the policy and of every table (and the format version). It is written to a temporary file
/// and renamed, so concurrent runs never see a partial file; a file that does not parse or whose checksum does
/// not match is ignored and rebuilt. DATA_DIR is never written.
public enum DatasetIndexCache {
    /// Bumped whenever the index's content or encoding changes.
    static let formatVersion: UInt64 = 2
    static let magic: [UInt8] = Array("DLGIDX01".utf8)

    /// The cache directory: `$XDG_CACHE_HOME/delong`, else `$HOME/.cache/delong`.
    public static func directory(environment: [String: String]? = nil) -> String? {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return (xdg as NSString).appendingPathComponent("delong")
        }
        guard let home = environment["HOME"], home.hasPrefix("/") else { return nil }
        return (home as NSString).appendingPathComponent(".cache/delong")
    }

    /// The cache key: format version, policy and each table (name and SHA-256), as hex.
    static func key(policy: [UInt8], tables: [String: [UInt8]]) -> String {
        var material: [UInt8] = Array("delong-gate-index v\(formatVersion)\n".utf8)
        material += Digest.sha256(policy)
        for name in tables.keys.sorted() {
            material += Array("\n\(name)\n".utf8) + Digest.sha256(tables[name]!)
        }
        return Digest.sha256(material).map { String(format: "%02x", $0) }.joined()
    }

    /// Loads the index for `policy` and `tables` from the cache under `directory`, or builds it and stores it
    /// there. `hit` says which. A cache that cannot be written is not an error (the index is still returned).
    public static func index(
        policy: [UInt8],
        tables: [String: [UInt8]],
        directory: String?
    ) throws(ComputingPlaneError) -> (index: DatasetIndex, hit: Bool) {
        guard let directory else { return (try DatasetIndex(policyJSON: policy, tables: tables), false) }
        let key = key(policy: policy, tables: tables)
        let path = (directory as NSString).appendingPathComponent("gate-index-\(key).bin")
        if let data = FileManager.default.contents(atPath: path), let index = decode(Array(data), key: key) {
            return (index, true)
        }
        let index = try DatasetIndex(policyJSON: policy, tables: tables)
        store(encode(index, key: key), at: path, directory: directory)
        return (index, false)
    }

    static func store(_ bytes: [UInt8], at path: String, directory: String) {
        let fm = FileManager.default
        do {
            try fm.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
            guard fm.createFile(atPath: temporary, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                return
            }
            if rename(temporary, path) != 0 { try? fm.removeItem(atPath: temporary) }
        } catch {
            return
        }
    }

    // MARK: Encoding

    static func encode(_ index: DatasetIndex, key: String) -> [UInt8] {
        var w = Writer()
        w.bytes += magic
        w.u64(formatVersion)
        w.string(key)
        w.int(index.sources.count)
        for s in index.sources {
            w.string(s.table)
            w.string(s.column)
            w.string(s.role)
        }
        w.int(index.identifiers.count)
        for (h, s) in index.identifiers {
            w.u64(h)
            w.i32(s)
        }
        w.int(index.maxIdentifierWords)
        w.set(index.recordValues)
        w.set(index.triples)
        w.int(index.recordRowSpans.count)
        for (h, span) in index.recordRowSpans {
            w.u64(h)
            w.u64(span)
        }
        w.i32s(index.recordRowList)
        w.set(index.rowFingerprints)
        for map in [index.canaryValues, index.canaryAnyValues] {
            w.int(map.count)
            for (h, c) in map {
                w.u64(h)
                w.i32(c)
            }
        }
        w.set(index.canaryFingerprints)
        w.set(index.canaryTriples)
        w.int(index.minCellCount)
        w.int(index.rowCount)
        let t = index.thresholds
        for v in [t.minCellCount, t.dominanceN, t.minDegreesOfFreedom, t.k] { w.int(v) }
        w.f64(t.dominanceK)
        w.f64(t.pPercent)
        w.int(index.statTables.count)
        for table in index.statTables {
            w.string(table.name)
            w.int(table.rowCount)
            w.string(table.entityName)
            w.i32s(table.entities)
            w.int(table.columns.count)
            for c in table.columns {
                w.string(c.name)
                w.string(c.normalizedName)
                w.string(c.role.rawValue)
                w.int(c.nonNegative ? 1 : 0)
                w.int(c.dictionary.count)
                for (value, code) in c.dictionary.sorted(by: { $0.value < $1.value }) {
                    w.string(value)
                    w.i32(code)
                }
                w.i32s(c.codes)
                w.f64s(c.numbers)
                w.i32s(c.months)
            }
        }
        w.bytes += Digest.sha256(w.bytes)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8], key: String) -> DatasetIndex? {
        guard bytes.count > magic.count + 32, bytes.starts(with: magic) else { return nil }
        let body = Array(bytes[..<(bytes.count - 32)])
        guard Digest.sha256(body) == Array(bytes[(bytes.count - 32)...]) else { return nil }
        var r = Reader(bytes: body, at: magic.count)
        do {
            guard try r.u64() == formatVersion, try r.string() == key else { return nil }
            var index = DatasetIndex()
            for _ in 0..<(try r.count()) {
                index.sources.append(.init(table: try r.string(), column: try r.string(), role: try r.string()))
            }
            let identifiers = try r.count()
            index.identifiers.reserveCapacity(identifiers)
            for _ in 0..<identifiers { index.identifiers[try r.u64()] = try r.i32() }
            index.maxIdentifierWords = try r.int()
            index.recordValues = try r.set()
            index.triples = try r.set()
            let spans = try r.count()
            guard spans * 16 <= body.count - r.at else { return nil }
            index.recordRowSpans.reserveCapacity(spans)
            for _ in 0..<spans { index.recordRowSpans[try r.u64()] = try r.u64() }
            index.recordRowList = try r.i32s()
            for span in index.recordRowSpans.values
            where Int(span >> 32) + Int(span & 0xFFFF_FFFF) > index.recordRowList.count {
                return nil
            }
            index.rowFingerprints = try r.set()
            for _ in 0..<(try r.count()) { index.canaryValues[try r.u64()] = try r.i32() }
            for _ in 0..<(try r.count()) { index.canaryAnyValues[try r.u64()] = try r.i32() }
            index.canaryFingerprints = try r.set()
            index.canaryTriples = try r.set()
            index.restore(minCellCount: try r.int(), rowCount: try r.int())
            var t = DatasetPolicy.Thresholds()
            t.minCellCount = try r.int()
            t.dominanceN = try r.int()
            t.minDegreesOfFreedom = try r.int()
            t.k = try r.int()
            t.dominanceK = try r.f64()
            t.pPercent = try r.f64()
            index.thresholds = t
            for _ in 0..<(try r.count()) {
                var table = StatTable(name: try r.string(), rowCount: try r.int(), entityName: try r.string())
                table.entities = try r.i32s()
                for _ in 0..<(try r.count()) {
                    let name = try r.string()
                    let normalized = try r.string()
                    guard let role = ColumnRole(rawValue: try r.string()) else { return nil }
                    var c = StatColumn(name: name, normalizedName: normalized, role: role)
                    c.nonNegative = try r.int() == 1
                    for _ in 0..<(try r.count()) { c.dictionary[try r.string()] = try r.i32() }
                    c.codes = try r.i32s()
                    c.numbers = try r.f64s()
                    c.months = try r.i32s()
                    for array in [c.codes.count, c.numbers.count, c.months.count] where array != 0 {
                        guard array == table.rowCount else { return nil }
                    }
                    table.columns.append(c)
                }
                guard table.entities.isEmpty || table.entities.count == table.rowCount else { return nil }
                index.statTables.append(table)
            }
            guard r.at == body.count else { return nil }
            index.setValueBits()
            return index
        } catch {
            return nil
        }
    }

    struct Writer {
        var bytes: [UInt8] = []
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func int(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
        mutating func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func f64(_ v: Double) { u64(v.bitPattern) }
        mutating func string(_ s: String) {
            int(s.utf8.count)
            bytes.append(contentsOf: s.utf8)
        }
        mutating func set(_ s: Set<UInt64>) {
            int(s.count)
            bytes.reserveCapacity(bytes.count + s.count * 8)
            for v in s { u64(v) }
        }
        mutating func i32s(_ a: [Int32]) {
            int(a.count)
            a.withUnsafeBytes { bytes.append(contentsOf: $0) }
        }
        mutating func f64s(_ a: [Double]) {
            int(a.count)
            a.withUnsafeBytes { bytes.append(contentsOf: $0) }
        }
    }

    struct Malformed: Error {}

    struct Reader {
        let bytes: [UInt8]
        var at: Int

        mutating func take(_ n: Int) throws(Malformed) -> ArraySlice<UInt8> {
            guard n >= 0, n <= bytes.count - at else { throw Malformed() }
            defer { at += n }
            return bytes[at..<(at + n)]
        }
        mutating func u64() throws(Malformed) -> UInt64 {
            let s = try take(8)
            var v: UInt64 = 0
            for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
            return v
        }
        mutating func int() throws(Malformed) -> Int { Int(Int64(bitPattern: try u64())) }
        mutating func count() throws(Malformed) -> Int {
            let n = try int()
            guard n >= 0, n <= bytes.count - at else { throw Malformed() }
            return n
        }
        mutating func i32() throws(Malformed) -> Int32 {
            let s = try take(4)
            var v: UInt32 = 0
            for (i, b) in s.enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
            return Int32(bitPattern: v)
        }
        mutating func f64() throws(Malformed) -> Double { Double(bitPattern: try u64()) }
        mutating func string() throws(Malformed) -> String {
            let n = try count()
            guard let s = String(validating: try take(n), as: UTF8.self) else { throw Malformed() }
            return s
        }
        mutating func set() throws(Malformed) -> Set<UInt64> {
            let n = try count()
            guard n * 8 <= bytes.count - at else { throw Malformed() }
            var s = Set<UInt64>(minimumCapacity: n)
            for _ in 0..<n { s.insert(try u64()) }
            return s
        }
        mutating func i32s() throws(Malformed) -> [Int32] {
            let n = try count()
            let raw = try take(n * 4)
            return [Int32](unsafeUninitializedCapacity: n) { buffer, initialized in
                raw.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
                }
                initialized = n
            }
        }
        mutating func f64s() throws(Malformed) -> [Double] {
            let n = try count()
            let raw = try take(n * 8)
            return [Double](unsafeUninitializedCapacity: n) { buffer, initialized in
                raw.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
                }
                initialized = n
            }
        }
    }
}
