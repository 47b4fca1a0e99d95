import COpenSSL
import Glibc

/// HMAC (RFC 2104) with SHA-256 through OpenSSL's `EVP_MAC`.
public enum HMAC {
    /// Length of an HMAC-SHA-256 tag in bytes.
    public static let sha256Length = 32

    /// The HMAC-SHA-256 of `data` under `key`.
    public static func sha256(key: SecretBytes, data: UnsafeRawBufferPointer) throws(PlaneCryptoError) -> [UInt8] {
        let mac = MACAlgorithm.hmac
        guard let ctx = EVP_MAC_CTX_new(mac.mac) else { throw .openSSL("EVP_MAC_CTX_new") }
        defer { EVP_MAC_CTX_free(ctx) }
        var params: [OSSL_PARAM] = [
            OSSL_PARAM_construct_utf8_string(mac.digestKey, mac.sha256Name, 0),
            OSSL_PARAM_construct_end(),
        ]
        let initialised = key.withUnsafeBytes { k in
            params.withUnsafeMutableBufferPointer { p in
                EVP_MAC_init(ctx, k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, p.baseAddress)
            }
        }
        guard initialised == 1 else { throw .openSSL("EVP_MAC_init(HMAC-SHA256)") }
        if data.count > 0 {
            guard EVP_MAC_update(ctx, data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count) == 1 else {
                throw .openSSL("EVP_MAC_update(HMAC-SHA256)")
            }
        }
        var out = [UInt8](repeating: 0, count: sha256Length)
        var length = 0
        guard EVP_MAC_final(ctx, &out, &length, out.count) == 1, length == sha256Length else {
            throw .openSSL("EVP_MAC_final(HMAC-SHA256)")
        }
        return out
    }

    /// The HMAC-SHA-256 of `data` under `key`.
    public static func sha256(key: SecretBytes, data: [UInt8]) throws(PlaneCryptoError) -> [UInt8] {
        let result = data.withUnsafeBytes { d in
            Result { () throws(PlaneCryptoError) in try sha256(key: key, data: d) }
        }
        return try result.get()
    }
}

/// A fetched `EVP_MAC` (immutable, shareable between threads).
final class MACAlgorithm: @unchecked Sendable {
    static let hmac = MACAlgorithm("HMAC")
    let mac: OpaquePointer
    // OSSL_PARAM keeps the pointers it is given: process-lifetime C strings.
    let digestKey = strdup(OSSL_MAC_PARAM_DIGEST)!
    let sha256Name = strdup("SHA256")!
    private init(_ name: String) {
        guard let mac = EVP_MAC_fetch(nil, name, nil) else { fatalError("OpenSSL: EVP_MAC_fetch(\(name)) failed") }
        self.mac = mac
    }
    deinit { EVP_MAC_free(mac) }
}
