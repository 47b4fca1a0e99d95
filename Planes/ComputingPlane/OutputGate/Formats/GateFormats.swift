import Foundation

/// The format readers of the gate: compressed files, zip archives, NumPy arrays, pickles and joblib files,
/// HTML, notebooks and source code. Each reader is bounded by `GateLimits` (nesting, expansion, decoded bytes,
/// time per file) and hands what it decodes back to the text, table and record checks through a nested scan,
/// so a leak inside a container is found with the place it was found at (`entry a.csv > row 3`).
extension GateScan {
    /// Extensions read as source code or markup text (their text is searched; a file with no finding is released).
    static let sourceExtensions: Set<String> = [
        "py", "r", "sql", "sh", "jl", "js", "ts", "scala", "java", "c", "h", "cpp", "go", "rs", "swift", "m",
        "do", "sas", "sps", "toml", "yaml", "yml", "ini", "cfg", "rmd", "qmd", "tex", "rst",
    ]
    static let markupExtensions: Set<String> = ["html", "htm", "xhtml", "xml", "rels", "svg"]
    static let pickleExtensions: Set<String> = ["pkl", "pickle", "joblib", "sav", "p", "pck", "pt", "pth"]

    /// Runs the whole file under the per-file time budget (the deadline is set once, at the top level).
    mutating func timed(name: String, bytes: [UInt8]) {
        var scoped = limits
        scoped.deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(limits.perFileSeconds * 1000)))
        var sub = GateScan(index: index, limits: scoped, fileBytes: fileBytes)
        sub.decodedBytes = decodedBytes
        sub.file(name: name, bytes: bytes)
        decodedBytes = sub.decodedBytes
        merge(sub, prefix: "")
    }

    /// True when the per-file time budget is spent.
    var outOfTime: Bool {
        guard let deadline = limits.deadline else { return false }
        return ContinuousClock.now >= deadline
    }

    /// Records that the time budget ran out at `place` (once per file).
    mutating func timeUp(_ place: String) {
        add(
            "time-budget",
            .likely,
            place,
            "the time budget of \(limits.perFileSeconds) s per file is spent: the rest is not inspected"
        )
    }

    /// Bytes that may still be decoded for this file (expansion and absolute caps).
    var decodeRoom: Int {
        max(0, min(limits.maxDecodedBytes, limits.maxExpansion * max(fileBytes, 1)) - decodedBytes)
    }

    /// Scans `bytes` as a file called `name`, nested `levels` deep below this scan, and files its findings
    /// under `place`.
    mutating func nested(name: String, bytes: [UInt8], place: String, levels: Int = 1) {
        guard limits.maxDepth - levels >= 0 else {
            add("container", .likely, place, "nested deeper than \(GateLimits().maxDepth) levels: not inspected")
            return
        }
        guard !outOfTime else { return timeUp(place) }
        var inner = limits
        inner.maxDepth -= levels
        var sub = GateScan(index: index, limits: inner, fileBytes: fileBytes)
        sub.decodedBytes = decodedBytes
        sub.file(name: name, bytes: bytes)
        decodedBytes = sub.decodedBytes
        merge(sub, prefix: place)
    }

    /// Adds another scan's findings under `prefix`.
    mutating func merge(_ sub: GateScan, prefix: String) {
        for finding in sub.findings + sub.overflowNote() {
            let place =
                prefix.isEmpty ? finding.where : finding.where == "file" ? prefix : "\(prefix) > \(finding.where)"
            // A nested scan's missing tool stays named, so the report still says which tool was missing.
            add(finding.check, finding.severity, place, finding.detail, unavailableTool: finding.unavailableTool)
        }
        dropped += sub.dropped
    }

    /// Counts `count` decoded bytes against the budget; false (with a finding) when it is spent.
    mutating func charge(_ count: Int, place: String) -> Bool {
        guard count <= decodeRoom else {
            add(
                "decoding-budget",
                .likely,
                place,
                "decoding would pass \(limits.maxExpansion)x the file or \(limits.maxDecodedBytes >> 20) MiB: not inspected"
            )
            return false
        }
        decodedBytes += count
        return true
    }

    /// The file readers of this directory. True when the file was handled here.
    mutating func inspectFormat(name: String, bytes: [UInt8]) -> Bool {
        let ext = (name as NSString).pathExtension.lowercased()
        let isText = !bytes.contains(0) && String(validating: bytes, as: UTF8.self) != nil
        if let kind = Compression.sniff(bytes, ext: ext) {
            // A zlib header is two bytes that text (`x^2`) or other binaries can start with: when it does not
            // inflate, the file is read as whatever else it is.
            if compressed(name: name, bytes: bytes, kind: kind, quietFailure: kind == .zlib) { return true }
        }
        if bytes.starts(with: ZipReader.localMagic) || bytes.starts(with: ZipReader.emptyMagic) || ext == "zip"
            || ext == "npz" || ext == "xlsx" || ext == "docx" || ext == "jar"
        {
            if !isText || bytes.starts(with: ZipReader.localMagic) {
                zip(name: name, bytes: bytes)
                return true
            }
        }
        if bytes.starts(with: NumpyArray.magic) {
            npy(bytes, place: "array")
            return true
        }
        if bytes.starts(with: [0x50, 0x41, 0x52, 0x31]) || ext == "parquet" {
            add("file-type", .likely, "file", "Parquet: no reader: cannot inspect")
            return true
        }
        if Self.pickleExtensions.contains(ext) || (bytes.count >= 2 && bytes[0] == 0x80 && (2...5).contains(bytes[1])) {
            if !isText || Self.pickleExtensions.contains(ext) {
                pickle(bytes, place: "pickle")
                return true
            }
        }
        guard isText, let text = String(validating: bytes, as: UTF8.self) else { return false }
        let head = text.prefix(512).lowercased()
        if Self.markupExtensions.contains(ext) || head.contains("<!doctype html") || head.hasPrefix("<html") {
            if ext == "svg" { return false }  // images are read elsewhere
            markup(text)
            return true
        }
        if ext == "ipynb" {
            notebook(text)
            return true
        }
        if Self.sourceExtensions.contains(ext) {
            self.text(text, prefix: "", depth: 0)
            numericChannels(name: name, text: text)
            return true
        }
        return false
    }

    // MARK: Compressed files

    /// Inflates a gzip, zlib or bzip2 file and scans what comes out as the file without its compression
    /// extension (`rows.csv.gz` → `rows.csv`). False when it does not decode and `quietFailure` is set.
    mutating func compressed(name: String, bytes: [UInt8], kind: Compression, quietFailure: Bool) -> Bool {
        let place = "\(kind.rawValue) stream"
        guard limits.maxDepth > 0 else {
            add("container", .likely, place, "nested deeper than \(GateLimits().maxDepth) levels: not inspected")
            return true
        }
        let room = decodeRoom
        switch kind.decode(bytes, limit: room) {
        case .success(let out):
            decodedBytes += out.count
            var inner = name
            let ext = (name as NSString).pathExtension.lowercased()
            if ["gz", "gzip", "bz2", "z", "zz", "zlib", "tgz"].contains(ext) {
                inner = (name as NSString).deletingPathExtension
                if ext == "tgz" { inner += ".tar" }
            }
            nested(name: inner, bytes: out, place: place)
        case .failure(.overLimit):
            if quietFailure { return false }
            add(
                "decoding-budget",
                .likely,
                place,
                "decompresses past \(limits.maxExpansion)x the file or \(limits.maxDecodedBytes >> 20) MiB (a bomb?): not inspected"
            )
        case .failure(let failure):
            if quietFailure { return false }
            add(
                "file-type",
                .likely,
                place,
                "a \(kind.rawValue) stream that does not decode (\(failure)): cannot inspect"
            )
        }
        return true
    }

    /// A compressed payload found inside a base64 or hex run: inflated and scanned as nested content.
    /// False when `payload` is not compressed.
    mutating func compressedPayload(_ payload: [UInt8], depth: Int, at place: String) -> Bool {
        guard let kind = Compression.sniff(payload, ext: "") else { return false }
        guard depth + 1 <= limits.maxDepth else {
            add("encoded", .likely, place, "a \(kind.rawValue) payload nested too deep: not inspected")
            return true
        }
        switch kind.decode(payload, limit: decodeRoom) {
        case .success(let out):
            decodedBytes += out.count
            nested(name: "payload", bytes: out, place: place + " > \(kind.rawValue)", levels: depth + 1)
        case .failure(.overLimit):
            add(
                "encoded",
                .likely,
                place,
                "a \(kind.rawValue) payload that decompresses past the budget: not inspected"
            )
        case .failure(let failure):
            // Two random bytes pass for a zlib header one time in about 2,000: only gzip and bzip2 magics count.
            if kind == .zlib { return false }
            add(
                "encoded",
                .likely,
                place,
                "a \(kind.rawValue) payload that does not decode (\(failure)): cannot inspect"
            )
        }
        return true
    }

    /// A binary payload found inside a base64 or hex run (an array, a pickle, an archive): scanned as a file.
    mutating func binaryPayload(_ payload: [UInt8], depth: Int, at place: String) -> Bool {
        let known =
            payload.starts(with: NumpyArray.magic) || payload.starts(with: ZipReader.localMagic)
            || (payload.count > 2 && payload[0] == 0x80 && (2...5).contains(payload[1]))
        guard known else { return false }
        nested(name: "payload", bytes: payload, place: place, levels: depth + 1)
        return true
    }
}

/// The compressions the gate inflates itself.
enum Compression: String {
    case gzip, zlib, bzip2

    /// By magic: gzip `1F 8B`, bzip2 `BZh1`…`BZh9`, zlib a valid RFC 1950 header with deflate and a 32 KiB window.
    static func sniff(_ bytes: [UInt8], ext: String) -> Compression? {
        guard bytes.count >= 4 else { return nil }
        if bytes[0] == 0x1F && bytes[1] == 0x8B { return .gzip }
        if bytes[0] == 0x42 && bytes[1] == 0x5A && bytes[2] == 0x68 && (0x31...0x39).contains(bytes[3]) {
            return .bzip2
        }
        if bytes[0] & 0x0F == 8, bytes[0] >> 4 <= 7, (Int(bytes[0]) << 8 | Int(bytes[1])) % 31 == 0,
            bytes[1] & 0x20 == 0
        {
            return .zlib
        }
        return nil
    }

    func decode(_ bytes: [UInt8], limit: Int) -> Result<[UInt8], BoundedInflate.Failure> {
        switch self {
        case .gzip: BoundedInflate.inflate(bytes, framing: .gzip, limit: limit)
        case .zlib: BoundedInflate.inflate(bytes, framing: .zlib, limit: limit)
        case .bzip2: BoundedInflate.bunzip2(bytes, limit: limit)
        }
    }
}
