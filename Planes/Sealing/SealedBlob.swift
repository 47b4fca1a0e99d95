public import PlaneCrypto

/// One byte string sealed as a single sealed file v1 (kind 0, data): what a sealed sample is (docs/explore.md).
/// No new format: the header, the file key, the nonces and the AAD are exactly those of SealedFormat.swift, so
/// the dataset id, key version and length are bound and a tampered, truncated or re-labelled blob never opens.
public enum SealedBlob {
    /// The chunk size a blob is sealed with (the largest v1 allows: the blob is opened whole, never read at
    /// random offsets).
    public static let chunkSize = SealedFormat.maximumChunkSize

    /// Seals `plaintext` under `datasetKey` for `datasetID` at `keyVersion`, with a fresh random file id.
    public static func seal(
        _ plaintext: [UInt8],
        datasetKey: SecretBytes,
        datasetID: DatasetID,
        keyVersion: UInt32
    ) throws(SealingError) -> [UInt8] {
        let fileID: FileID
        do { fileID = FileID(unchecked: try SecureRandom.bytes(count: 32)) } catch {
            throw SealingError(.crypto, "cannot draw a file id: \(error.reason)")
        }
        let header = SealedFileHeader(
            kind: .data,
            chunkSize: chunkSize,
            plaintextLength: UInt64(plaintext.count),
            keyVersion: keyVersion,
            datasetID: datasetID,
            fileID: fileID
        )
        let cipher = try FileCipher(datasetKey: datasetKey, header: header)
        var out = header.encoded()
        out.reserveCapacity(Int(header.sealedLength))
        for index in 0..<header.chunkCount {
            let start = Int(index) * Int(chunkSize)
            let length = header.plaintextLength(ofChunk: index)
            var sealed = [UInt8](repeating: 0, count: length + SealedFormat.tagLength)
            // Array's withUnsafe…Bytes rethrow untyped errors: the chunk's own error is carried out instead.
            var failure: SealingError?
            plaintext.withUnsafeBytes { all in
                sealed.withUnsafeMutableBytes { s in
                    do throws(SealingError) {
                        try cipher.sealChunk(
                            index,
                            plaintext: UnsafeRawBufferPointer(rebasing: all[start..<(start + length)]),
                            into: s
                        )
                    } catch { failure = error }
                }
            }
            if let failure { throw failure }
            out += sealed
        }
        return out
    }

    /// The header of a sealed blob, checked to be a data file of exactly `sealed.count` bytes whose plaintext is
    /// at most `maxPlaintext` bytes (what a reader checks before it asks for any key).
    public static func header(
        of sealed: [UInt8],
        maxPlaintext: Int,
        source: String
    ) throws(SealingError)
        -> SealedFileHeader
    {
        let header = try SealedFileHeader.decode(Array(sealed.prefix(SealedFormat.headerLength)), source: source)
        guard header.kind == .data else {
            throw SealingError(.malformed, "\(source): expected a sealed data file, found a manifest")
        }
        guard header.plaintextLength <= UInt64(maxPlaintext) else {
            throw SealingError(
                .malformed,
                "\(source): expected at most \(maxPlaintext) plaintext bytes, found \(header.plaintextLength)"
            )
        }
        guard header.sealedLength == UInt64(sealed.count) else {
            throw SealingError(
                .malformed,
                "\(source): expected \(header.sealedLength) sealed bytes for its header, found \(sealed.count)"
            )
        }
        return header
    }

    /// Opens a blob sealed for `datasetID`: the plaintext, or an error when the blob names another dataset,
    /// is malformed, or any chunk fails to authenticate (tampered, truncated, or the wrong key).
    public static func open(
        _ sealed: [UInt8],
        datasetKey: SecretBytes,
        datasetID: DatasetID,
        maxPlaintext: Int,
        source: String
    ) throws(SealingError) -> [UInt8] {
        let header = try header(of: sealed, maxPlaintext: maxPlaintext, source: source)
        guard header.datasetID == datasetID else {
            throw SealingError(
                .mismatch,
                "\(source): sealed for dataset \(header.datasetID), expected \(datasetID)"
            )
        }
        let cipher = try FileCipher(datasetKey: datasetKey, header: header)
        var plaintext = [UInt8](repeating: 0, count: Int(header.plaintextLength))
        for index in 0..<header.chunkCount {
            let start = Int(index) * Int(header.chunkSize)
            let length = header.plaintextLength(ofChunk: index)
            let at = Int(header.sealedOffset(ofChunk: index))
            var failure: SealingError?
            let authentic = sealed.withUnsafeBytes { s in
                plaintext.withUnsafeMutableBytes { p in
                    do throws(SealingError) {
                        return try cipher.openChunk(
                            index,
                            sealed: UnsafeRawBufferPointer(rebasing: s[at..<(at + length + SealedFormat.tagLength)]),
                            into: UnsafeMutableRawBufferPointer(rebasing: p[start..<(start + length)])
                        )
                    } catch {
                        failure = error
                        return false
                    }
                }
            }
            if let failure { throw failure }
            guard authentic else {
                var error = SealingError(
                    .authenticationFailed,
                    "\(source): chunk \(index) does not authenticate (tampered, truncated or the wrong key)"
                )
                error.chunkIndex = index
                throw error
            }
        }
        return plaintext
    }
}
