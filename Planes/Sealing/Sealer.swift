import Glibc
import PlaneCrypto

/// Seals a plaintext directory tree into a sealed tree (format v1), streaming with constant memory.
///
/// The output appears atomically: everything is written under a temporary sibling name, synced, and renamed
/// to the output path only when complete. The output must not exist (or be an empty directory).
public struct Sealer: Sendable {
    /// Options of one sealing.
    public struct Options: Sendable {
        /// The on-chain dataset id.
        public var datasetID: DatasetID
        /// Version of the DEK.
        public var keyVersion: UInt32
        /// Plaintext bytes per chunk.
        public var chunkSize: UInt32
        /// fsync every file before the final rename.
        public var durable: Bool

        /// Options with the default chunk size.
        public init(
            datasetID: DatasetID,
            keyVersion: UInt32 = 1,
            chunkSize: UInt32 = SealedFormat.defaultChunkSize,
            durable: Bool = true
        ) {
            self.datasetID = datasetID
            self.keyVersion = keyVersion
            self.chunkSize = chunkSize
            self.durable = durable
        }
    }

    /// What a sealing produced.
    public struct Result: Sendable {
        /// SHA-256 of the sealed manifest file: the digest to register on chain.
        public let manifestDigest: [UInt8]
        /// The manifest that was sealed.
        public let manifest: Manifest
        /// Total plaintext bytes sealed.
        public let plaintextBytes: UInt64
    }

    /// Progress callback: plaintext bytes done so far, and the total.
    public typealias Progress = (_ done: UInt64, _ total: UInt64) -> Void

    let options: Options

    /// A sealer with `options`.
    public init(options: Options) throws(SealingError) {
        guard SealedFormat.isValidChunkSize(options.chunkSize) else {
            throw SealingError(
                .malformed,
                "chunk size \(options.chunkSize) is not a power of two between 4096 and 1048576"
            )
        }
        self.options = options
    }

    /// Seals `source` into `output` under the DEK from `keySource`.
    public func seal(
        source: String,
        output: String,
        keySource: any DatasetKeySource,
        progress: Progress? = nil
    ) throws(SealingError) -> Result {
        let key = try keySource.datasetKey(for: options.datasetID, keyVersion: options.keyVersion)
        let tree = try TreeWalker.walk(source)
        try Self.requireAbsentOrEmpty(output)
        let suffix = HexBytes.encode((try? SecureRandom.bytes(count: 6)) ?? [0, 0, 0, 0, 0, 0])
        let staging = output.trimmingTrailingSlashes + ".partial-" + suffix
        guard mkdir(staging, 0o755) == 0 else { throw PosixFile.errnoError("create directory", staging) }
        do throws(SealingError) {
            let result = try sealTree(tree, source: source, staging: staging, key: key, progress: progress)
            try? FileSystem.removeIfEmptyDirectory(output)
            guard rename(staging, output) == 0 else { throw PosixFile.errnoError("rename into place", output) }
            FileSystem.syncDirectory(FileSystem.parent(of: output))
            return result
        } catch {
            FileSystem.removeTree(staging)
            throw error
        }
    }

    private func sealTree(
        _ tree: [TreeWalker.Item],
        source: String,
        staging: String,
        key: SecretBytes,
        progress: Progress?
    ) throws(SealingError) -> Result {
        let total = tree.reduce(UInt64(0)) { $0 + $1.size }
        var done: UInt64 = 0
        var entries: [Manifest.Entry] = []
        let objects = staging + "/" + SealedFormat.objectsDirectoryName
        guard mkdir(objects, 0o755) == 0 else { throw PosixFile.errnoError("create directory", objects) }
        var fanout: Set<String> = []
        let hasher = DigestContext(.sha256)
        let buffers = StreamBuffers(chunkSize: Int(options.chunkSize))
        progress?(0, total)
        for item in tree {
            if item.isDirectory {
                entries.append(.directory(item.path))
                continue
            }
            let fileID = try Self.randomFileID()
            let objectPath = SealedFormat.objectPath(for: fileID)
            let dir = staging + "/" + objectPath.prefix(objectPath.count - 65)
            if fanout.insert(dir).inserted, mkdir(dir, 0o755) != 0 {
                throw PosixFile.errnoError("create directory", dir)
            }
            let input = try PosixFile.openForReading(source + "/" + item.path)
            let size = try input.size()
            let header = SealedFileHeader(
                kind: .data,
                chunkSize: options.chunkSize,
                plaintextLength: size,
                keyVersion: options.keyVersion,
                datasetID: options.datasetID,
                fileID: fileID
            )
            let out = try PosixFile.createExclusive(staging + "/" + objectPath)
            let base = done
            try sealStream(header: header, key: key, buffers: buffers, output: out, plaintextHash: hasher) {
                (buffer: UnsafeMutableRawBufferPointer) throws(SealingError) -> Int in
                try input.readSome(into: buffer)
            } progress: { doneInFile in
                progress?(base + doneInFile, total)
            }
            // The file must not have grown while we sealed it (it has not shrunk: readSome ran dry otherwise).
            var probe = [UInt8](repeating: 0, count: 1)
            guard try input.readSome(into: &probe) == 0 else {
                throw SealingError(.io, "\(item.path) grew while it was being sealed; seal a stable copy")
            }
            if options.durable { try out.sync() }
            done += size
            entries.append(.file(item.path, fileID: fileID, size: size, sha256: hasher.finalize()))
        }
        let manifest = try Manifest(entries: entries)
        let manifestBytes = manifest.encoded()
        let header = SealedFileHeader(
            kind: .manifest,
            chunkSize: options.chunkSize,
            plaintextLength: UInt64(manifestBytes.count),
            keyVersion: options.keyVersion,
            datasetID: options.datasetID,
            fileID: try Self.randomFileID()
        )
        let out = try PosixFile.createExclusive(staging + "/" + SealedFormat.manifestFileName)
        var position = 0
        let sealedHasher = DigestContext(.sha256)
        try sealStream(
            header: header,
            key: key,
            buffers: buffers,
            output: out,
            plaintextHash: hasher,
            sealedHash: sealedHasher
        ) { (buffer: UnsafeMutableRawBufferPointer) throws(SealingError) -> Int in
            let n = min(buffer.count, manifestBytes.count - position)
            manifestBytes.withUnsafeBytes {
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[position..<position + n]))
            }
            position += n
            return n
        } progress: { _ in
        }
        _ = hasher.finalize()
        if options.durable { try out.sync() }
        progress?(total, total)
        return Result(manifestDigest: sealedHasher.finalize(), manifest: manifest, plaintextBytes: total)
    }

    /// Reusable plaintext/ciphertext buffers for one sealing (constant memory whatever the input size).
    final class StreamBuffers {
        static let chunksPerBatch = 64
        let plain: ScratchBuffer
        let sealed: ScratchBuffer
        let chunkSize: Int
        init(chunkSize: Int) {
            self.chunkSize = chunkSize
            let batch = max(1, Self.chunksPerBatch * 16384 / chunkSize)
            plain = ScratchBuffer(count: chunkSize * batch)
            sealed = ScratchBuffer(count: (chunkSize + SealedFormat.tagLength) * batch)
        }
        var chunksPerBatch: Int { plain.bytes.count / chunkSize }
    }

    /// Streams one file: reads exactly `header.plaintextLength` bytes from `read`, writes header and chunks.
    private func sealStream(
        header: SealedFileHeader,
        key: SecretBytes,
        buffers: StreamBuffers,
        output: PosixFile,
        plaintextHash: DigestContext,
        sealedHash: DigestContext? = nil,
        read: (UnsafeMutableRawBufferPointer) throws(SealingError) -> Int,
        progress: (UInt64) -> Void
    ) throws(SealingError) {
        let cipher = try FileCipher(datasetKey: key, header: header)
        let headerBytes = header.encoded()
        try output.writeAll(headerBytes)
        sealedHash?.update(headerBytes)
        let chunkSize = Int(header.chunkSize)
        var index: UInt64 = 0
        var remaining = header.plaintextLength
        let count = header.chunkCount
        var lastReport: UInt64 = 0
        while index < count {
            let batch = min(UInt64(buffers.chunksPerBatch), count - index)
            let want = Int(min(remaining, batch * UInt64(chunkSize)))
            let plain = UnsafeMutableRawBufferPointer(rebasing: buffers.plain.bytes[0..<want])
            let got = try read(plain)
            guard got == want else {
                throw SealingError(
                    .io,
                    "input shrank while being sealed: expected \(header.plaintextLength) bytes in total"
                )
            }
            plaintextHash.update(UnsafeRawBufferPointer(plain))
            var sealedLength = 0
            var consumed = 0
            for _ in 0..<batch {
                let n = header.plaintextLength(ofChunk: index)
                let sealed = UnsafeMutableRawBufferPointer(
                    rebasing: buffers.sealed.bytes[sealedLength..<sealedLength + n + SealedFormat.tagLength]
                )
                try cipher.sealChunk(
                    index,
                    plaintext: UnsafeRawBufferPointer(rebasing: plain[consumed..<consumed + n]),
                    into: sealed
                )
                sealedLength += n + SealedFormat.tagLength
                consumed += n
                index += 1
            }
            let sealed = UnsafeRawBufferPointer(rebasing: buffers.sealed.bytes[0..<sealedLength])
            try output.writeAll(sealed)
            sealedHash?.update(sealed)
            remaining -= UInt64(want)
            let doneHere = header.plaintextLength - remaining
            if doneHere - lastReport >= 8 << 20 || remaining == 0 {
                progress(doneHere)
                lastReport = doneHere
            }
        }
    }

    static func randomFileID() throws(SealingError) -> FileID {
        do {
            return FileID(unchecked: try SecureRandom.bytes(count: 32))
        } catch {
            throw SealingError(.crypto, "cannot draw a random file id: \(error.reason)")
        }
    }

    static func requireAbsentOrEmpty(_ output: String) throws(SealingError) {
        var st = stat()
        guard lstat(output, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFDIR, FileSystem.isEmptyDirectory(output) else {
            throw SealingError(
                .io,
                "output \(output) already exists and is not an empty directory; refusing to overwrite"
            )
        }
    }
}

extension String {
    var trimmingTrailingSlashes: String {
        var s = self
        while s.count > 1, s.hasSuffix("/") { s.removeLast() }
        return s
    }
}
