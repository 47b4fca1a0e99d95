/// Random-access, authenticated reads of one sealed file. Safe to share between threads.
///
/// Opening checks the header against what the manifest expects and the file's exact length, so a truncated,
/// extended, substituted or replayed file is refused before any read. Every read authenticates each chunk it
/// touches; a failure is an error, and no byte of a failed chunk reaches the caller.
public final class SealedFileReader: @unchecked Sendable {
    /// The file's header (checked).
    public let header: SealedFileHeader
    /// The name used in errors (the manifest path, never the key).
    public let displayName: String
    private let file: PosixFile
    private let cipher: FileCipher

    /// What the opener requires of the header.
    public struct Expectation: Sendable {
        /// Required kind.
        public var kind: SealedFileKind
        /// Required dataset id, if known.
        public var datasetID: DatasetID?
        /// Required key version, if known.
        public var keyVersion: UInt32?
        /// Required file id (from the manifest), if known.
        public var fileID: FileID?
        /// Required plaintext length (from the manifest), if known.
        public var plaintextLength: UInt64?

        /// An expectation; nil fields are not checked.
        public init(
            kind: SealedFileKind,
            datasetID: DatasetID? = nil,
            keyVersion: UInt32? = nil,
            fileID: FileID? = nil,
            plaintextLength: UInt64? = nil
        ) {
            self.kind = kind
            self.datasetID = datasetID
            self.keyVersion = keyVersion
            self.fileID = fileID
            self.plaintextLength = plaintextLength
        }
    }

    /// Opens the sealed file at `path`.
    public convenience init(
        path: String,
        displayName: String,
        expecting expectation: Expectation,
        keySource: any DatasetKeySource
    ) throws(SealingError) {
        let file = try PosixFile.openForReading(path)
        let size = try file.size()
        guard size >= UInt64(SealedFormat.headerLength) else {
            throw SealingError(
                .malformed,
                "\(displayName): truncated header: expected at least \(SealedFormat.headerLength) bytes, found \(size)"
            )
        }
        let header = try SealedFileHeader.decode(
            file.readExactly(count: SealedFormat.headerLength, at: 0),
            source: displayName
        )
        try Self.check(header, against: expectation, size: size, displayName: displayName)
        let key = try keySource.datasetKey(for: header.datasetID, keyVersion: header.keyVersion)
        try self.init(
            file: file,
            header: header,
            cipher: FileCipher(datasetKey: key, header: header),
            displayName: displayName
        )
        // An empty file has no bytes to read, so no read would ever check its one (empty) chunk and thereby its
        // header: authenticate it now.
        if header.plaintextLength == 0 { _ = try decryptChunk(0) }
    }

    private init(
        file: PosixFile,
        header: SealedFileHeader,
        cipher: FileCipher,
        displayName: String
    ) throws(SealingError) {
        self.file = file
        self.header = header
        self.cipher = cipher
        self.displayName = displayName
    }

    private static func check(
        _ header: SealedFileHeader,
        against e: Expectation,
        size: UInt64,
        displayName: String
    ) throws(SealingError) {
        guard header.kind == e.kind else {
            throw SealingError(.mismatch, "\(displayName): expected a \(e.kind) file, found a \(header.kind) file")
        }
        if let id = e.datasetID, id != header.datasetID {
            throw SealingError(
                .mismatch,
                "\(displayName): sealed for dataset \(header.datasetID), expected dataset \(id)"
            )
        }
        if let v = e.keyVersion, v != header.keyVersion {
            throw SealingError(
                .mismatch,
                "\(displayName): sealed with key version \(header.keyVersion), expected \(v)"
            )
        }
        if let id = e.fileID, id != header.fileID {
            throw SealingError(
                .mismatch,
                "\(displayName): object holds file id \(header.fileID), manifest expects \(id) (substituted or replayed file)"
            )
        }
        if let length = e.plaintextLength, length != header.plaintextLength {
            throw SealingError(
                .mismatch,
                "\(displayName): header says \(header.plaintextLength) plaintext bytes, manifest says \(length)"
            )
        }
        guard size == header.sealedLength else {
            throw SealingError(
                .mismatch,
                "\(displayName): sealed file is \(size) bytes, expected \(header.sealedLength) (truncated or extended)"
            )
        }
    }

    /// Plaintext length.
    public var plaintextLength: UInt64 { header.plaintextLength }

    /// Scratch buffers for ciphertext, shared by all readers: at least one maximal chunk, and 64 KiB chunks' worth.
    static let scratchLength = Int(SealedFormat.maximumChunkSize) + 64 * 1024 + 64 * SealedFormat.tagLength
    static let scratch = Pool<ScratchBuffer>(limit: 16) { ScratchBuffer(count: scratchLength) }

    /// Reads up to `buffer.count` plaintext bytes at `offset`; returns how many (fewer only at end of file).
    ///
    /// Chunks fully covered by the request are decrypted straight into `buffer`; partially covered chunks go
    /// through `cache` (if given) under `cacheKey`. Throws `.authenticationFailed` naming the chunk.
    public func read(
        at offset: UInt64,
        into buffer: UnsafeMutableRawBufferPointer,
        cache: ChunkCache? = nil,
        cacheKey: UInt64 = 0
    ) throws(SealingError) -> Int {
        let length = header.plaintextLength
        guard offset < length, buffer.count > 0 else { return 0 }
        let end = min(length, offset + UInt64(buffer.count))
        let total = Int(end - offset)
        let chunkSize = UInt64(header.chunkSize)
        var chunk = offset / chunkSize
        let lastChunk = (end - 1) / chunkSize
        while chunk <= lastChunk {
            let chunkStart = chunk * chunkSize
            let chunkLength = header.plaintextLength(ofChunk: chunk)
            let covered = chunkStart >= offset && chunkStart + UInt64(chunkLength) <= end
            if !covered {
                // Partial chunk: serve from the cache, or decrypt it whole and remember it.
                let plain = try partialChunk(chunk, cache: cache, cacheKey: cacheKey)
                let from = max(offset, chunkStart)
                let to = min(end, chunkStart + UInt64(chunkLength))
                plain.withUnsafeBytes { p in
                    let source = UnsafeRawBufferPointer(rebasing: p[Int(from - chunkStart)..<Int(to - chunkStart)])
                    UnsafeMutableRawBufferPointer(rebasing: buffer[Int(from - offset)...]).copyMemory(from: source)
                }
                chunk += 1
                continue
            }
            // A run of fully covered chunks: one pread, then decrypt each into place.
            var runEnd = chunk
            let sealedStride = Int(chunkSize) + SealedFormat.tagLength
            while runEnd < lastChunk {
                let next = runEnd + 1
                let nextStart = next * chunkSize
                guard nextStart + UInt64(header.plaintextLength(ofChunk: next)) <= end else { break }
                guard Int(next - chunk + 1) * sealedStride <= Self.scratchLength else { break }
                runEnd = next
            }
            try Self.scratch.with { (scratch: ScratchBuffer) throws(SealingError) in
                let firstOffset = header.sealedOffset(ofChunk: chunk)
                let lastLength = header.plaintextLength(ofChunk: runEnd) + SealedFormat.tagLength
                let sealedBytes = Int(header.sealedOffset(ofChunk: runEnd) - firstOffset) + lastLength
                let sealed = UnsafeMutableRawBufferPointer(rebasing: scratch.bytes[0..<sealedBytes])
                try file.readExactly(into: sealed, at: firstOffset)
                var index = chunk
                while index <= runEnd {
                    let plainLength = header.plaintextLength(ofChunk: index)
                    let s = Int(index - chunk) * sealedStride
                    let d = Int(index * chunkSize - offset)
                    let ok = try cipher.openChunk(
                        index,
                        sealed: UnsafeRawBufferPointer(rebasing: sealed[s..<s + plainLength + SealedFormat.tagLength]),
                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[d..<d + plainLength])
                    )
                    guard ok else {
                        // Wipe everything decrypted for this request: the caller gets an error, never bytes.
                        buffer.initializeMemory(as: UInt8.self, repeating: 0)
                        throw authenticationFailure(index)
                    }
                    index += 1
                }
            }
            chunk = runEnd + 1
        }
        return total
    }

    private func partialChunk(_ index: UInt64, cache: ChunkCache?, cacheKey: UInt64) throws(SealingError) -> [UInt8] {
        if let cache, let hit = cache.get(file: cacheKey, chunk: index) { return hit }
        let plain = try decryptChunk(index)
        cache?.insert(file: cacheKey, chunk: index, bytes: plain)
        return plain
    }

    /// Decrypts and authenticates one chunk.
    public func decryptChunk(_ index: UInt64) throws(SealingError) -> [UInt8] {
        guard index < header.chunkCount else {
            throw SealingError(
                .malformed,
                "\(displayName): chunk \(index) is past the last chunk \(header.chunkCount - 1)"
            )
        }
        let plainLength = header.plaintextLength(ofChunk: index)
        var plain = [UInt8](repeating: 0, count: plainLength)
        var result: Result<Bool, SealingError> = .success(false)
        plain.withUnsafeMutableBytes { p in
            result = Result { () throws(SealingError) -> Bool in
                try Self.scratch.with { (scratch: ScratchBuffer) throws(SealingError) -> Bool in
                    let sealed = UnsafeMutableRawBufferPointer(
                        rebasing: scratch.bytes[0..<plainLength + SealedFormat.tagLength]
                    )
                    try file.readExactly(into: sealed, at: header.sealedOffset(ofChunk: index))
                    return try cipher.openChunk(index, sealed: UnsafeRawBufferPointer(sealed), into: p)
                }
            }
        }
        guard try result.get() else { throw authenticationFailure(index) }
        return plain
    }

    private func authenticationFailure(_ index: UInt64) -> SealingError {
        var error = SealingError(
            .authenticationFailed,
            "\(displayName): chunk \(index) of \(header.chunkCount) failed authentication (tampered, reordered, truncated, or the wrong key)"
        )
        error.chunkIndex = index
        return error
    }
}

extension SealedFileKind: CustomStringConvertible {
    public var description: String { self == .data ? "data" : "manifest" }
}
