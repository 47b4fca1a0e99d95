/// DeLong bundle v1: the canonical POSIX ustar encoding of a tree of directories and regular files.
///
/// One tree has exactly one encoding, byte for byte the one stock GNU tar writes with
/// `find . -mindepth 1 -printf '%P\0' | LC_ALL=C sort -z | LC_ALL=C tar --null --no-recursion -T - --format=ustar
/// --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX -cf -` (docs/bundles.md):
/// - entries sorted byte-wise by path; directories listed explicitly, named with a trailing slash;
/// - mode 0755 for directories and for files with any execute bit, else 0644; uid, gid and mtime 0; empty
///   uname and gname; no link name; device numbers 0;
/// - a name over 100 bytes is split at a slash into prefix (at most 155 bytes) and name, as GNU tar splits it;
/// - file data padded to 512-byte blocks; two zero blocks; the archive zero-padded to a 10,240-byte record.
///
/// `decode` reads any ustar strictly (checksums, octal fields, sizes, paths); `verify` also re-encodes what it
/// read and refuses an archive whose bytes differ, so a verified archive is the one encoding of its tree.
public enum CanonicalTar {
    /// The tar block size.
    public static let blockSize = 512
    /// GNU tar's default record (blocking factor 20): archives are padded to a multiple of it.
    public static let recordSize = 10_240

    /// How large a bundle may be.
    public struct Limits: Sendable, Hashable {
        /// The archive's size in bytes, headers and padding included.
        public var maxArchiveBytes: Int
        /// Entries (files and directories).
        public var maxEntries: Int

        public init(maxArchiveBytes: Int, maxEntries: Int) {
            self.maxArchiveBytes = maxArchiveBytes
            self.maxEntries = maxEntries
        }

        /// 64 MiB and 10,000 entries.
        public static let standard = Limits(maxArchiveBytes: 64 << 20, maxEntries: 10_000)
    }

    // MARK: Encoding

    /// The canonical archive of `entries` (any order; paths must be unique).
    public static func encode(
        _ entries: [BundleEntry],
        limits: Limits = .standard
    ) throws(PlaneProtocolError)
        -> [UInt8]
    {
        guard entries.count <= limits.maxEntries else {
            throw PlaneProtocolError(.tooLarge, "expected at most \(limits.maxEntries) entries, found \(entries.count)")
        }
        let sorted = entries.sorted { $0.path.lexicographicallyPrecedes($1.path) }
        var size = 2 * blockSize
        for (i, entry) in sorted.enumerated() {
            if i > 0, sorted[i - 1].path == entry.path {
                throw PlaneProtocolError(.malformed, "\(entry.displayPath): listed twice")
            }
            size += blockSize + padded(entry.contents?.count ?? 0)
        }
        size = (size + recordSize - 1) / recordSize * recordSize
        guard size <= limits.maxArchiveBytes else {
            throw PlaneProtocolError(
                .tooLarge,
                "expected an archive of at most \(limits.maxArchiveBytes) bytes, this tree needs \(size)"
            )
        }
        var out = [UInt8]()
        out.reserveCapacity(size)
        for entry in sorted {
            out += try header(for: entry)
            if let contents = entry.contents {
                out += contents
                out += [UInt8](repeating: 0, count: padded(contents.count) - contents.count)
            }
        }
        out += [UInt8](repeating: 0, count: size - out.count)
        return out
    }

    /// The 512-byte ustar header of `entry`.
    static func header(for entry: BundleEntry) throws(PlaneProtocolError) -> [UInt8] {
        switch entry.kind {
        case .directory:
            try header(path: entry.path, mode: 0o755, size: 0, type: UInt8(ascii: "5"))
        case .file(let contents, let executable):
            try header(
                path: entry.path,
                mode: executable ? 0o755 : 0o644,
                size: contents.count,
                type: UInt8(ascii: "0")
            )
        }
    }

    /// The canonical 512-byte ustar header of one entry: a directory (type `5`, named with a trailing slash
    /// here), a regular file (`0`) or a symlink (`2`, its target in the link name field, at most 100 bytes).
    static func header(
        path: [UInt8],
        mode: Int,
        size: Int,
        type: UInt8,
        linkName: [UInt8] = []
    ) throws(PlaneProtocolError) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: blockSize)
        let name = type == UInt8(ascii: "5") ? path + [UInt8(ascii: "/")] : path
        guard let (prefix, rest) = split(name) else {
            throw PlaneProtocolError(
                .tooLarge,
                "\(BundlePath.display(path)): a path of \(name.count) bytes that ustar cannot hold "
                    + "(at most 100 bytes after the last slash that leaves at most 155 before it)"
            )
        }
        guard linkName.count <= 100 else {
            throw PlaneProtocolError(
                .tooLarge,
                "\(BundlePath.display(path)): a link target of \(linkName.count) bytes; ustar holds at most 100"
            )
        }
        guard size < 1 << 33 else {
            throw PlaneProtocolError(.tooLarge, "\(BundlePath.display(path)): \(size) bytes; ustar holds under 8 GiB")
        }
        put(rest, into: &h, at: 0)
        put(octal(mode, width: 8), into: &h, at: 100)
        put(octal(0, width: 8), into: &h, at: 108)  // uid
        put(octal(0, width: 8), into: &h, at: 116)  // gid
        put(octal(size, width: 12), into: &h, at: 124)
        put(octal(0, width: 12), into: &h, at: 136)  // mtime
        h[156] = type
        put(linkName, into: &h, at: 157)
        put(Array("ustar\u{0}00".utf8), into: &h, at: 257)
        put(octal(0, width: 8), into: &h, at: 329)  // devmajor
        put(octal(0, width: 8), into: &h, at: 337)  // devminor
        put(prefix, into: &h, at: 345)
        // The checksum is summed with its own field as eight spaces, then written "%06o\0 ".
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7), into: &h, at: 148)
        h[155] = 0x20
        return h
    }

    /// GNU tar's split of a long name (src/create.c `split_long_name`): the last slash within the first 156
    /// bytes, leaving a non-empty name of at most 100 bytes. Nil when no such slash exists.
    static func split(_ name: [UInt8]) -> (prefix: ArraySlice<UInt8>, name: ArraySlice<UInt8>)? {
        if name.count <= 100 { return ([], name[...]) }
        guard name.count <= 155 + 100 + 1 else { return nil }
        var length = name.count
        if length > 156 {
            length = 156
        } else if name[length - 1] == UInt8(ascii: "/") {
            length -= 1
        }
        var i = length - 1
        while i > 0 && name[i] != UInt8(ascii: "/") { i -= 1 }
        let nameLength = name.count - i - 1
        guard i > 0, nameLength > 0, nameLength <= 100 else { return nil }
        return (name[..<i], name[(i + 1)...])
    }

    /// `value` as zero-padded octal digits filling `width - 1` bytes, then NUL.
    static func octal(_ value: Int, width: Int) -> [UInt8] {
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: width - 1)
        var v = value
        var i = width - 2
        while v > 0 && i >= 0 {
            digits[i] = UInt8(ascii: "0") + UInt8(v & 7)
            v >>= 3
            i -= 1
        }
        return digits + [0]
    }

    private static func put(_ bytes: some Collection<UInt8>, into h: inout [UInt8], at offset: Int) {
        for (i, b) in bytes.enumerated() { h[offset + i] = b }
    }

    static func padded(_ n: Int) -> Int { (n + blockSize - 1) / blockSize * blockSize }

    // MARK: Decoding

    /// The entries of a ustar archive, read strictly: every header's checksum, octal fields and magic, every
    /// path, no links or special files, no duplicates, the limits, and zeros after the end marker.
    /// It does not require the canonical encoding; `verify` does.
    public static func decode(
        _ bytes: [UInt8],
        limits: Limits = .standard
    ) throws(PlaneProtocolError)
        -> [BundleEntry]
    {
        guard bytes.count <= limits.maxArchiveBytes else {
            throw PlaneProtocolError(
                .tooLarge,
                "expected an archive of at most \(limits.maxArchiveBytes) bytes, found \(bytes.count)"
            )
        }
        guard bytes.count % blockSize == 0, !bytes.isEmpty else {
            throw PlaneProtocolError(
                .malformed,
                "expected a whole number of 512-byte tar blocks, found \(bytes.count) bytes (truncated?)"
            )
        }
        var entries: [BundleEntry] = []
        var seen: Set<[UInt8]> = []
        var offset = 0
        while true {
            guard offset + blockSize <= bytes.count else {
                throw PlaneProtocolError(.malformed, "the archive ends without its two zero blocks (truncated?)")
            }
            let block = bytes[offset..<(offset + blockSize)]
            if block.allSatisfy({ $0 == 0 }) {
                guard offset + 2 * blockSize <= bytes.count,
                    bytes[(offset + blockSize)..<(offset + 2 * blockSize)].allSatisfy({ $0 == 0 })
                else {
                    throw PlaneProtocolError(.malformed, "at byte \(offset): expected two zero blocks at the end")
                }
                guard bytes[(offset + 2 * blockSize)...].allSatisfy({ $0 == 0 }) else {
                    throw PlaneProtocolError(.malformed, "data after the end of the archive (byte \(offset))")
                }
                return entries
            }
            let (entry, dataLength) = try parseHeader(block, at: offset, in: bytes)
            guard entries.count < limits.maxEntries else {
                throw PlaneProtocolError(.tooLarge, "expected at most \(limits.maxEntries) entries, found more")
            }
            guard seen.insert(entry.path).inserted else {
                throw PlaneProtocolError(.malformed, "\(entry.displayPath): listed twice")
            }
            entries.append(entry)
            offset += blockSize + padded(dataLength)
        }
    }

    private static func parseHeader(
        _ h: ArraySlice<UInt8>,
        at offset: Int,
        in bytes: [UInt8]
    ) throws(PlaneProtocolError) -> (BundleEntry, Int) {
        let fields = try headerFields(h, at: offset)
        var name = fields.name
        let display = BundlePath.display(name)
        let (mode, size, type) = (fields.mode, fields.size, fields.type)
        let isDirectory: Bool
        switch type {
        case UInt8(ascii: "0"), 0: isDirectory = false
        case UInt8(ascii: "5"): isDirectory = true
        case UInt8(ascii: "1"):
            throw PlaneProtocolError(.unsupportedEntry, "\(display): a hard link; bundles hold only files and dirs")
        case UInt8(ascii: "2"):
            throw PlaneProtocolError(.unsupportedEntry, "\(display): a symlink; bundles hold only files and dirs")
        default:
            throw PlaneProtocolError(
                .unsupportedEntry,
                "\(display): tar entry type \(BundlePath.display([type])); bundles hold only files (0) and dirs (5)"
            )
        }
        if isDirectory {
            guard name.last == UInt8(ascii: "/") else {
                throw PlaneProtocolError(.notCanonical, "\(display): a directory named without its trailing slash")
            }
            name.removeLast()
            guard size == 0 else { throw PlaneProtocolError(.malformed, "\(display): a directory with data") }
        } else if name.last == UInt8(ascii: "/") {
            throw PlaneProtocolError(.malformed, "\(display): a file named with a trailing slash")
        }
        let start = offset + blockSize
        guard size <= bytes.count - start - 2 * blockSize else {
            throw PlaneProtocolError(.malformed, "\(display): \(size) bytes of data, more than the archive holds")
        }
        let kind: BundleEntry.Kind =
            isDirectory
            ? .directory : .file(contents: Array(bytes[start..<(start + size)]), executable: mode & 0o111 != 0)
        return (try BundleEntry(path: name, kind: kind), size)
    }

    /// The fields of one ustar header, read strictly (checksum, magic, octal numbers); the name joins the prefix.
    struct HeaderFields {
        var name: [UInt8]
        var mode: Int
        var size: Int
        var type: UInt8
        var linkName: [UInt8]
    }

    /// Reads the fields of the header `h` found at byte `offset` (for messages).
    static func headerFields(_ h: ArraySlice<UInt8>, at offset: Int) throws(PlaneProtocolError) -> HeaderFields {
        let base = h.startIndex
        func field(_ start: Int, _ length: Int) -> ArraySlice<UInt8> { h[(base + start)..<(base + start + length)] }
        func string(_ start: Int, _ length: Int) -> [UInt8] { Array(field(start, length).prefix { $0 != 0 }) }

        let stored = try number(field(148, 8), "checksum", at: offset)
        var sum = 0
        for (i, b) in h.enumerated() { sum += (148..<156).contains(i) ? 0x20 : Int(b) }
        guard stored == sum else {
            throw PlaneProtocolError(.malformed, "header at byte \(offset): checksum \(stored), computed \(sum)")
        }
        let magic = Array(field(257, 8))
        guard magic == Array("ustar\u{0}00".utf8) || magic == Array("ustar  \u{0}".utf8) else {
            throw PlaneProtocolError(.malformed, "header at byte \(offset): expected the ustar magic")
        }
        var name = string(0, 100)
        let prefix = string(345, 155)
        if !prefix.isEmpty { name = prefix + [UInt8(ascii: "/")] + name }
        return HeaderFields(
            name: name,
            mode: try number(field(100, 8), "mode", at: offset),
            size: try number(field(124, 12), "size", at: offset),
            type: h[base + 156],
            linkName: string(157, 100)
        )
    }

    /// An octal field: digits, optionally led by spaces and ended by NUL or space.
    private static func number(
        _ field: ArraySlice<UInt8>,
        _ what: String,
        at offset: Int
    ) throws(PlaneProtocolError)
        -> Int
    {
        var value = 0
        var digits = 0
        var ended = false
        for b in field {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "7") where !ended:
                value = value << 3 | Int(b - UInt8(ascii: "0"))
                digits += 1
            case 0, 0x20:
                if digits > 0 { ended = true }
            default:
                throw PlaneProtocolError(.malformed, "header at byte \(offset): \(what) is not an octal number")
            }
        }
        guard digits > 0, digits <= 12 else {
            throw PlaneProtocolError(.malformed, "header at byte \(offset): \(what) is not an octal number")
        }
        return value
    }

    // MARK: Canonical form

    /// The entries of `bytes` when the archive is canonical: decoded strictly, every parent directory listed,
    /// and re-encoded to exactly the same bytes. Otherwise `.notCanonical` says where it differs.
    public static func verify(
        _ bytes: [UInt8],
        limits: Limits = .standard
    ) throws(PlaneProtocolError)
        -> [BundleEntry]
    {
        let entries = try decode(bytes, limits: limits)
        try checkParents(entries)
        let canonical = try encode(entries, limits: limits)
        guard canonical != bytes else { return entries }
        let common = min(canonical.count, bytes.count)
        let at = (0..<common).first { canonical[$0] != bytes[$0] } ?? common
        throw PlaneProtocolError(
            .notCanonical,
            "expected the canonical encoding of its entries; the first difference is at byte \(at), "
                + locate(at, in: entries)
        )
    }

    /// Every file's and directory's parent directories must be entries (one tree, one encoding).
    static func checkParents(_ entries: [BundleEntry]) throws(PlaneProtocolError) {
        var directories: Set<[UInt8]> = []
        var files: Set<[UInt8]> = []
        for entry in entries {
            if case .directory = entry.kind { directories.insert(entry.path) } else { files.insert(entry.path) }
        }
        for entry in entries {
            guard let slash = entry.path.lastIndex(of: UInt8(ascii: "/")) else { continue }
            let parent = Array(entry.path[..<slash])
            if files.contains(parent) {
                throw PlaneProtocolError(.malformed, "\(entry.displayPath): its parent is a file")
            }
            guard directories.contains(parent) else {
                throw PlaneProtocolError(
                    .notCanonical,
                    "\(entry.displayPath): expected its directory \(BundlePath.display(parent))/ listed before it"
                )
            }
        }
    }

    /// Which part of the canonical layout of `entries` byte `offset` falls in, for messages.
    private static func locate(_ offset: Int, in entries: [BundleEntry]) -> String {
        var position = 0
        for entry in entries.sorted(by: { $0.path.lexicographicallyPrecedes($1.path) }) {
            let end = position + blockSize + padded(entry.contents?.count ?? 0)
            if offset < position + blockSize {
                let fields: [(Range<Int>, String)] = [
                    (0..<100, "name"), (100..<108, "mode"), (108..<124, "uid/gid"), (124..<136, "size"),
                    (136..<148, "mtime"), (148..<156, "checksum"), (156..<157, "type"), (157..<257, "link name"),
                    (257..<265, "magic/version"), (265..<329, "uname/gname"), (329..<345, "device numbers"),
                    (345..<500, "prefix"),
                ]
                let name = fields.first { $0.0.contains(offset - position) }?.1 ?? "padding"
                return "in the \(name) field of the header of \(entry.displayPath)"
            }
            if offset < end { return "in the data of \(entry.displayPath)" }
            position = end
        }
        return "after the last entry (end blocks or record padding)"
    }
}
