import COpenSSL

// What AMD SEV-SNP verification needs from a certificate beyond what DCAP needs: the signature algorithm (AMD's
// ARK/ASK/VCEK chain is RSASSA-PSS with SHA-384), the RSA key size, and ECDSA P-384/SHA-384 verification with
// the certificate's own public key (the VCEK signs attestation reports). `isSigned(by:)` already verifies
// RSASSA-PSS certificate signatures: OpenSSL's `X509_verify` reads the PSS parameters from the certificate.

extension X509Certificate {
    /// The certificate's signature algorithm as (digest, public-key type) OpenSSL short names, e.g.
    /// `("SHA384", "RSASSA-PSS")` for AMD's certificates or `("SHA256", "id-ecPublicKey")`; nil when OpenSSL cannot
    /// classify it. For RSASSA-PSS the digest is the PSS hash parameter.
    public var signatureAlgorithm: (digest: String, keyType: String)? {
        var mdNID: Int32 = 0
        var keyNID: Int32 = 0
        var securityBits: Int32 = 0
        var flags: UInt32 = 0
        guard X509_get_signature_info(cert, &mdNID, &keyNID, &securityBits, &flags) == 1 else {
            _ = OpenSSLErrorQueue.drain()
            return nil
        }
        guard let digest = OBJ_nid2sn(mdNID), let key = OBJ_nid2sn(keyNID) else { return nil }
        return (String(cString: digest), String(cString: key))
    }

    /// The modulus size in bits when the subject public key is an RSA (or RSA-PSS) key, else nil.
    public var rsaPublicKeyBits: Int? {
        guard let key = X509_get0_pubkey(cert) else { return nil }
        let type = EVP_PKEY_get_base_id(key)
        guard type == EVP_PKEY_RSA || type == EVP_PKEY_RSA_PSS else { return nil }
        return Int(EVP_PKEY_get_bits(key))
    }

    /// Whether the subject public key is an EC key on NIST P-384 (secp384r1).
    public var hasP384PublicKey: Bool {
        guard let key = X509_get0_pubkey(cert), EVP_PKEY_get_base_id(key) == EVP_PKEY_EC else { return false }
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else {
            _ = OpenSSLErrorQueue.drain()
            return false
        }
        let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return group == "secp384r1" || group == "P-384"
    }

    /// Whether `signature`, a raw `r ‖ s` pair of 48-byte big-endian integers, is an ECDSA signature over
    /// SHA-384(`message`) by this certificate's P-384 public key. False for any other key type or length.
    public func isValidP384Signature(rawRS signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 96, hasP384PublicKey, let key = X509_get0_pubkey(cert) else { return false }
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var value = Array(bytes.drop { $0 == 0 })
            if value.isEmpty { value = [0] }
            if value[0] & 0x80 != 0 { value.insert(0, at: 0) }
            return [0x02, UInt8(value.count)] + value
        }
        // Each INTEGER is at most 2 + 49 bytes, so the SEQUENCE length fits DER's short form.
        let body = integer(signature[0..<48]) + integer(signature[48..<96])
        let der = [0x30, UInt8(body.count)] + body
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha384(), nil, key) == 1 else {
            _ = OpenSSLErrorQueue.drain()
            return false
        }
        let result = der.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                EVP_DigestVerify(ctx, sig.baseAddress, sig.count, msg.baseAddress, msg.count)
            }
        }
        if result != 1 { _ = OpenSSLErrorQueue.drain() }
        return result == 1
    }
}
