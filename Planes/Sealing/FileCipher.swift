public import PlaneCrypto

/// The per-file key and AES-GCM contexts of one sealed file: derives the file key from the DEK and
/// seals/opens single chunks with the v1 nonce and AAD. Safe to share between threads (contexts are pooled).
public final class FileCipher: @unchecked Sendable {
    /// The header whose bytes are bound into every chunk's AAD.
    public let header: SealedFileHeader
    private let headerBytes: [UInt8]
    private let contexts: Pool<AES256GCM>

    /// Derives the file key: HKDF-SHA256(DEK, salt: file id, info: "delong/sealed/v1/<kind>" ‖ dataset ‖ version).
    public init(datasetKey: SecretBytes, header: SealedFileHeader) throws(SealingError) {
        self.header = header
        self.headerBytes = header.encoded()
        var info = Array("delong/sealed/v1/\(header.kind.keyLabel)".utf8)
        info += header.datasetID.bytes
        info.appendBigEndian(header.keyVersion)
        let fileKey: SecretBytes
        do throws(PlaneCryptoError) {
            fileKey = try HKDF.sha256(key: datasetKey, salt: header.fileID.bytes, info: info)
            // Build one context now so a bad key fails here, not inside a read.
            _ = try AES256GCM(key: fileKey)
        } catch {
            throw SealingError(.crypto, "cannot derive the file key: \(error.reason)")
        }
        contexts = Pool(limit: 8) {
            // The key was accepted above; a failure here is an OpenSSL allocation failure.
            guard let context = try? AES256GCM(key: fileKey) else {
                fatalError("OpenSSL: cannot create AES-GCM context")
            }
            return context
        }
    }

    @inline(__always)
    private func withNonceAndAAD<R>(
        chunk index: UInt64,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(SealingError) -> R
    ) throws(SealingError) -> R {
        let isFinal: UInt8 = index == header.chunkCount - 1 ? 1 : 0
        return try withUnsafeTemporaryAllocation(byteCount: 12 + headerBytes.count + 9, alignment: 8) {
            (buffer: UnsafeMutableRawBufferPointer) throws(SealingError) -> R in
            let nonceBytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<12])
            nonceBytes.storeBytes(of: 0, toByteOffset: 0, as: UInt32.self)
            // Offset 4 is unaligned for a UInt64; storeBytes allows that.
            nonceBytes.storeBytes(of: index.bigEndian, toByteOffset: 4, as: UInt64.self)
            let aad = UnsafeMutableRawBufferPointer(rebasing: buffer[12...])
            headerBytes.withUnsafeBytes { aad.copyMemory(from: $0) }
            aad.storeBytes(of: index.bigEndian, toByteOffset: headerBytes.count, as: UInt64.self)
            aad[headerBytes.count + 8] = isFinal
            return try body(UnsafeRawBufferPointer(nonceBytes), UnsafeRawBufferPointer(aad))
        }
    }

    /// Seals chunk `index`: `plaintext` → `sealed` (plaintext.count + 16 bytes: ciphertext ‖ tag).
    public func sealChunk(
        _ index: UInt64,
        plaintext: UnsafeRawBufferPointer,
        into sealed: UnsafeMutableRawBufferPointer
    ) throws(SealingError) {
        precondition(sealed.count == plaintext.count + SealedFormat.tagLength)
        try withNonceAndAAD(chunk: index) { (nonce, aad) throws(SealingError) in
            try contexts.with { (gcm: AES256GCM) throws(SealingError) in
                do throws(PlaneCryptoError) {
                    try gcm.seal(
                        nonce: nonce,
                        aad: aad,
                        plaintext: plaintext,
                        ciphertext: UnsafeMutableRawBufferPointer(rebasing: sealed[0..<plaintext.count]),
                        tag: UnsafeMutableRawBufferPointer(rebasing: sealed[plaintext.count...])
                    )
                } catch {
                    throw SealingError(.crypto, "AES-256-GCM seal failed: \(error.reason)")
                }
            }
        }
    }

    /// Opens chunk `index`: `sealed` (ciphertext ‖ tag) → `plaintext`. Returns false when authentication
    /// fails; `plaintext` is then zeroed and must not be used.
    public func openChunk(
        _ index: UInt64,
        sealed: UnsafeRawBufferPointer,
        into plaintext: UnsafeMutableRawBufferPointer
    ) throws(SealingError) -> Bool {
        precondition(sealed.count == plaintext.count + SealedFormat.tagLength)
        return try withNonceAndAAD(chunk: index) { (nonce, aad) throws(SealingError) -> Bool in
            try contexts.with { (gcm: AES256GCM) throws(SealingError) -> Bool in
                do throws(PlaneCryptoError) {
                    return try gcm.open(
                        nonce: nonce,
                        aad: aad,
                        ciphertext: UnsafeRawBufferPointer(rebasing: sealed[0..<plaintext.count]),
                        tag: UnsafeRawBufferPointer(rebasing: sealed[plaintext.count...]),
                        plaintext: plaintext
                    )
                } catch {
                    throw SealingError(.crypto, "AES-256-GCM open failed: \(error.reason)")
                }
            }
        }
    }
}
