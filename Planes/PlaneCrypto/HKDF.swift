import COpenSSL
import Glibc

/// HKDF (RFC 5869) with SHA-256 through OpenSSL's `EVP_KDF`.
public enum HKDF {
    /// Derives `outputLength` bytes from `key` (input keying material), `salt` and `info` (extract-then-expand).
    public static func sha256(
        key: SecretBytes,
        salt: [UInt8],
        info: [UInt8],
        outputLength: Int = 32
    ) throws(PlaneCryptoError) -> SecretBytes {
        guard outputLength > 0, outputLength <= 255 * 32 else {
            throw PlaneCryptoError(.invalidLength, "HKDF-SHA256 output length must be 1...8160, found \(outputLength)")
        }
        let kdf = KDFAlgorithm.hkdf
        guard let ctx = EVP_KDF_CTX_new(kdf.kdf) else { throw .openSSL("EVP_KDF_CTX_new") }
        defer { EVP_KDF_CTX_free(ctx) }
        return try SecretBytes(count: outputLength) { (out: UnsafeMutableRawBufferPointer) throws(PlaneCryptoError) in
            let ok: Int32 = key.withUnsafeBytes { k -> Int32 in
                salt.withUnsafeBytes { s in
                    info.withUnsafeBytes { i in
                        // OSSL_PARAM keeps the pointers it is given, so the names must outlive the call:
                        // they are process-lifetime C strings (a Swift String argument would dangle).
                        let names = KDFAlgorithm.hkdf
                        var params: [OSSL_PARAM] = [
                            OSSL_PARAM_construct_utf8_string(names.digestKey, names.sha256Name, 0),
                            OSSL_PARAM_construct_octet_string(
                                names.keyKey,
                                UnsafeMutableRawPointer(mutating: k.baseAddress),
                                k.count
                            ),
                            OSSL_PARAM_construct_octet_string(
                                names.saltKey,
                                UnsafeMutableRawPointer(mutating: s.baseAddress),
                                s.count
                            ),
                            OSSL_PARAM_construct_octet_string(
                                names.infoKey,
                                UnsafeMutableRawPointer(mutating: i.baseAddress),
                                i.count
                            ),
                            OSSL_PARAM_construct_end(),
                        ]
                        return params.withUnsafeMutableBufferPointer { p in
                            EVP_KDF_derive(
                                ctx,
                                out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                out.count,
                                p.baseAddress
                            )
                        }
                    }
                }
            }
            guard ok == 1 else { throw .openSSL("EVP_KDF_derive(HKDF-SHA256)") }
        }
    }
}

/// A fetched `EVP_KDF` (immutable, shareable between threads).
final class KDFAlgorithm: @unchecked Sendable {
    static let hkdf = KDFAlgorithm("HKDF")
    let kdf: OpaquePointer
    let digestKey = strdup(OSSL_KDF_PARAM_DIGEST)!
    let keyKey = strdup(OSSL_KDF_PARAM_KEY)!
    let saltKey = strdup(OSSL_KDF_PARAM_SALT)!
    let infoKey = strdup(OSSL_KDF_PARAM_INFO)!
    let sha256Name = strdup("SHA256")!
    private init(_ name: String) {
        guard let kdf = EVP_KDF_fetch(nil, name, nil) else { fatalError("OpenSSL: EVP_KDF_fetch(\(name)) failed") }
        self.kdf = kdf
    }
    deinit { EVP_KDF_free(kdf) }
}
