import COpenSSL

/// One-shot message digests through OpenSSL's EVP interface.
///
/// Each algorithm is fetched once (`EVP_MD_fetch`) and reused, so a call costs one digest and no provider
/// lookup. For streaming input use ``DigestContext``.
public enum Digest {
    /// SHA-256 (FIPS 180-4) of `data`: 32 bytes.
    public static func sha256(_ data: [UInt8]) -> [UInt8] { DigestAlgorithm.sha256.hash(data) }

    /// SHA-384 (FIPS 180-4) of `data`: 48 bytes.
    public static func sha384(_ data: [UInt8]) -> [UInt8] { DigestAlgorithm.sha384.hash(data) }

    /// SHA-512 (FIPS 180-4) of `data`: 64 bytes.
    public static func sha512(_ data: [UInt8]) -> [UInt8] { DigestAlgorithm.sha512.hash(data) }

    /// SHA3-256 (FIPS 202) of `data`: 32 bytes. Not Ethereum's Keccak-256 (different padding).
    public static func sha3_256(_ data: [UInt8]) -> [UInt8] { DigestAlgorithm.sha3_256.hash(data) }
}

/// A fetched OpenSSL message-digest algorithm.
///
/// `EVP_MD` objects returned by `EVP_MD_fetch` are immutable and documented as safe to share between threads,
/// hence `@unchecked Sendable`. The handle is fetched once per process and never freed.
public final class DigestAlgorithm: @unchecked Sendable {
    /// SHA-256.
    public static let sha256 = DigestAlgorithm(fetching: "SHA256", outputLength: 32)
    /// SHA-384.
    public static let sha384 = DigestAlgorithm(fetching: "SHA384", outputLength: 48)
    /// SHA-512.
    public static let sha512 = DigestAlgorithm(fetching: "SHA512", outputLength: 64)
    /// SHA3-256.
    public static let sha3_256 = DigestAlgorithm(fetching: "SHA3-256", outputLength: 32)

    let md: OpaquePointer
    /// Length of the digest in bytes.
    public let outputLength: Int

    private init(fetching name: String, outputLength: Int) {
        // A missing default provider is a broken installation, not a recoverable condition.
        guard let md = EVP_MD_fetch(nil, name, nil) else {
            fatalError("OpenSSL: EVP_MD_fetch(\(name)) failed; is the default provider available?")
        }
        self.md = md
        self.outputLength = outputLength
    }

    deinit { EVP_MD_free(md) }

    /// The digest of `data` in one call.
    public func hash(_ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBytes { hash($0) }
    }

    /// The digest of the bytes in `data` in one call.
    public func hash(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputLength)
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { o in
            EVP_Digest(data.baseAddress, data.count, o.baseAddress, &length, md, nil)
        }
        precondition(ok == 1 && Int(length) == outputLength, "OpenSSL: EVP_Digest failed")
        return out
    }
}

/// A reusable, incremental digest computation (one `EVP_MD_CTX`). Not thread-safe: use one per thread.
public final class DigestContext {
    private let ctx: OpaquePointer
    private let algorithm: DigestAlgorithm

    /// A context for `algorithm`, ready for ``update(_:)-(UnsafeRawBufferPointer)``.
    public init(_ algorithm: DigestAlgorithm) {
        guard let ctx = EVP_MD_CTX_new() else { fatalError("OpenSSL: EVP_MD_CTX_new failed (out of memory)") }
        self.ctx = ctx
        self.algorithm = algorithm
        reset()
    }

    deinit { EVP_MD_CTX_free(ctx) }

    /// Starts a new computation, discarding any state.
    public func reset() {
        precondition(EVP_DigestInit_ex2(ctx, algorithm.md, nil) == 1, "OpenSSL: EVP_DigestInit_ex2 failed")
    }

    /// Feeds `data`.
    public func update(_ data: UnsafeRawBufferPointer) {
        guard data.count > 0 else { return }
        precondition(EVP_DigestUpdate(ctx, data.baseAddress, data.count) == 1, "OpenSSL: EVP_DigestUpdate failed")
    }

    /// Feeds `data`.
    public func update(_ data: [UInt8]) {
        data.withUnsafeBytes { update($0) }
    }

    /// Returns the digest and resets the context for reuse.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: algorithm.outputLength)
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(ctx, $0.baseAddress, &length) }
        precondition(ok == 1 && Int(length) == algorithm.outputLength, "OpenSSL: EVP_DigestFinal_ex failed")
        reset()
        return out
    }
}
