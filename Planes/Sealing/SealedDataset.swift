import Glibc
import PlaneCrypto

/// An opened sealed tree: the authenticated manifest, and readers for its files.
///
/// Opening reads `manifest.dlsealed` (bounded size), hashes it, compares the digest with the expected one
/// (the on-chain value) when given, authenticates every manifest chunk and validates the manifest.
public final class SealedDataset: Sendable {
    /// The sealed tree's directory.
    public let root: String
    /// The authenticated manifest.
    public let manifest: Manifest
    /// SHA-256 of the sealed manifest file.
    public let manifestDigest: [UInt8]
    /// Dataset id from the manifest header.
    public let datasetID: DatasetID
    /// Key version from the manifest header.
    public let keyVersion: UInt32
    private let keySource: any DatasetKeySource

    /// Opens the sealed tree at `root`.
    public init(
        root: String,
        keySource: any DatasetKeySource,
        expectedManifestDigest: [UInt8]? = nil,
        expectedDatasetID: DatasetID? = nil
    ) throws(SealingError) {
        let path = root + "/" + SealedFormat.manifestFileName
        let file = try PosixFile.openForReading(path)
        let size = try file.size()
        guard size <= Manifest.maximumEncodedLength + Manifest.maximumEncodedLength / 64 else {
            throw SealingError(.malformed, "\(path) is \(size) bytes; a manifest is at most 256 MiB")
        }
        guard size >= UInt64(SealedFormat.headerLength) else {
            throw SealingError(.malformed, "\(path): truncated header: expected at least 96 bytes, found \(size)")
        }
        let sealed = try file.readExactly(count: Int(size), at: 0)
        let digest = Digest.sha256(sealed)
        if let expected = expectedManifestDigest, !ConstantTime.equals(expected, digest) {
            throw SealingError(
                .mismatch,
                "manifest digest is 0x\(HexBytes.encode(digest)), expected 0x\(HexBytes.encode(expected)) (stale or substituted dataset)"
            )
        }
        let header = try SealedFileHeader.decode(Array(sealed[0..<SealedFormat.headerLength]), source: path)
        guard header.kind == .manifest else {
            throw SealingError(.malformed, "\(path) is a data file, expected the manifest")
        }
        if let expectedDatasetID, expectedDatasetID != header.datasetID {
            throw SealingError(
                .mismatch,
                "the sealed tree is dataset \(header.datasetID), expected \(expectedDatasetID)"
            )
        }
        guard header.sealedLength == size else {
            throw SealingError(
                .mismatch,
                "\(path) is \(size) bytes, expected \(header.sealedLength) (truncated or extended)"
            )
        }
        let reader = try SealedFileReader(
            path: path,
            displayName: SealedFormat.manifestFileName,
            expecting: .init(
                kind: .manifest,
                datasetID: header.datasetID,
                keyVersion: header.keyVersion,
                fileID: header.fileID,
                plaintextLength: header.plaintextLength
            ),
            keySource: keySource
        )
        var plain = [UInt8](repeating: 0, count: Int(header.plaintextLength))
        var result: Result<Int, SealingError> = .success(0)
        plain.withUnsafeMutableBytes { p in
            result = Result { () throws(SealingError) in try reader.read(at: 0, into: p) }
        }
        do {
            _ = try result.get()
        } catch  where error.code == .authenticationFailed {
            throw SealingError(
                .authenticationFailed,
                "the key does not open this dataset's manifest (wrong key, or the manifest was edited): \(error.reason)"
            )
        }
        self.manifest = try Manifest.decode(plain)
        self.root = root
        self.manifestDigest = digest
        self.datasetID = header.datasetID
        self.keyVersion = header.keyVersion
        self.keySource = keySource
    }

    /// Opens the sealed object of a file entry, checking its header against the manifest.
    public func openFile(_ entry: Manifest.Entry) throws(SealingError) -> SealedFileReader {
        guard entry.kind == .file, let fileID = entry.fileID else {
            throw SealingError(.malformed, "\(entry.path) is a directory, not a file")
        }
        return try SealedFileReader(
            path: root + "/" + SealedFormat.objectPath(for: fileID),
            displayName: entry.path,
            expecting: .init(
                kind: .data,
                datasetID: datasetID,
                keyVersion: keyVersion,
                fileID: fileID,
                plaintextLength: entry.size
            ),
            keySource: keySource
        )
    }

    /// Authenticates every chunk of every file and compares sizes and SHA-256 digests with the manifest.
    /// Returns the number of plaintext bytes checked.
    @discardableResult
    public func verify(progress: Sealer.Progress? = nil) throws(SealingError) -> UInt64 {
        try streamAll(progress: progress) { _, _ in }
    }

    /// Decrypts the dataset into `destination` (which must not exist), atomically (temporary name + rename).
    /// The plaintext is for its owner only: the staging directory and every directory are created 0700 and
    /// every file 0600 (a umask can only take more away), so other local users cannot read it.
    public func unseal(to destination: String, progress: Sealer.Progress? = nil) throws(SealingError) {
        try Sealer.requireAbsentOrEmpty(destination)
        let staging =
            destination.trimmingTrailingSlashes + ".partial-"
            + HexBytes.encode(
                (try? SecureRandom.bytes(count: 6)) ?? [0, 0, 0, 0, 0, 0]
            )
        try FileSystem.makeDirectory(staging, mode: 0o700)
        do throws(SealingError) {
            for entry in manifest.entries where entry.kind == .directory {
                try FileSystem.makeDirectory(staging + "/" + entry.path, mode: 0o700)
            }
            var current: PosixFile? = nil
            _ = try streamAll(progress: progress) { (entry, bytes) throws(SealingError) in
                if bytes == nil {
                    current = try PosixFile.createExclusive(staging + "/" + entry.path, mode: 0o600)
                } else if let bytes, let current {
                    try current.writeAll(bytes)
                }
            }
            current = nil
            try? FileSystem.removeIfEmptyDirectory(destination)
            guard rename(staging, destination) == 0 else {
                throw PosixFile.errnoError("rename into place", destination)
            }
        } catch {
            FileSystem.removeTree(staging)
            throw error
        }
    }

    /// Decrypts every file in manifest order; `sink` gets (entry, nil) when a file starts, then its bytes.
    private func streamAll(
        progress: Sealer.Progress?,
        sink: (Manifest.Entry, UnsafeRawBufferPointer?) throws(SealingError) -> Void
    ) throws(SealingError) -> UInt64 {
        let total = manifest.entries.reduce(UInt64(0)) { $0 + $1.size }
        var done: UInt64 = 0
        let buffer = ScratchBuffer(count: 1 << 20)
        let hasher = DigestContext(.sha256)
        progress?(0, total)
        for entry in manifest.entries where entry.kind == .file {
            let reader = try openFile(entry)
            try sink(entry, nil)
            var offset: UInt64 = 0
            while offset < entry.size {
                let n = try reader.read(at: offset, into: buffer.bytes)
                let slice = UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<n])
                hasher.update(slice)
                try sink(entry, slice)
                offset += UInt64(n)
                done += UInt64(n)
                if offset & ((8 << 20) - 1) == 0 { progress?(done, total) }
            }
            guard ConstantTime.equals(hasher.finalize(), entry.sha256) else {
                throw SealingError(.mismatch, "\(entry.path): SHA-256 of the plaintext differs from the manifest")
            }
        }
        progress?(total, total)
        return total
    }

    /// The manifest digest as `0x`-prefixed hex.
    public var manifestDigestHex: String { "0x" + HexBytes.encode(manifestDigest) }
}
