import Foundation
import Sampling

/// Caps that keep an attacker-written output from exhausting the gate.
public struct GateLimits: Sendable {
    /// Most files checked in one output directory; the rest go to review.
    public var maxFiles = 10_000
    /// Largest file inspected; a larger one goes to review.
    public var maxFileBytes = 64 << 20
    /// Most nested decodings (base64 inside hex inside base64 …).
    public var maxDepth = 4
    /// Decoded bytes may not exceed this multiple of the file's size…
    public var maxExpansion = 64
    /// …nor this many bytes per file.
    public var maxDecodedBytes = 256 << 20
    /// Findings recorded per file (the decision still counts every one).
    public var maxFindingsPerFile = 200
    /// OCR of PNG and JPEG outputs (tesseract in a bubblewrap sandbox); `GateOCR(tesseract: nil, …)` forces
    /// the missing-tool path.
    public var ocr = GateOCR.system
    /// Seconds one file (with everything nested in it) may take; past it the rest goes to review.
    public var perFileSeconds = 20.0
    /// Most entries read from one archive; an archive with more goes to review.
    public var maxArchiveEntries = 10_000
    /// Most values (objects, strings, numbers) a pickle may build before it goes to review.
    public var maxPickleNodes = 4_000_000
    /// Text files at least this large run their numeric-channel pass and their table or text pass on two
    /// threads (their findings are then filed in the serial order); `Int.max` runs every file on one.
    public var concurrentPassBytes = 256 << 10
    /// When the current file's time budget ends (set when its scan starts).
    var deadline: ContinuousClock.Instant?

    /// The defaults.
    public init() {}
}

/// The Output Gate's first slice: file-level checks of every output against the dataset's index. Each check
/// returns findings with the place and the reason; the file decision is release (nothing found), block (a
/// certain finding: a value, row or canary of the dataset) or review (anything else).
public enum OutputGate {
    /// Extensions parsed in full.
    static let parsed: Set<String> = ["csv", "tsv", "json", "jsonl", "ndjson", "txt", "md", "log", "text"]

    /// Checks every regular file under `directory` (symbolic links are not followed and go to review).
    public static func check(
        directory: String,
        index: DatasetIndex,
        limits: GateLimits = GateLimits()
    ) throws(ComputingPlaneError) -> GateReport {
        try check(directory: directory, index: index, history: [], limits: limits)
    }

    /// Checks every regular file under `directory`, and its tables against `history`, the earlier releases on
    /// the dataset (path → bytes; see `StatisticalChecks.differencing`).
    public static func check(
        directory: String,
        index: DatasetIndex,
        history: [(path: String, bytes: [UInt8])],
        limits: GateLimits = GateLimits()
    ) throws(ComputingPlaneError) -> GateReport {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue,
            let walker = fm.enumerator(atPath: directory)
        else {
            throw ComputingPlaneError(.badInput, "OUT_DIR \(directory): expected a readable directory")
        }
        var paths: [String] = []
        while let path = walker.nextObject() as? String { paths.append(path) }
        paths.sort()
        // First what each path is, in order; then the readable files are checked on every core, the largest
        // first, each read by the worker that checks it (so at most one file per core is in memory).
        var verdicts: [GateFileVerdict?] = []
        var work: [(slot: Int, path: String, full: String, size: Int)] = []
        var checked = 0
        for path in paths {
            let full = (directory as NSString).appendingPathComponent(path)
            let attributes = try? fm.attributesOfItem(atPath: full)
            let type = attributes?[.type] as? FileAttributeType
            if type == .typeDirectory { continue }
            guard type == .typeRegular else {
                verdicts.append(
                    Self.notInspected(
                        path,
                        "not a regular file (a symbolic link or device): not followed, cannot inspect"
                    )
                )
                continue
            }
            checked += 1
            if checked > limits.maxFiles {
                verdicts.append(
                    Self.notInspected(path, "more than \(limits.maxFiles) files in the output: not inspected")
                )
                continue
            }
            let size = (attributes?[.size] as? Int) ?? 0
            if size > limits.maxFileBytes {
                verdicts.append(
                    Self.notInspected(
                        path,
                        "\(size) bytes, larger than the cap of \(limits.maxFileBytes): not inspected"
                    )
                )
                continue
            }
            work.append((verdicts.count, path, full, size))
            verdicts.append(nil)
        }
        let queue = work.sorted { $0.size > $1.size }
        let results = FileResults(count: verdicts.count)
        let keepBytes = !history.isEmpty
        let workers = min(queue.count, max(1, ProcessInfo.processInfo.activeProcessorCount))
        onEveryCore(workers) { _ in
            while let item = results.next(of: queue.count).map({ queue[$0] }) {
                guard let data = FileManager.default.contents(atPath: item.full) else {
                    results.store(item.slot, Self.notInspected(item.path, "could not be read: cannot inspect"), nil)
                    continue
                }
                let bytes = Array(data)
                let verdict = checkFile(path: item.path, bytes: bytes, index: index, limits: limits)
                results.store(item.slot, verdict, keepBytes ? bytes : nil)
            }
        }
        for (slot, verdict) in results.verdicts.enumerated() where verdict != nil { verdicts[slot] = verdict }
        // The tables for differencing, in path order.
        let tables = results.bytes.enumerated().compactMap { slot, bytes in
            bytes.map { (path: verdicts[slot]!.path, bytes: $0) }
        }
        return GateReport(
            files: differenced(verdicts.map { $0! }, files: tables, history: history, index: index)
        )
    }

    /// Runs `body(0..<count)`, `body(0)` on this thread and the rest on the global queue, and returns when all
    /// are done. Not `concurrentPerform`: libdispatch runs an apply nested in another one on fewer threads (often
    /// one), and the gate nests them (files, then a file's passes, then a table's rows).
    static func onEveryCore(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        guard count > 1 else {
            if count == 1 { body(0) }
            return
        }
        let done = DispatchGroup()
        for k in 1..<count { DispatchQueue.global().async(group: done) { body(k) } }
        body(0)
        done.wait()
    }

    /// What the workers of `check(directory:…)` hand out and hand back.
    private final class FileResults: @unchecked Sendable {
        private let lock = NSLock()
        private var taken = 0
        private(set) var verdicts: [GateFileVerdict?]
        private(set) var bytes: [[UInt8]?]

        init(count: Int) {
            verdicts = Array(repeating: nil, count: count)
            bytes = Array(repeating: nil, count: count)
        }

        /// The next unclaimed work item, or nil when all are taken.
        func next(of count: Int) -> Int? {
            lock.withLock {
                guard taken < count else { return nil }
                taken += 1
                return taken - 1
            }
        }

        func store(_ slot: Int, _ verdict: GateFileVerdict, _ fileBytes: [UInt8]?) {
            lock.withLock {
                verdicts[slot] = verdict
                bytes[slot] = fileBytes
            }
        }
    }

    /// Adds the differencing findings of `files` against `history` to their verdicts.
    static func differenced(
        _ verdicts: [GateFileVerdict],
        files: [(path: String, bytes: [UInt8])],
        history: [(path: String, bytes: [UInt8])],
        index: DatasetIndex
    ) -> [GateFileVerdict] {
        guard !history.isEmpty else { return verdicts }
        let found = StatisticalChecks.differencing(
            current: files,
            history: history,
            minCellCount: index.thresholds.minCellCount
        )
        return verdicts.map { verdict in
            guard let more = found[verdict.path], !more.isEmpty else { return verdict }
            return GateFileVerdict(path: verdict.path, findings: verdict.findings + more)
        }
    }

    /// Reads the earlier releases under `directory` (files, or folders of files; empty means none) as
    /// path → bytes. A missing or unreadable directory is bad input.
    public static func history(
        directory: String,
        limits: GateLimits = GateLimits()
    ) throws(ComputingPlaneError)
        -> [(path: String, bytes: [UInt8])]
    {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue,
            let walker = fm.enumerator(atPath: directory)
        else {
            throw ComputingPlaneError(
                .badInput,
                "--history \(directory): expected a readable directory of earlier releases"
            )
        }
        var files: [(path: String, bytes: [UInt8])] = []
        var total = 0
        while let path = walker.nextObject() as? String {
            let full = (directory as NSString).appendingPathComponent(path)
            let attributes = try? fm.attributesOfItem(atPath: full)
            guard attributes?[.type] as? FileAttributeType == .typeRegular else { continue }
            let size = (attributes?[.size] as? Int) ?? 0
            guard size <= limits.maxFileBytes, files.count < limits.maxFiles, total + size <= limits.maxDecodedBytes
            else {
                throw ComputingPlaneError(
                    .badInput,
                    "--history \(directory): more than \(limits.maxFiles) files or \(limits.maxDecodedBytes) bytes"
                )
            }
            guard let data = fm.contents(atPath: full) else {
                throw ComputingPlaneError(.badInput, "--history \(full): expected a readable file")
            }
            total += size
            files.append((path, Array(data)))
        }
        return files.sorted { $0.path < $1.path }
    }

    /// A file the gate does not open (a link, past the count or size cap, unreadable): it goes to review.
    static func notInspected(_ path: String, _ detail: String) -> GateFileVerdict {
        GateFileVerdict(
            path: path,
            findings: [GateFinding(check: "file-type", severity: .likely, where: "file", detail: detail)]
        )
    }

    /// Checks in-memory files (path relative to the output directory → bytes).
    public static func check(
        files: [(path: String, bytes: [UInt8])],
        index: DatasetIndex,
        history: [(path: String, bytes: [UInt8])] = [],
        limits: GateLimits = GateLimits()
    ) -> GateReport {
        let verdicts = files.map { checkFile(path: $0.path, bytes: $0.bytes, index: index, limits: limits) }
        return GateReport(files: differenced(verdicts, files: files, history: history, index: index))
    }

    /// Checks one file.
    public static func checkFile(
        path: String,
        bytes: [UInt8],
        index: DatasetIndex,
        limits: GateLimits = GateLimits()
    ) -> GateFileVerdict {
        var scan = GateScan(index: index, limits: limits, fileBytes: bytes.count)
        scan.file(name: path, bytes: bytes)
        return GateFileVerdict(path: path, findings: scan.findings + scan.overflowNote())
    }
}

/// A scan handed to another thread by `GateScan.concurrently`, which reads it only after that thread is done.
private final class PassBox: @unchecked Sendable {
    var scan: GateScan
    init(_ scan: GateScan) { self.scan = scan }
}

/// One file's scan: the checks, run over text lines, table rows and JSON objects, with nested decoding.
struct GateScan {
    let index: DatasetIndex
    let limits: GateLimits
    let fileBytes: Int
    var findings: [GateFinding] = []
    var dropped = 0
    var decodedBytes = 0
    var seen: Set<String> = []
    /// Buffers reused from line to line: a table pass runs once per row, and allocating them per row was a
    /// fifth of its time. Each is swapped out while in use, so a nested scan (a decoded payload) finds it
    /// empty and makes its own.
    var lineTokens: [GateText.Token] = []
    var lineBytes: [UInt8] = []
    var lineJoined: [UInt8] = []
    var lineNormalized: [UInt8] = []
    var cellHashes: [UInt64] = []
    var cellsText = ""
    var cellStarts: [Int] = []

    init(index: DatasetIndex, limits: GateLimits, fileBytes: Int) {
        self.index = index
        self.limits = limits
        self.fileBytes = fileBytes
    }

    mutating func add(
        _ check: String,
        _ severity: GateSeverity,
        _ place: String,
        _ detail: String,
        unavailableTool: String? = nil
    ) {
        guard seen.insert("\(check)|\(place)|\(detail)").inserted else { return }
        let finding = GateFinding(
            check: check,
            severity: severity,
            where: place,
            detail: detail,
            unavailableTool: unavailableTool
        )
        if findings.count < limits.maxFindingsPerFile {
            findings.append(finding)
        } else {
            dropped += 1
            // A later certain finding must still decide the file.
            if severity == .certain, !findings.contains(where: { $0.severity == .certain }) {
                findings[findings.count - 1] = finding
            }
        }
    }

    func overflowNote() -> [GateFinding] {
        guard dropped > 0 else { return [] }
        return [
            GateFinding(
                check: "summary",
                severity: .likely,
                where: "file",
                detail: "\(dropped) more findings not listed"
            )
        ]
    }

    // MARK: File types

    mutating func file(name: String, bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if limits.deadline == nil { return timed(name: name, bytes: bytes) }
        if inspectFormat(name: name, bytes: bytes) { return }
        let ext = (name as NSString).pathExtension.lowercased()
        if image(name: name, bytes: bytes) { return }
        if let magic = Self.binaryMagic(bytes) {
            add("file-type", .likely, "file", "\(magic): cannot inspect yet")
            return
        }
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
            add("file-type", .likely, "file", "binary or non-UTF-8 file (.\(ext)): cannot inspect yet")
            return
        }
        if bytes.count >= limits.concurrentPassBytes {
            concurrently([
                { $0.numericChannels(name: name, text: text) },
                { $0.textFile(name: name, bytes, text, ext: ext) },
            ])
        } else {
            numericChannels(name: name, text: text)
            textFile(name: name, bytes, text, ext: ext)
        }
    }

    /// A text file read by its extension: a table, JSON, or lines of text.
    mutating func textFile(name: String, _ bytes: [UInt8], _ text: String, ext: String) {
        switch ext {
        case "csv": table(bytes, name: name, separator: ",")
        case "tsv": table(bytes, name: name, separator: "\t")
        case "json": json(text, lines: false)
        case "jsonl", "ndjson": json(text, lines: true)
        case _ where OutputGate.parsed.contains(ext): self.text(text, prefix: "", depth: 0)
        default:
            self.text(text, prefix: "", depth: 0)
            add(
                "file-type",
                .likely,
                "file",
                "\(ext.isEmpty ? "no extension" : "." + ext): read as plain text only; its format is not inspected yet"
            )
        }
    }

    /// Runs independent passes over one file on every core, then files their findings as if they had run one
    /// after another on this scan: each pass records every finding it makes, uncapped and in order, and they
    /// are replayed through `add` (the same deduplication, cap and certain-finding rule as one thread). Each
    /// pass may decode up to the file's remaining budget; if together they went past it, that is a finding
    /// too, as it would have been on one thread.
    mutating func concurrently(_ passes: [@Sendable (inout GateScan) -> Void]) {
        var unbounded = limits
        unbounded.maxFindingsPerFile = .max
        let start = decodedBytes
        let boxes = passes.map { _ in
            var scan = GateScan(index: index, limits: unbounded, fileBytes: fileBytes)
            scan.decodedBytes = start
            return PassBox(scan)
        }
        OutputGate.onEveryCore(passes.count) { k in passes[k](&boxes[k].scan) }
        decodedBytes = start + boxes.reduce(0) { $0 + ($1.scan.decodedBytes - start) }
        for box in boxes {
            for finding in box.scan.findings {
                add(
                    finding.check,
                    finding.severity,
                    finding.where,
                    finding.detail,
                    unavailableTool: finding.unavailableTool
                )
            }
        }
        // A pass that went past the budget alone said so where it stopped.
        let budget = min(limits.maxDecodedBytes, limits.maxExpansion * max(fileBytes, 1))
        if decodedBytes > budget, boxes.allSatisfy({ $0.scan.decodedBytes <= budget }) {
            add("encoded", .likely, "file", "decoding budget exhausted: the rest of the payloads are not inspected")
        }
    }

    static func binaryMagic(_ bytes: [UInt8]) -> String? {
        let prefixes: [([UInt8], String)] = [
            ([0x89, 0x50, 0x4E, 0x47], "PNG image"), ([0xFF, 0xD8, 0xFF], "JPEG image"),
            ([0x1F, 0x8B], "gzip archive"), ([0x50, 0x4B, 0x03, 0x04], "zip archive"),
            ([0x42, 0x5A, 0x68], "bzip2 archive"), ([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59], "NumPy array"),
            ([0x50, 0x41, 0x52, 0x31], "Parquet file"), ([0x80], "pickle"), ([0x7F, 0x45, 0x4C, 0x46], "ELF binary"),
            ([0x25, 0x50, 0x44, 0x46], "PDF document"), ([0x47, 0x49, 0x46, 0x38], "GIF image"),
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A], "xz archive"), ([0x28, 0xB5, 0x2F, 0xFD], "zstd archive"),
        ]
        for (prefix, name) in prefixes where bytes.starts(with: prefix) { return name }
        return nil
    }

    // MARK: Tables

    mutating func table(_ bytes: [UInt8], name: String, separator: Character) {
        var parsed: CSVTable?
        if separator == "," {
            parsed = try? CSVReader.parse(bytes, name: name)
        } else if let text = String(validating: bytes, as: UTF8.self) {
            let lines = text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline)
            if let header = lines.first {
                let width = header.split(separator: "\t", omittingEmptySubsequences: false).count
                let rows = lines.dropFirst().map {
                    $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                }
                if rows.allSatisfy({ $0.count == width }) {
                    parsed = CSVTable(
                        header: header.split(separator: "\t", omittingEmptySubsequences: false).map(String.init),
                        rows: rows
                    )
                }
            }
        }
        guard let table = parsed else {
            // Not a well-formed table: every line is still read as text.
            text(String(decoding: bytes, as: UTF8.self), prefix: "", depth: 0)
            // pandas' empty or repeated header names: the statistical checks still read the table.
            if separator == ",", let grid = StatisticalChecks.csv(bytes) {
                for finding in StatisticalChecks.table(grid, index: index) {
                    add(finding.check, finding.severity, finding.where, finding.detail)
                }
            }
            return
        }
        cellsLine(table.header, header: table.header, place: "header")
        // One thread for the rows: reading them in parts on two cores cost 30% more CPU than it saved (the
        // threads share the index and the table, whose reference counts they then contend for).
        rows(table)
        for finding in StatisticalChecks.table(StatGrid(header: table.header, rows: table.rows), index: index) {
            add(finding.check, finding.severity, finding.where, finding.detail)
        }
    }

    /// Identifiers, records and small counts in a table's rows.
    mutating func rows(_ table: CSVTable) {
        let countColumns = table.header.indices.filter { Self.isCountColumn(table.header[$0]) }
        for (number, row) in table.rows.enumerated() {
            let place = "row \(number + 1)"
            cellsLine(row, header: table.header, place: place)
            record(cells: row, place: place, depth: 0)
            for column in countColumns {
                let cell = row[column].trimmingCharacters(in: .whitespaces)
                if let value = Int(GateText.canonicalNumber(cell) ?? ""), value >= 1, value < index.minCellCount {
                    add(
                        "small-cell",
                        .likely,
                        "\(place), column \"\(table.header[column])\"",
                        "a count of \(value), below the policy's minCellCount of \(index.minCellCount)"
                    )
                }
            }
        }
    }

    static func isCountColumn(_ name: String) -> Bool {
        let n = name.lowercased().trimmingCharacters(in: .whitespaces)
        let exact: Set<String> = ["count", "n", "freq", "frequency", "size", "cnt", "num", "number", "records"]
        return exact.contains(n) || n.hasPrefix("n_") || n.hasSuffix("_count") || n.hasSuffix("_n")
            || n.hasPrefix("count_") || n.hasSuffix(" count") || n.hasSuffix("_freq") || n.hasSuffix("_size")
    }

    /// Scans a row's cells as one line, naming the column of each hit.
    mutating func cellsLine(_ cells: [String], header: [String], place: String) {
        var starts: [Int] = []
        var line = ""
        swap(&starts, &cellStarts)
        swap(&line, &cellsText)
        defer {
            swap(&starts, &cellStarts)
            swap(&line, &cellsText)
        }
        starts.removeAll(keepingCapacity: true)
        line.removeAll(keepingCapacity: true)
        for cell in cells {
            starts.append(line.utf8.count)
            line += cell
            line += "\t"
        }
        scanLine(Substring(line), depth: 0, prefix: "") { offset in
            let column = (starts.lastIndex { $0 <= offset }) ?? 0
            let name = column < header.count ? header[column] : "\(column + 1)"
            return "\(place), column \"\(name)\""
        }
    }

    // MARK: JSON

    mutating func json(_ text: String, lines: Bool) {
        self.text(text, prefix: "", depth: 0)
        if lines {
            for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
                .enumerated()
            {
                if let value = try? JSONSerialization.jsonObject(with: Data(line.utf8), options: .fragmentsAllowed) {
                    walk(value, path: "line \(number + 1): $")
                }
            }
        } else if let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed) {
            walk(value, path: "$")
            if let grid = StatGrid.json(value) {
                for finding in StatisticalChecks.table(grid, index: index) {
                    add(finding.check, finding.severity, finding.where, finding.detail)
                }
            }
        }
    }

    /// Every object or array of scalars is a candidate row.
    mutating func walk(_ value: Any, path: String) {
        if let object = value as? [String: Any] {
            let scalars = object.keys.sorted().compactMap { Self.scalar(object[$0]!) }
            if scalars.count >= 2 { record(cells: scalars, place: path, depth: 0) }
            for key in object.keys.sorted() { walk(object[key]!, path: "\(path).\(key)") }
        } else if let array = value as? [Any] {
            let scalars = array.compactMap(Self.scalar)
            if scalars.count >= 2 && scalars.count <= 64 { record(cells: scalars, place: path, depth: 0) }
            for (i, item) in array.enumerated() { walk(item, path: "\(path)[\(i)]") }
        }
    }

    static func scalar(_ value: Any) -> String? {
        if let string = value as? String { return string }
        if let number = value as? NSNumber { return number.stringValue }
        return nil
    }

    // MARK: Records

    /// Verbatim rows: the cells (all, or all but the first, a row number) match a row fingerprint; or 3
    /// distinct record values of one dataset row appear among them.
    mutating func record(cells: [String], place: String, depth: Int) {
        var buffer: [UInt8] = []
        var hashes: [UInt64] = []
        swap(&buffer, &lineNormalized)
        swap(&hashes, &cellHashes)
        defer {
            swap(&buffer, &lineNormalized)
            swap(&hashes, &cellHashes)
        }
        hashes.removeAll(keepingCapacity: true)
        for cell in cells {
            if let h = GateText.normalizedHash(cell, buffer: &buffer) { hashes.append(h) }
        }
        guard hashes.count >= 2 else { return }
        for drop in 0...1 where hashes.count - drop >= 2 {
            let fingerprint = GateText.fingerprint(hashes.dropFirst(drop))
            if index.canaryFingerprints.contains(fingerprint) {
                add("canary", .certain, place, "a canary row of the dataset, cell for cell")
                return
            }
            if index.rowFingerprints.contains(fingerprint) {
                add("verbatim-row", .certain, place, "a row of the dataset, cell for cell (after normalization)")
                return
            }
        }
        var values: [UInt64] = []
        for h in hashes where index.mayBeValue(h) && index.recordValues.contains(h) && !values.contains(h) {
            values.append(h)
        }
        triples(values, place: place)
    }

    mutating func triples(_ candidates: [UInt64], place: String) {
        let values = Array(candidates.prefix(32))
        guard values.count >= 3 else { return }
        for a in 0..<values.count {
            for b in (a + 1)..<values.count {
                for c in (b + 1)..<values.count {
                    let key = GateText.triple(values[a], values[b], values[c])
                    if index.canaryTriples.contains(key) {
                        add("canary", .certain, place, "3 or more quasi-identifier or sensitive cells of a canary row")
                        return
                    }
                    if index.triples.contains(key) {
                        add(
                            "verbatim-row",
                            .certain,
                            place,
                            "3 or more quasi-identifier, sensitive or date cells of one dataset row"
                        )
                        return
                    }
                }
            }
        }
    }

    // MARK: Text

    mutating func text(_ text: String, prefix: String, depth: Int) {
        if depth == 0 && prefix.isEmpty {
            for finding in StatisticalChecks.text(text, index: index) {
                add(finding.check, finding.severity, finding.where, finding.detail)
            }
        }
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            scanLine(line, depth: depth, prefix: prefix) { offset in "line \(number + 1), byte \(offset)" }
            // A delimited line is also a candidate row.
            for separator: Character in [",", "\t", ";", "|"]
            where line.utf8.lazy.filter({ $0 == separator.asciiValue }).count >= 2 {
                record(
                    cells: line.split(separator: separator).map(String.init),
                    place: prefix + "line \(number + 1)",
                    depth: depth
                )
            }
        }
    }

    /// Identifiers, canaries, PII patterns, record triples and encoded payloads on one line.
    mutating func scanLine(_ line: Substring, depth: Int, prefix: String, place: (Int) -> String) {
        // The tokens are put back emptied, so that none keeps the line's storage alive (the caller reuses it).
        var tokens: [GateText.Token] = []
        var bytes: [UInt8] = []
        var joined: [UInt8] = []
        var normalized: [UInt8] = []
        swap(&tokens, &lineTokens)
        swap(&bytes, &lineBytes)
        swap(&joined, &lineJoined)
        swap(&normalized, &lineNormalized)
        defer {
            tokens.removeAll(keepingCapacity: true)
            swap(&tokens, &lineTokens)
            swap(&bytes, &lineBytes)
            swap(&joined, &lineJoined)
            swap(&normalized, &lineNormalized)
        }
        tokens.removeAll(keepingCapacity: true)
        GateText.tokens(line, into: &tokens)
        guard !tokens.isEmpty else { return }
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: line.utf8)
        var recordHits: [UInt64] = []
        var canaryHits: [Int32: Set<UInt64>] = [:]
        let maxWords = index.maxIdentifierWords
        // This loop runs for every word of every line: the words are joined and normalized in two buffers
        // reused from line to line, and most words are no value of the dataset (the place is a string built
        // only for a finding). A token's bytes are the line's bytes at its start.
        for i in tokens.indices {
            joined.removeAll(keepingCapacity: true)
            for n in 1...maxWords where i + n <= tokens.count {
                if n > 1 { joined.append(0x20) }
                let start = tokens[i + n - 1].start
                joined.append(contentsOf: bytes[start..<(start + tokens[i + n - 1].length)])
                guard
                    let h = joined.withUnsafeBufferPointer({ GateText.normalizedHash($0, buffer: &normalized) }),
                    index.mayBeValue(h)
                else { continue }
                if let source = index.identifiers[h] {
                    add(
                        "identifier",
                        .certain,
                        prefix + place(tokens[i].offset),
                        "a value of \(index.describe(source)) of the dataset"
                    )
                }
                if let canary = index.canaryValues[h] {
                    add(
                        "canary",
                        .certain,
                        prefix + place(tokens[i].offset),
                        "a value of canary \(canary) of the dataset"
                    )
                }
                if let canary = index.canaryAnyValues[h] { canaryHits[canary, default: []].insert(h) }
                if index.recordValues.contains(h), !recordHits.contains(h) { recordHits.append(h) }
            }
        }
        // Numbers with thousands separators: the comma splits words, so "52,310.5" is put back together.
        var i = 0
        while i < tokens.count {
            var j = i
            var merged = ""  // built only when a group follows
            while j + 1 < tokens.count, let last = tokens[j].text.utf8.last, last.isDigit {
                let end = tokens[j].offset + tokens[j].text.utf8.count
                guard end < bytes.count, bytes[end] == UInt8(ascii: ","), tokens[j + 1].offset == end + 1 else { break }
                let next = Array(tokens[j + 1].text.utf8)
                guard next.count >= 3, next[0].isDigit, next[1].isDigit, next[2].isDigit,
                    next.count == 3 || next[3] == UInt8(ascii: ".")
                else { break }
                if merged.isEmpty { merged = String(tokens[i].text) }
                merged += "," + String(tokens[j + 1].text)
                j += 1
            }
            if j > i {
                let h = GateText.hash(GateText.normalize(merged))
                let at = prefix + place(tokens[i].offset)
                if let source = index.identifiers[h] {
                    add("identifier", .certain, at, "a value of \(index.describe(source)) of the dataset")
                }
                if let canary = index.canaryValues[h] {
                    add("canary", .certain, at, "a value of canary \(canary) of the dataset")
                }
                if index.recordValues.contains(h), !recordHits.contains(h) { recordHits.append(h) }
            }
            i = j + 1
        }
        for (canary, values) in canaryHits where values.count >= 2 {
            add("canary", .certain, prefix + place(tokens[0].offset), "\(values.count) values of canary \(canary)")
        }
        // The place is built only for a line that can hold a triple.
        if recordHits.count >= 3 { triples(recordHits, place: prefix + place(tokens[0].offset)) }
        pii(line, bytes, tokens: tokens, prefix: prefix, place: place)
        if depth < limits.maxDepth { encoded(bytes, depth: depth, prefix: prefix, place: place) }
    }

    // MARK: PII patterns

    mutating func pii(
        _ line: Substring,
        _ bytes: [UInt8],
        tokens: [GateText.Token],
        prefix: String,
        place: (Int) -> String
    ) {
        // On bytes: Foundation's `contains` went through `range(of:)` for every word. A "@" joined to a combining
        // mark is no separator of the split below either way.
        for token in tokens where token.text.utf8.contains(UInt8(ascii: "@")) {
            let parts = token.text.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
                let tld = parts[1].split(separator: ".").last, tld.count >= 2, tld.allSatisfy(\.isLetter)
            else { continue }
            if index.identifiers[GateText.hash(GateText.normalize(token.text))] != nil { continue }
            add("pii", .likely, prefix + place(token.offset), "an email address (not a value of the dataset)")
        }
        for (i, token) in tokens.enumerated() {
            // An IBAN starts with a letter; an ASCII first byte that is not one stays so when uppercased.
            if let first = token.text.utf8.first, first < 0x80, !first.isLetter { continue }
            let head = Array(token.text.uppercased().utf8)
            guard head.count >= 4, head[0].isLetter, head[1].isLetter, head[2].isDigit, head[3].isDigit else {
                continue
            }
            var joined = token.text.uppercased()
            var j = i
            while true {
                if (15...34).contains(joined.count), joined.utf8.allSatisfy({ $0.isLetter || $0.isDigit }),
                    Self.ibanValid(joined)
                {
                    if index.identifiers[GateText.hash(GateText.normalize(joined))] == nil {
                        add("pii", .likely, prefix + place(token.offset), "an IBAN with a valid check (mod 97)")
                    }
                    break
                }
                j += 1
                guard j < tokens.count, tokens[j].text.count <= 4, joined.count < 34 else { break }
                joined += tokens[j].text.uppercased()
            }
        }
        for run in Self.digitRuns(bytes) {
            let digitCount = run.digits.count
            // A decimal (1972.3861111111111, a float printed in full) is not a card number.
            let decimal = run.separators == DigitRun.dot && run.groups.count == 2
            if (13...19).contains(digitCount), run.groups.allSatisfy({ $0 >= 3 }) || run.groups.count == 1,
                !decimal, Self.luhnValid(run.text)
            {
                if index.identifiers[GateText.hash(run.text)] == nil {
                    add("pii", .likely, prefix + place(run.offset), "a card number with a valid Luhn check")
                }
                continue
            }
            // +CC and 10-15 digits; or 3-4 groups of 2-4 digits ending in a group of 4 (555-010-2030).
            let withPlus = run.plus && (10...15).contains(digitCount) && run.groups.count >= 2
            let national =
                (10...12).contains(digitCount) && (3...4).contains(run.groups.count)
                && run.groups.allSatisfy { (2...4).contains($0) } && run.groups.last == 4
                && run.separators & ~DigitRun.dot != 0
            let phoneShape = withPlus || national
            if phoneShape && index.identifiers[GateText.hash(run.text)] == nil {
                add("pii", .likely, prefix + place(run.offset), "a phone number (not a value of the dataset)")
            }
        }
    }

    struct DigitRun {
        /// The digits, ASCII.
        var digits: [UInt8]
        var groups: [Int]
        /// The separators seen, one bit each (`separatorBit`).
        var separators: UInt8
        var plus: Bool
        var offset: Int

        /// The digits as text: built only for a run shaped like a card or phone number.
        var text: String { String(decoding: digits, as: UTF8.self) }

        static let dot = separatorBit(UInt8(ascii: "."))

        /// The bit of one of ` -.()`; 0 for any other byte.
        static func separatorBit(_ byte: UInt8) -> UInt8 {
            switch byte {
            case 0x20: 1
            case UInt8(ascii: "-"): 2
            case UInt8(ascii: "."): 4
            case UInt8(ascii: "("): 8
            case UInt8(ascii: ")"): 16
            default: 0
            }
        }
    }

    /// Runs of digits joined by single spaces, dashes, dots or parentheses, not part of a decimal or a word,
    /// with a number of digits in `digitCounts` (phone and card numbers have 10 to 19).
    static func digitRuns(_ bytes: [UInt8], digitCounts: ClosedRange<Int> = 10...19) -> [DigitRun] {
        var runs: [DigitRun] = []
        var i = 0
        while i < bytes.count {
            let startsRun =
                bytes[i].isDigit
                || ((bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "("))
                    && i + 1 < bytes.count && bytes[i + 1].isDigit)
            let attached =
                i > 0
                && (bytes[i - 1].isLetter || bytes[i - 1] == UInt8(ascii: ".")
                    || bytes[i - 1].isDigit)
            guard startsRun, !attached else {
                i += 1
                continue
            }
            let start = i
            let plus = bytes[i] == UInt8(ascii: "+")
            // The run is walked once to count its digits, and again to keep them only when there are as many
            // as a phone or card number has: a table of numbers has millions of short runs.
            func walk(keeping: Bool) -> (end: Int, count: Int, run: DigitRun?) {
                var i = start
                var count = 0
                var run = DigitRun(digits: [], groups: [], separators: 0, plus: plus, offset: start)
                var current = 0
                if !bytes[i].isDigit { i += 1 }
                while i < bytes.count {
                    let b = bytes[i]
                    if b.isDigit {
                        if keeping { run.digits.append(b) }
                        count += 1
                        current += 1
                        i += 1
                    } else if DigitRun.separatorBit(b) != 0, i + 1 < bytes.count,
                        bytes[i + 1].isDigit || (b == UInt8(ascii: ")") && bytes[i + 1] == 0x20)
                            || (b == 0x20 && bytes[i + 1] == UInt8(ascii: "("))
                    {
                        if current > 0, keeping { run.groups.append(current) }
                        current = 0
                        run.separators |= DigitRun.separatorBit(b)
                        i += 1
                    } else {
                        break
                    }
                }
                if current > 0, keeping { run.groups.append(current) }
                return (i, count, keeping ? run : nil)
            }
            let (end, count, _) = walk(keeping: false)
            i = end
            let trailingWord = i < bytes.count && bytes[i].isLetter
            if !trailingWord, digitCounts.contains(count), let run = walk(keeping: true).run { runs.append(run) }
            i = max(i, start + 1)
        }
        return runs
    }

    static func luhnValid(_ digits: String) -> Bool {
        var sum = 0
        for (i, ch) in digits.reversed().enumerated() {
            guard var d = ch.wholeNumberValue else { return false }
            if i % 2 == 1 {
                d *= 2
                if d > 9 { d -= 9 }
            }
            sum += d
        }
        return sum % 10 == 0 && Set(digits).count > 1
    }

    static func ibanValid(_ iban: String) -> Bool {
        let chars = Array(iban.utf8)
        let rearranged = chars[4...] + chars[..<4]
        var remainder = 0
        for c in rearranged {
            if c.isDigit {
                remainder = (remainder * 10 + Int(c - 48)) % 97
            } else {
                let value = Int(c) - 55
                guard (10...35).contains(value) else { return false }
                remainder = (remainder * 100 + value) % 97
            }
        }
        return remainder == 1
    }

    // MARK: Encoded payloads

    /// base64 runs of 24+ characters and hex runs of 32+ are decoded and the result checked again.
    mutating func encoded(_ bytes: [UInt8], depth: Int, prefix: String, place: (Int) -> String) {
        var i = 0
        while i < bytes.count {
            guard bytes[i].isBase64 else {
                i += 1
                continue
            }
            let start = i
            while i < bytes.count, bytes[i].isBase64 { i += 1 }
            let end = i
            while i < bytes.count, bytes[i] == UInt8(ascii: "="), i - end < 2 { i += 1 }
            guard end - start >= 24 else { continue }
            let run = Array(bytes[start..<end])
            var decoded: [UInt8]?
            var kind = "base64"
            if run.count >= 32, run.count % 2 == 0, run.allSatisfy(\.isHex) {
                decoded = Self.hexDecode(run)
                kind = "hex"
            }
            if decoded == nil { decoded = Self.base64Decode(run) }
            guard let payload = decoded, payload.count >= 8 else { continue }
            decodedBytes += payload.count
            let at = prefix + place(start) + " > \(kind) payload"
            guard decodedBytes <= limits.maxDecodedBytes, decodedBytes <= limits.maxExpansion * max(fileBytes, 1)
            else {
                add("encoded", .likely, at, "decoding budget exhausted: the rest of the payloads are not inspected")
                return
            }
            if compressedPayload(payload, depth: depth, at: at) || binaryPayload(payload, depth: depth, at: at) {
                continue
            }
            guard let text = String(validating: payload, as: UTF8.self) else { continue }
            let printable = text.unicodeScalars.filter { $0.value >= 0x20 || $0 == "\n" || $0 == "\t" || $0 == "\r" }
            guard printable.count * 10 >= text.unicodeScalars.count * 9 else { continue }
            self.text(text, prefix: at + ": ", depth: depth + 1)
        }
    }

    static func hexDecode(_ run: [UInt8]) -> [UInt8]? {
        func nibble(_ c: UInt8) -> UInt8 {
            switch c {
            case 48...57: c - 48
            case 65...70: c - 55
            default: c - 87
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(run.count / 2)
        var i = 0
        while i + 1 < run.count {
            out.append(nibble(run[i]) << 4 | nibble(run[i + 1]))
            i += 2
        }
        return out
    }

    static func base64Decode(_ run: [UInt8]) -> [UInt8]? {
        var text = String(decoding: run, as: UTF8.self)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.hasSuffix("=") { text.removeLast() }
        if text.count % 4 == 1 { text.removeLast() }
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: text).map(Array.init)
    }
}

extension UInt8 {
    var isDigit: Bool { self >= 48 && self <= 57 }
    var isLetter: Bool { (self >= 65 && self <= 90) || (self >= 97 && self <= 122) }
    var isHex: Bool { isDigit || (self >= 65 && self <= 70) || (self >= 97 && self <= 102) }
    var isBase64: Bool {
        isDigit || isLetter || self == UInt8(ascii: "+") || self == UInt8(ascii: "/") || self == UInt8(ascii: "-")
            || self == UInt8(ascii: "_")
    }
}
