// Sealed format v1 — the bytes a provider produces and the Decrypt FUSE reads. Never change v1 in place:
// a new layout is a new version, and Tests/SealingTests/Fixtures/v1 must decrypt forever.
//
// Sealed tree (any POSIX directory; names carry no information about the plaintext):
//   manifest.dlsealed            the encrypted manifest (kind 1); SHA-256 of these bytes = the manifest digest
//                                registered on chain
//   objects/<hh>/<64 hex>        one sealed file (kind 0) per plaintext file; name = hex(file id), hh = its
//                                first two hex digits (keeps directories small on object stores)
//
// Sealed file = header (96 bytes) ‖ chunk 0 ‖ … ‖ chunk n-1, all integers big-endian:
//   off len  field
//     0   8  magic "DLSEALED"
//     8   2  version = 1
//    10   1  kind: 0 = data file, 1 = manifest
//    11   1  reserved, 0
//    12   4  chunk size C: plaintext bytes per chunk, a power of two in 4 KiB ... 1 MiB
//    16   8  plaintext length L, at most 2^48
//    24   4  key version (of the dataset key, DEK)
//    28   4  reserved, 0
//    32  32  dataset id (the on-chain bytes32)
//    64  32  file id: 32 random bytes, fresh for every sealing of every file
//   n = max(1, ceil(L / C)) chunks (an empty file still has one, empty, final chunk, so its header is
//   authenticated); chunk i sits at 96 + i·(C + 16) and is AES-256-GCM ciphertext (C bytes, fewer for the
//   last) ‖ 16-byte tag. The sealed length is exactly 96 + 16·n + L; anything else is refused before reading.
//
// Keys:   file key = HKDF-SHA256(ikm: DEK, salt: file id, info: "delong/sealed/v1/" ‖ ("file" | "manifest")
//                                 ‖ dataset id ‖ key version), 32 bytes.
// Nonce:  0x00000000 ‖ chunk index (u64). Unique because every (file key, chunk index) pair seals once.
// AAD:    the 96 header bytes ‖ chunk index (u64) ‖ final flag (1 for chunk n-1, else 0). The header binds
//         dataset id, key version, file id, kind, chunk size and length; index and flag stop reordering,
//         splicing and truncation; the file id (through the key and the AAD) stops swaps between files.
//
// Manifest plaintext (inside the kind-1 file):
//   "DLMANIF1" ‖ entry count (u32) ‖ entries sorted by path bytes, each:
//     kind (u8: 1 directory, 2 file) ‖ path length (u16) ‖ path (UTF-8, relative, "/"-separated)
//     files only: file id (32) ‖ plaintext size (u64) ‖ SHA-256 of the plaintext (32)
//   Paths have no empty, "." or ".." components, no NUL, no leading "/"; they are unique and every parent
//   directory is listed. Readers enforce all of this and bound every length before allocating.
//
// See docs/sealed-format.md for the threat model and the chunk-size measurements.

/// Constants and helpers of sealed format v1.
public enum SealedFormat {
    /// The version this build writes and reads.
    public static let currentVersion: UInt16 = 1
    /// The 8 magic bytes at the start of every sealed file.
    public static let magic: [UInt8] = Array("DLSEALED".utf8)
    /// Header length in bytes.
    public static let headerLength = 96
    /// AES-GCM tag length.
    public static let tagLength = 16
    /// Smallest accepted chunk size.
    public static let minimumChunkSize: UInt32 = 4096
    /// Largest accepted chunk size.
    public static let maximumChunkSize: UInt32 = 1 << 20
    /// Default chunk size, chosen by measurement (docs/sealed-format.md, "Chunk size").
    public static let defaultChunkSize: UInt32 = 4096
    /// Largest accepted plaintext length (256 TiB): keeps all offset arithmetic far from overflow.
    public static let maximumPlaintextLength: UInt64 = 1 << 48
    /// Name of the manifest file in a sealed tree.
    public static let manifestFileName = "manifest.dlsealed"
    /// Name of the directory holding the sealed data files.
    public static let objectsDirectoryName = "objects"

    /// True for a power of two within the accepted range.
    public static func isValidChunkSize(_ size: UInt32) -> Bool {
        size >= minimumChunkSize && size <= maximumChunkSize && size & (size - 1) == 0
    }

    /// Relative path of the sealed data file with `fileID` inside a sealed tree.
    public static func objectPath(for fileID: FileID) -> String {
        let hex = fileID.hex
        return "\(objectsDirectoryName)/\(hex.prefix(2))/\(hex)"
    }
}

/// What a sealed file holds; part of the header, the AAD and the key derivation.
public enum SealedFileKind: UInt8, Sendable {
    /// A plaintext file of the dataset.
    case data = 0
    /// The dataset manifest.
    case manifest = 1

    var keyLabel: String { self == .data ? "file" : "manifest" }
}

/// A dataset id: the 32-byte identifier registered on chain.
public struct DatasetID: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes.
    public let bytes: [UInt8]

    /// Wraps exactly 32 bytes.
    public init(bytes: [UInt8]) throws(SealingError) {
        guard bytes.count == 32 else {
            throw SealingError(.malformed, "a dataset id is 32 bytes, found \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// Parses `0x` followed by 64 hex digits (the `0x` is optional).
    public init(hex: String) throws(SealingError) {
        guard let bytes = HexBytes.decode(hex), bytes.count == 32 else {
            throw SealingError(
                .malformed,
                "a dataset id is 0x followed by 64 hex digits, found \"\(hex.prefix(80))\""
            )
        }
        self.bytes = bytes
    }

    /// `0x`-prefixed lowercase hex.
    public var description: String { "0x" + HexBytes.encode(bytes) }
}

/// A file id: 32 random bytes naming one sealed file.
public struct FileID: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes.
    public let bytes: [UInt8]

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// Lowercase hex without prefix (the object's file name).
    public var hex: String { HexBytes.encode(bytes) }
    public var description: String { hex }
}

/// The 96-byte header of a sealed file.
public struct SealedFileHeader: Hashable, Sendable {
    /// Data file or manifest.
    public var kind: SealedFileKind
    /// Plaintext bytes per chunk.
    public var chunkSize: UInt32
    /// Plaintext length in bytes.
    public var plaintextLength: UInt64
    /// Version of the dataset key that sealed this file.
    public var keyVersion: UInt32
    /// The dataset this file belongs to.
    public var datasetID: DatasetID
    /// This file's random id.
    public var fileID: FileID

    /// A header with these fields.
    public init(
        kind: SealedFileKind,
        chunkSize: UInt32,
        plaintextLength: UInt64,
        keyVersion: UInt32,
        datasetID: DatasetID,
        fileID: FileID
    ) {
        self.kind = kind
        self.chunkSize = chunkSize
        self.plaintextLength = plaintextLength
        self.keyVersion = keyVersion
        self.datasetID = datasetID
        self.fileID = fileID
    }

    /// Number of chunks (at least one).
    public var chunkCount: UInt64 {
        plaintextLength == 0 ? 1 : (plaintextLength + UInt64(chunkSize) - 1) / UInt64(chunkSize)
    }

    /// Exact length of the sealed file.
    public var sealedLength: UInt64 {
        UInt64(SealedFormat.headerLength) + chunkCount * UInt64(SealedFormat.tagLength) + plaintextLength
    }

    /// Plaintext bytes in chunk `index`.
    public func plaintextLength(ofChunk index: UInt64) -> Int {
        let start = index * UInt64(chunkSize)
        return Int(min(UInt64(chunkSize), plaintextLength - min(start, plaintextLength)))
    }

    /// Offset of chunk `index` in the sealed file.
    public func sealedOffset(ofChunk index: UInt64) -> UInt64 {
        UInt64(SealedFormat.headerLength) + index * (UInt64(chunkSize) + UInt64(SealedFormat.tagLength))
    }

    /// The 96 header bytes.
    public func encoded() -> [UInt8] {
        var out = SealedFormat.magic
        out.reserveCapacity(SealedFormat.headerLength)
        out.appendBigEndian(SealedFormat.currentVersion)
        out.append(kind.rawValue)
        out.append(0)
        out.appendBigEndian(chunkSize)
        out.appendBigEndian(plaintextLength)
        out.appendBigEndian(keyVersion)
        out.appendBigEndian(UInt32(0))
        out += datasetID.bytes
        out += fileID.bytes
        return out
    }

    /// Parses and range-checks a header; hostile values are refused before anything is allocated from them.
    public static func decode(_ bytes: [UInt8], source: String) throws(SealingError) -> SealedFileHeader {
        guard bytes.count >= SealedFormat.headerLength else {
            throw SealingError(
                .malformed,
                "\(source): truncated header: expected \(SealedFormat.headerLength) bytes, found \(bytes.count)"
            )
        }
        guard Array(bytes[0..<8]) == SealedFormat.magic else {
            throw SealingError(.malformed, "\(source): not a sealed file (expected magic \"DLSEALED\")")
        }
        let version = bytes.readBigEndian(UInt16.self, at: 8)
        guard version == SealedFormat.currentVersion else {
            throw SealingError(
                .unsupportedVersion,
                "\(source): sealed format version \(version) is not supported; this build reads version 1"
            )
        }
        guard let kind = SealedFileKind(rawValue: bytes[10]) else {
            throw SealingError(.malformed, "\(source): unknown file kind \(bytes[10]); expected 0 or 1")
        }
        guard bytes[11] == 0, bytes.readBigEndian(UInt32.self, at: 28) == 0 else {
            throw SealingError(.malformed, "\(source): reserved header bytes are not zero")
        }
        let chunkSize = bytes.readBigEndian(UInt32.self, at: 12)
        guard SealedFormat.isValidChunkSize(chunkSize) else {
            throw SealingError(
                .malformed,
                "\(source): chunk size \(chunkSize) is not a power of two between 4096 and 1048576"
            )
        }
        let length = bytes.readBigEndian(UInt64.self, at: 16)
        guard length <= SealedFormat.maximumPlaintextLength else {
            throw SealingError(.malformed, "\(source): plaintext length \(length) exceeds the 2^48-byte limit")
        }
        return SealedFileHeader(
            kind: kind,
            chunkSize: chunkSize,
            plaintextLength: length,
            keyVersion: bytes.readBigEndian(UInt32.self, at: 24),
            datasetID: try DatasetID(bytes: Array(bytes[32..<64])),
            fileID: FileID(unchecked: Array(bytes[64..<96]))
        )
    }
}

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    @inline(__always)
    func readBigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value = value << 8 | T(self[offset + i]) }
        return value
    }
}

/// Lowercase hex without Foundation.
public enum HexBytes {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes of an even-length hex string with optional `0x`; nil if it is not hex.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var utf8 = Array(text.utf8)
        if utf8.count >= 2, utf8[0] == UInt8(ascii: "0"), utf8[1] | 0x20 == UInt8(ascii: "x") {
            utf8.removeFirst(2)
        }
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
