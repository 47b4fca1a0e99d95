import Foundation

/// A zip archive read from its central directory, with every offset and size checked against the file: the
/// gate never trusts a declared size, follows no path, and reads only stored, deflate and bzip2 entries.
struct ZipReader {
    static let localMagic: [UInt8] = [0x50, 0x4B, 0x03, 0x04]
    static let emptyMagic: [UInt8] = [0x50, 0x4B, 0x05, 0x06]

    struct Entry {
        var name: String
        var method: Int
        var flags: Int
        var compressedSize: Int
        var size: Int
        /// Where the local header starts.
        var headerOffset: Int
        /// Where the entry's data starts and ends (after the local header).
        var dataStart = 0
        var dataEnd = 0
    }

    /// Why an archive cannot be read at all.
    struct Unreadable: Error {
        var reason: String
    }

    var entries: [Entry] = []
    var comment: [UInt8] = []
    /// Where the central directory starts.
    var directoryOffset = 0
    /// Archive-level problems that do not stop reading (they go to review).
    var problems: [String] = []

    static func u16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
    static func u32(_ b: [UInt8], _ at: Int) -> Int { u16(b, at) | u16(b, at + 2) << 16 }
    static func u64(_ b: [UInt8], _ at: Int) -> Int? {
        let high = u32(b, at + 4)
        guard high < 1 << 30 else { return nil }
        return u32(b, at) | high << 32
    }

    init(_ b: [UInt8], maxEntries: Int) throws(Unreadable) {
        // The end-of-central-directory record: the last signature within 64 KiB + 22 of the end.
        var eocd = -1
        var i = b.count - 22
        while i >= max(0, b.count - 22 - 65_535) {
            if b[i] == 0x50 && b[i + 1] == 0x4B && b[i + 2] == 0x05 && b[i + 3] == 0x06 {
                eocd = i
                break
            }
            i -= 1
        }
        guard eocd >= 0 else { throw Unreadable(reason: "no end-of-central-directory record (truncated?)") }
        var count = Self.u16(b, eocd + 10)
        var directorySize = Self.u32(b, eocd + 12)
        var directoryOffset = Self.u32(b, eocd + 16)
        let commentLength = Self.u16(b, eocd + 20)
        comment = Array(b[(eocd + 22)..<min(b.count, eocd + 22 + commentLength)])
        // zip64: the locator sits 20 bytes before the record.
        if eocd >= 20, Self.u32(b, eocd - 20) == 0x0706_4B50, let at = Self.u64(b, eocd - 12), at >= 0,
            at + 56 <= b.count, Self.u32(b, at) == 0x0606_4B50,
            let n = Self.u64(b, at + 32), let size = Self.u64(b, at + 40), let offset = Self.u64(b, at + 48)
        {
            count = n
            directorySize = size
            directoryOffset = offset
        }
        guard count <= maxEntries else {
            throw Unreadable(reason: "\(count) entries, more than the cap of \(maxEntries)")
        }
        guard directoryOffset >= 0, directorySize >= 0, directoryOffset + directorySize <= b.count else {
            throw Unreadable(reason: "the central directory points outside the file")
        }
        self.directoryOffset = directoryOffset
        var at = directoryOffset
        for _ in 0..<count {
            guard at + 46 <= b.count, Self.u32(b, at) == 0x0201_4B50 else {
                throw Unreadable(reason: "central directory entry at byte \(at) is malformed")
            }
            let nameLength = Self.u16(b, at + 28)
            let extraLength = Self.u16(b, at + 30)
            let commentLength = Self.u16(b, at + 32)
            guard at + 46 + nameLength + extraLength + commentLength <= b.count else {
                throw Unreadable(reason: "central directory entry at byte \(at) runs past the end")
            }
            var entry = Entry(
                name: String(decoding: b[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self),
                method: Self.u16(b, at + 10),
                flags: Self.u16(b, at + 8),
                compressedSize: Self.u32(b, at + 20),
                size: Self.u32(b, at + 24),
                headerOffset: Self.u32(b, at + 42)
            )
            // zip64 extra field: the sizes and offset that are 0xFFFFFFFF in the fixed fields, in order.
            var extra = at + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = Self.u16(b, extra)
                let length = Self.u16(b, extra + 2)
                guard extra + 4 + length <= extraEnd else { break }
                if id == 1 {
                    var field = extra + 4
                    func next() -> Int? {
                        guard field + 8 <= extra + 4 + length, let v = Self.u64(b, field) else { return nil }
                        field += 8
                        return v
                    }
                    if entry.size == 0xFFFF_FFFF, let v = next() { entry.size = v }
                    if entry.compressedSize == 0xFFFF_FFFF, let v = next() { entry.compressedSize = v }
                    if entry.headerOffset == 0xFFFF_FFFF, let v = next() { entry.headerOffset = v }
                }
                extra += 4 + length
            }
            // The local header decides where the data starts.
            let local = entry.headerOffset
            guard local >= 0, local + 30 <= b.count, Self.u32(b, local) == 0x0403_4B50 else {
                throw Unreadable(reason: "entry \(entries.count + 1) has no local header at byte \(local)")
            }
            entry.dataStart = local + 30 + Self.u16(b, local + 26) + Self.u16(b, local + 28)
            entry.dataEnd = entry.dataStart + entry.compressedSize
            guard entry.compressedSize >= 0, entry.dataStart <= b.count, entry.dataEnd <= b.count else {
                throw Unreadable(reason: "entry \(entries.count + 1)'s data runs past the end of the file")
            }
            entries.append(entry)
            at += 46 + nameLength + extraLength + commentLength
        }
        // Entries that share bytes are how zip bombs multiply their output.
        let spans = entries.map { ($0.headerOffset, $0.dataEnd) }.sorted { $0.0 < $1.0 }
        for (a, b) in zip(spans, spans.dropFirst()) where b.0 < a.1 {
            problems.append("entries overlap (bytes \(b.0)..<\(a.1)): a zip bomb construction")
            break
        }
        if Set(entries.map(\.name)).count != entries.count { problems.append("two entries have the same name") }
    }

    /// Why a name would write outside the folder it is unpacked into, or nil.
    static func pathTrick(_ name: String) -> String? {
        if name.hasPrefix("/") || name.hasPrefix("\\") || (name.count > 1 && name.dropFirst().hasPrefix(":")) {
            return "an absolute path"
        }
        let parts = name.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        if parts.contains("..") { return "a path that climbs out with .." }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 }) { return "control characters in the name" }
        return nil
    }
}

extension GateScan {
    /// Reads a zip archive (.zip, .npz, .xlsx …): every entry is scanned as a file by its name; bombs,
    /// overlapping entries, path tricks and entries it cannot decode go to review, never a crash.
    mutating func zip(name: String, bytes: [UInt8]) {
        guard limits.maxDepth > 0 else {
            add("container", .likely, "zip", "nested deeper than \(GateLimits().maxDepth) levels: not inspected")
            return
        }
        let archive: ZipReader
        do {
            archive = try ZipReader(bytes, maxEntries: limits.maxArchiveEntries)
        } catch {
            add("file-type", .likely, "zip", "a zip archive the gate cannot read: \(error.reason)")
            return
        }
        for problem in archive.problems { add("archive", .likely, "zip", problem) }
        if !archive.comment.isEmpty {
            nested(name: "comment.txt", bytes: archive.comment, place: "zip comment")
        }
        for entry in archive.entries {
            let place = "entry \(entry.name)"
            guard !outOfTime else { return timeUp(place) }
            if let trick = ZipReader.pathTrick(entry.name) {
                add("archive", .likely, place, "\(trick) in the entry name")
            }
            if entry.name.hasSuffix("/") && entry.compressedSize == 0 { continue }
            if entry.flags & 1 != 0 {
                add("file-type", .likely, place, "an encrypted entry: cannot inspect")
                continue
            }
            if entry.compressedSize > 0, entry.size / max(entry.compressedSize, 1) > limits.maxExpansion {
                add(
                    "decoding-budget",
                    .likely,
                    place,
                    "declares \(entry.size) bytes from \(entry.compressedSize), more than \(limits.maxExpansion)x (a bomb?): not inspected"
                )
                continue
            }
            let raw = Array(bytes[entry.dataStart..<entry.dataEnd])
            let room = decodeRoom
            let data: Result<[UInt8], BoundedInflate.Failure>
            switch entry.method {
            case 0: data = raw.count <= room ? .success(raw) : .failure(.overLimit(room))
            case 8: data = BoundedInflate.inflate(raw, framing: .raw, limit: room)
            case 12: data = BoundedInflate.bunzip2(raw, limit: room)
            default:
                add("file-type", .likely, place, "compression method \(entry.method): cannot inspect")
                continue
            }
            switch data {
            case .success(let out):
                if entry.method != 0 { decodedBytes += out.count }
                if out.count != entry.size {
                    add("archive", .likely, place, "\(out.count) bytes, not the \(entry.size) the directory declares")
                }
                nested(name: entry.name, bytes: out, place: place)
            case .failure(.overLimit):
                add(
                    "decoding-budget",
                    .likely,
                    place,
                    "decompresses past \(limits.maxExpansion)x the file or \(limits.maxDecodedBytes >> 20) MiB: not inspected"
                )
            case .failure(let failure):
                add("file-type", .likely, place, "an entry that does not decode (\(failure)): cannot inspect")
            }
        }
        // Bytes that belong to no entry and no directory can carry anything: they are read as text.
        let spans = archive.entries.map { ($0.headerOffset, $0.dataEnd) }.sorted { $0.0 < $1.0 }
        var cursor = 0
        var hidden = 0
        for (start, end) in spans {
            if start > cursor { hidden += start - cursor }
            cursor = max(cursor, end)
        }
        if archive.directoryOffset > cursor { hidden += archive.directoryOffset - cursor }
        // Data descriptors (up to 24 bytes after an entry) are allowed.
        if hidden > 64 + 24 * archive.entries.count {
            add("archive", .likely, "zip", "\(hidden) bytes outside every entry: hidden data cannot be ruled out")
        }
    }
}
