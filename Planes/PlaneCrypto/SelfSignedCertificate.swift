import COpenSSL
import Glibc

/// A fresh P-256 key and a self-signed X.509 v3 certificate for it: the TLS identity a listener generates
/// when the operator gives none (the devnet, or an attested plane whose clients trust its key through its
/// quote rather than a CA). The certificate is a leaf (CA:FALSE, serverAuth) whose
/// subjectAltName lists every host it answers for, so a client that trusts it as a pinned root also checks
/// the host name.
public struct SelfSignedCertificate: Sendable {
    /// The certificate, PEM.
    public let certificatePEM: [UInt8]
    /// The private key, PKCS#8 PEM (wiped when released).
    public let privateKeyPEM: SecretBytes

    /// Generates a key and a certificate valid from an hour ago for `days`, naming `commonName` and `hosts`
    /// (IP addresses become IP SANs, anything else DNS SANs).
    public init(commonName: String, hosts: [String], days: Int = 397) throws(PlaneCryptoError) {
        guard !hosts.isEmpty, hosts.allSatisfy({ !$0.isEmpty && !$0.contains(",") && !$0.contains("\n") }) else {
            throw PlaneCryptoError(
                .invalidEncoding,
                "expected host names or IP addresses for the certificate, found \(hosts)"
            )
        }
        let key = try Self.generateP256()
        defer { EVP_PKEY_free(key) }
        guard let cert = X509_new() else { throw .openSSL("X509_new") }
        defer { X509_free(cert) }
        let serial = try SecureRandom.bytes(count: 16)
        var ok = X509_set_version(cert, 2) == 1
        ok =
            ok
            && serial.withUnsafeBufferPointer { raw -> Bool in
                guard let bn = BN_bin2bn(raw.baseAddress, Int32(raw.count), nil) else { return false }
                defer { BN_free(bn) }
                // A positive serial of at most 127 bits (RFC 5280 §4.1.2.2: at most 20 octets, positive).
                BN_clear_bit(bn, 127)
                return BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nil
            }
        ok = ok && X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != nil
        ok = ok && X509_gmtime_adj(X509_getm_notAfter(cert), Int(days) * 86_400) != nil
        let name = X509_get_subject_name(cert)
        ok =
            ok
            && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1
            && X509_set_issuer_name(cert, name) == 1 && X509_set_pubkey(cert, key) == 1
        guard ok else { throw .openSSL("X509 fields") }
        let sans = hosts.map { Self.isIPAddress($0) ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
        for (nid, value) in [
            // No keyUsage: with one, BoringSSL takes a self-signed leaf as self-issued only if it may sign
            // certificates (keyCertSign), which a leaf must not; CA:FALSE and serverAuth say what it is.
            (NID_basic_constraints, "critical,CA:FALSE"), (NID_ext_key_usage, "serverAuth"),
            (NID_subject_alt_name, sans),
            (NID_subject_key_identifier, "hash"),
        ] {
            var ctx = X509V3_CTX()
            X509V3_set_ctx(&ctx, cert, cert, nil, nil, 0)
            guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else {
                throw .openSSL("X509V3_EXT_conf_nid(\(value))")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(cert, ext, -1) == 1 else { throw .openSSL("X509_add_ext") }
        }
        guard X509_sign(cert, key, EVP_sha256()) > 0 else { throw .openSSL("X509_sign") }
        certificatePEM = try Self.pem { PEM_write_bio_X509($0, cert) }.withUnsafeBytes { Array($0) }
        privateKeyPEM = try Self.pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
    }

    /// Whether `host` is an IPv4 or IPv6 address literal (a SAN of type IP, never sent as SNI).
    public static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    private static func generateP256() throws(PlaneCryptoError) -> OpaquePointer {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw .openSSL("EVP_PKEY_CTX_new(EC)") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_CTX_set_group_name(ctx, "P-256") == 1,
            EVP_PKEY_generate(ctx, &key) == 1, let key
        else { throw .openSSL("EVP_PKEY_generate(P-256)") }
        return key
    }

    /// What `write` puts into a memory BIO, copied into wiped storage.
    private static func pem(_ write: (OpaquePointer) -> Int32) throws(PlaneCryptoError) -> SecretBytes {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .openSSL("BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw .openSSL("PEM_write_bio") }
        let count = Int(BIO_ctrl_pending(bio))
        return try SecretBytes(count: count) { (out: UnsafeMutableRawBufferPointer) throws(PlaneCryptoError) in
            guard BIO_read(bio, out.baseAddress, Int32(count)) == Int32(count) else { throw .openSSL("BIO_read") }
        }
    }
}
