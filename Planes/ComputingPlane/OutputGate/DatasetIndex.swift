import Foundation
import Sampling

/// What the gate knows about a dataset, built once from its plaintext CSV or Parquet tables and `delong-policy.json`.
/// It holds 64-bit hashes of normalized values, never the values:
/// - identifiers: the values of key and direct-identifier columns (values shared by `k` or more rows are not
///   identifying and are left out, as are purely numeric values of fewer than 6 digits and values shorter than
///   4 characters, which any table of numbers would match);
/// - row fingerprints: an order-independent hash of each row's normalized non-free-text cells;
/// - record triples: for each row, every set of 3 distinct quasi-identifier, sensitive or date cells (at most
///   6 such columns per table, so at most 20 keys per row), leaving out values held by more than 2 % of the
///   table's rows (and more than k), which an aggregate table would match by chance;
/// - canaries: the rare values the policy lists for canaries, and the fingerprints and triples of canary rows.
public struct DatasetIndex: Sendable {
    /// Where an identifier hash came from (table and column), for findings that must not quote the value.
    struct Source: Sendable, Hashable {
        var table: String
        var column: String
        var role: String
    }

    var sources: [Source] = []
    /// identifier hash → index into `sources`.
    var identifiers: [UInt64: Int32] = [:]
    /// The most words an indexed identifier has (names), capped at 6.
    var maxIdentifierWords = 1
    /// Hashes of every quasi-identifier, sensitive and date value (candidates for triples).
    var recordValues: Set<UInt64> = []
    var triples: Set<UInt64> = []
    /// For each value of a row with triples, the rows holding it (numbered over all tables), as
    /// `start << 32 | count` into `recordRowList`: a sliding window of many values asks which row three of them
    /// share instead of looking up each of its triples.
    var recordRowSpans: [UInt64: UInt64] = [:]
    var recordRowList: [Int32] = []
    /// One bit per hash (its top bits) of every identifier, canary and record value, so a scan that tries many
    /// candidates (every word of every line, the digit windows) skips the lookups for those that are none.
    /// Empty means "maybe" for all.
    var valueBits: [UInt64] = []
    var valueBitsShift: UInt64 = 0
    var rowFingerprints: Set<UInt64> = []
    /// canary value hash → canary number.
    var canaryValues: [UInt64: Int32] = [:]
    /// Hashes of every value of every canary (rare or not), for the "two canary values on one line" rule.
    var canaryAnyValues: [UInt64: Int32] = [:]
    var canaryFingerprints: Set<UInt64> = []
    var canaryTriples: Set<UInt64> = []
    /// The policy's smallest releasable count.
    public private(set) var minCellCount = 10
    /// Rows indexed, over all tables.
    public private(set) var rowCount = 0
    /// The policy's thresholds (the statistical checks read all of them).
    var thresholds = DatasetPolicy.Thresholds()
    /// Typed columns of each table for statistical re-derivation (quasi-identifier, sensitive, date, other)
    /// and the entity of each row.
    var statTables: [StatTable] = []

    static let maxRecordColumns = 6
    static let maxWords = 6

    /// Builds the index from the policy bytes and table name → file bytes (every table the policy lists; a name
    /// ending in `.parquet` is read as Parquet, any other as CSV).
    public init(policyJSON: [UInt8], tables: [String: [UInt8]]) throws(ComputingPlaneError) {
        let policy: DatasetPolicy
        do {
            policy = try DatasetPolicy(json: policyJSON)
        } catch {
            throw ComputingPlaneError(.badInput, error.reason)
        }
        var parsed: [String: CSVTable] = [:]
        for name in policy.tables.keys.sorted() {
            guard let bytes = tables[name] else {
                throw ComputingPlaneError(.badInput, "table \(name) is listed in the policy but was not found")
            }
            do {
                parsed[name] = try TableReader.parse(bytes, name: name)
            } catch {
                throw ComputingPlaneError(.badInput, error.reason)
            }
        }
        try self.init(policy: policy, tables: parsed)
    }

    /// An empty index (the cache fills it in).
    init() {}

    mutating func restore(minCellCount: Int, rowCount: Int) {
        self.minCellCount = minCellCount
        self.rowCount = rowCount
    }

    /// Reads `dataDir` (never writes to it): the policy at `policyPath` (default `dataDir/delong-policy.json`)
    /// and every table it lists (CSV, or Parquet when the name ends in `.parquet`). The index is loaded from, or stored in, the cache
    /// directory (`DatasetIndexCache`; default `$XDG_CACHE_HOME/delong`); nil builds it in memory only.
    public static func load(
        dataDir: String,
        policyPath: String? = nil,
        cacheDirectory: String? = DatasetIndexCache.directory()
    ) throws(ComputingPlaneError) -> DatasetIndex {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dataDir, isDirectory: &isDir), isDir.boolValue,
            fm.isReadableFile(atPath: dataDir)
        else {
            throw ComputingPlaneError(
                .badInput,
                "--data \(dataDir): expected a readable directory of CSV or Parquet tables"
            )
        }
        let policyFile = policyPath ?? (dataDir as NSString).appendingPathComponent("delong-policy.json")
        let policyBytes = try read(policyFile, limit: DatasetPolicy.maxBytes)
        let policy: DatasetPolicy
        do {
            policy = try DatasetPolicy(json: policyBytes)
        } catch {
            throw ComputingPlaneError(.badInput, "\(policyFile): \(error.reason)")
        }
        var tables: [String: [UInt8]] = [:]
        for name in policy.tables.keys {
            tables[name] = try read((dataDir as NSString).appendingPathComponent(name), limit: 4 << 30)
        }
        return try DatasetIndexCache.index(policy: policyBytes, tables: tables, directory: cacheDirectory).index
    }

    static func read(_ path: String, limit: Int) throws(ComputingPlaneError) -> [UInt8] {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let size = attributes?[.size] as? Int, size > limit {
            throw ComputingPlaneError(.badInput, "\(path): \(size) bytes, larger than the limit of \(limit)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ComputingPlaneError(.badInput, "\(path): expected a readable file, found none")
        }
        return Array(data)
    }

    init(policy: DatasetPolicy, tables: [String: CSVTable]) throws(ComputingPlaneError) {
        minCellCount = policy.thresholds.minCellCount
        thresholds = policy.thresholds
        for canary in policy.canaries {
            let count = tables[canary.table]?.rows.count ?? 0
            guard canary.row < count else {
                throw ComputingPlaneError(
                    .badInput,
                    "policy: a canary of \(canary.table) names data row \(canary.row) (0-based) but the table has \(count) data rows"
                )
            }
        }
        let k = policy.thresholds.k
        // Counted per column: a key repeated in a child table (a foreign key) stays identifying in its own table.
        var identifierCounts: [UInt64: (hash: UInt64, count: Int32, source: Int32, words: Int)] = [:]
        var canaryRows: [String: [Int: Int32]] = [:]
        for (number, canary) in policy.canaries.enumerated() {
            canaryRows[canary.table, default: [:]][canary.row] = Int32(number)
        }
        // Every canary value, and per column value counts to tell rare canary values from common ones.
        var canaryValueColumns: [UInt64: (canary: Int32, table: String, column: String)] = [:]
        for (number, canary) in policy.canaries.enumerated() {
            for (column, value) in canary.values {
                let h = GateText.hash(GateText.normalize(value))
                canaryAnyValues[h] = Int32(number)
                canaryValueColumns[h] = (Int32(number), canary.table, column)
            }
        }
        var canaryValueCounts: [UInt64: Int] = [:]
        var postings: [(value: UInt64, row: Int32)] = []

        for name in tables.keys.sorted() {
            guard let table = tables[name], let entry = policy.tables[name] else { continue }
            var columnIndex: [(index: Int, role: ColumnRole, source: Int32)] = []
            for column in entry.columns.keys.sorted() {
                guard let index = table.column(column) else {
                    throw ComputingPlaneError(
                        .badInput,
                        "table \(name): the policy lists column \"\(column)\" but the header does not have it"
                    )
                }
                let role = entry.columns[column]!
                sources.append(Source(table: name, column: column, role: role.rawValue))
                columnIndex.append((index, role, Int32(sources.count - 1)))
            }
            let recordColumns = columnIndex.filter {
                $0.role == .quasiIdentifier || $0.role == .sensitive || $0.role == .date
            }.prefix(Self.maxRecordColumns)
            // Values held by more than 2 % of rows (and at least k) are too common to tie a line to a row: an
            // aggregate by region and sex must not read as a record. They are left out of the triples.
            let commonAbove = max(k, table.rows.count / 50)
            var common: [Int: Set<UInt64>] = [:]
            for column in recordColumns {
                var counts: [UInt64: Int32] = [:]
                for row in table.rows {
                    let normalized = GateText.normalize(row[column.index])
                    if !normalized.isEmpty { counts[GateText.hash(normalized), default: 0] += 1 }
                }
                common[column.index] = Set(counts.filter { Int($0.value) > commonAbove }.keys)
            }
            statTables.append(StatTable(name: name, table: table, entry: entry))
            for (rowNumber, row) in table.rows.enumerated() {
                rowCount += 1
                let canary = canaryRows[name]?[rowNumber]
                var cellHashes: [UInt64] = []
                var recordHashes: [UInt64] = []
                for column in columnIndex {
                    let normalized = GateText.normalize(row[column.index])
                    guard !normalized.isEmpty else { continue }
                    let h = GateText.hash(normalized)
                    if let found = canaryValueColumns[h], found.table == name,
                        table.header[column.index] == found.column
                    {
                        canaryValueCounts[h, default: 0] += 1
                    }
                    if column.role != .freeText { cellHashes.append(h) }
                    if column.role == .key || column.role == .directIdentifier {
                        let words = normalized.split(separator: " ").count
                        let digitsOnly = normalized.allSatisfy { $0.isASCIIDigit || $0 == "." || $0 == "-" }
                        let weak = normalized.count < 4 || (digitsOnly && normalized.filter(\.isASCIIDigit).count < 6)
                        if !weak && words <= Self.maxWords {
                            let slot = GateText.mix(h ^ UInt64(column.source))
                            var entry =
                                identifierCounts[slot] ?? (hash: h, count: 0, source: column.source, words: words)
                            entry.count += 1
                            identifierCounts[slot] = entry
                        }
                    }
                }
                for column in recordColumns {
                    let normalized = GateText.normalize(row[column.index])
                    guard !normalized.isEmpty else { continue }
                    let h = GateText.hash(normalized)
                    if common[column.index]?.contains(h) == true { continue }
                    recordValues.insert(h)
                    if !recordHashes.contains(h) { recordHashes.append(h) }
                }
                let fingerprint = GateText.fingerprint(cellHashes)
                if cellHashes.count >= 2 { rowFingerprints.insert(fingerprint) }
                if canary != nil { canaryFingerprints.insert(fingerprint) }
                if recordHashes.count >= 3 {
                    for h in recordHashes { postings.append((h, Int32(truncatingIfNeeded: rowCount - 1))) }
                    for a in 0..<recordHashes.count {
                        for b in (a + 1)..<recordHashes.count {
                            for c in (b + 1)..<recordHashes.count {
                                let key = GateText.triple(recordHashes[a], recordHashes[b], recordHashes[c])
                                triples.insert(key)
                                if canary != nil { canaryTriples.insert(key) }
                            }
                        }
                    }
                }
                if let canary {
                    // A canary row's identifiers are canary values however common they are.
                    for column in columnIndex where column.role == .key || column.role == .directIdentifier {
                        let normalized = GateText.normalize(row[column.index])
                        if normalized.count >= 4 { canaryValues[GateText.hash(normalized)] = canary }
                    }
                }
            }
        }
        setRecordRows(postings)
        for entry in identifierCounts.values.sorted(by: { $0.source < $1.source }) where Int(entry.count) < k {
            if identifiers[entry.hash] == nil { identifiers[entry.hash] = entry.source }
            maxIdentifierWords = max(maxIdentifierWords, entry.words)
        }
        // A listed canary value counts alone when it is rare in its column (or absent: a planted value).
        for (h, found) in canaryValueColumns where (canaryValueCounts[h] ?? 0) < k {
            canaryValues[h] = found.canary
        }
        // Multi-word canary values (names) need as many words in the n-gram scan.
        maxIdentifierWords = max(
            maxIdentifierWords,
            policy.canaries.flatMap(\.values.values).map {
                min(Self.maxWords, GateText.normalize($0).split(separator: " ").count)
            }.max() ?? 1
        )
        setValueBits()
    }

    /// Fills `valueBits` from `identifiers`, `canaryValues`, `canaryAnyValues` and `recordValues` (about 16 bits
    /// per value).
    mutating func setValueBits() {
        let values = identifiers.count + canaryValues.count + canaryAnyValues.count + recordValues.count
        var bits = 1 << 16
        while bits < values * 16 && bits < 1 << 31 { bits <<= 1 }
        var words = [UInt64](repeating: 0, count: bits / 64)
        let shift = UInt64(64 - bits.trailingZeroBitCount)
        func set(_ h: UInt64) {
            let bit = Int(h >> shift)
            words[bit >> 6] |= 1 << UInt64(bit & 63)
        }
        for h in identifiers.keys { set(h) }
        for h in canaryValues.keys { set(h) }
        for h in canaryAnyValues.keys { set(h) }
        for h in recordValues { set(h) }
        valueBits = words
        valueBitsShift = shift
    }

    /// Bit k set when `mayBeValue(hashes[k])`, for the first `count` (at most 32) hashes. Without a branch per
    /// hash, so the filter's cache misses overlap.
    func valueBitMask(_ hashes: [UInt64], count: Int) -> UInt32 {
        precondition(count <= 32 && count <= hashes.count)
        guard !valueBits.isEmpty else { return count == 32 ? .max : (1 << UInt32(count)) &- 1 }
        let shift = valueBitsShift
        return valueBits.withUnsafeBufferPointer { words in
            hashes.withUnsafeBufferPointer { hashes in
                var mask: UInt32 = 0
                for k in 0..<count {
                    let bit = Int(hashes[k] >> shift)
                    mask |= UInt32(truncatingIfNeeded: (words[bit >> 6] >> UInt64(bit & 63)) & 1) << UInt32(k)
                }
                return mask
            }
        }
    }

    /// False when `h` is certainly no identifier, canary or record value.
    @inline(__always)
    func mayBeValue(_ h: UInt64) -> Bool {
        guard !valueBits.isEmpty else { return true }
        let bit = Int(h >> valueBitsShift)
        return valueBits[bit >> 6] & (1 << UInt64(bit & 63)) != 0
    }

    /// Fills `recordRowSpans` and `recordRowList` from (value, row) pairs.
    mutating func setRecordRows(_ postings: [(value: UInt64, row: Int32)]) {
        let sorted = postings.sorted { $0.value != $1.value ? $0.value < $1.value : $0.row < $1.row }
        recordRowList = sorted.map(\.row)
        recordRowSpans = [:]
        var start = 0
        while start < sorted.count {
            var end = start + 1
            while end < sorted.count, sorted[end].value == sorted[start].value { end += 1 }
            recordRowSpans[sorted[start].value] = UInt64(start) << 32 | UInt64(end - start)
            start = end
        }
    }

    /// The rows whose triples hold the record value `h` (empty when none).
    func recordRows(_ h: UInt64) -> ArraySlice<Int32> {
        guard let span = recordRowSpans[h] else { return [] }
        let start = Int(span >> 32)
        let end = start + Int(span & 0xFFFF_FFFF)
        guard start <= end, end <= recordRowList.count else { return [] }
        return recordRowList[start..<end]
    }

    func describe(_ source: Int32) -> String {
        let s = sources[Int(source)]
        return "\(s.table) column \"\(s.column)\" (\(s.role))"
    }
}
