import COpenSSL

/// An X.509 certificate (one owned `X509` handle) with the fields chain verification needs read out once.
///
/// Immutable after parsing; OpenSSL's read-only accessors and `X509_verify` on a shared certificate are
/// thread-safe, hence `@unchecked Sendable`. Policy (which chain, which time, which CRL) lives with the caller:
/// this type only answers questions about one certificate.
public final class X509Certificate: @unchecked Sendable {
    let cert: OpaquePointer

    /// The certificate's DER encoding, exactly as parsed.
    public let der: [UInt8]
    /// Start of the validity window, in seconds since the Unix epoch.
    public let notBefore: Int64
    /// End of the validity window (inclusive), in seconds since the Unix epoch.
    public let notAfter: Int64
    /// The subject as a one-line distinguished name (`/CN=…/O=…`), for messages.
    public let subject: String
    /// The issuer as a one-line distinguished name, for messages.
    public let issuer: String
    /// The serial number's big-endian magnitude bytes.
    public let serialNumber: [UInt8]
    /// The subject public key when it is a P-256 EC key (all Intel SGX/TDX certificates), else nil.
    public let p256PublicKey: P256PublicKey?

    /// Parses one DER certificate; fails on trailing bytes.
    public init(der: [UInt8]) throws(PlaneCryptoError) {
        var consumed = 0
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let x = d2i_X509(nil, &cursor, buffer.count)
            if let base = buffer.baseAddress, let cursor { consumed = cursor - base }
            return x
        }
        guard let parsed else {
            throw PlaneCryptoError(.invalidEncoding, "X.509 certificate: \(OpenSSLErrorQueue.drain())")
        }
        guard consumed == der.count else {
            X509_free(parsed)
            throw PlaneCryptoError(
                .invalidEncoding,
                "X.509 certificate: expected \(der.count) bytes of DER, found a certificate of \(consumed)"
            )
        }
        guard let nb = asn1Seconds(X509_get0_notBefore(parsed)), let na = asn1Seconds(X509_get0_notAfter(parsed))
        else {
            X509_free(parsed)
            throw PlaneCryptoError(.invalidEncoding, "X.509 certificate: unreadable validity time")
        }
        self.cert = parsed
        self.der = der
        self.notBefore = nb
        self.notAfter = na
        self.subject = oneLine(X509_get_subject_name(parsed))
        self.issuer = oneLine(X509_get_issuer_name(parsed))
        self.serialNumber = asn1Bytes(X509_get0_serialNumber(parsed))
        if let key = X509_get0_pubkey(parsed), P256PublicKey.isP256(key), EVP_PKEY_up_ref(key) == 1 {
            self.p256PublicKey = P256PublicKey(owning: key)
        } else {
            self.p256PublicKey = nil
        }
    }

    deinit { X509_free(cert) }

    /// Every certificate in a PEM text, in order. Bytes outside `BEGIN/END CERTIFICATE` blocks (including a
    /// trailing NUL, as in DCAP quotes) are ignored; a block that does not decode is an error.
    public static func pemChain(_ pem: [UInt8]) throws(PlaneCryptoError) -> [X509Certificate] {
        var certificates: [X509Certificate] = []
        let begin = Array("-----BEGIN CERTIFICATE-----".utf8)
        let end = Array("-----END CERTIFICATE-----".utf8)
        var index = 0
        while let start = find(begin, in: pem, from: index) {
            guard let stop = find(end, in: pem, from: start + begin.count) else {
                throw PlaneCryptoError(.invalidEncoding, "PEM: a BEGIN CERTIFICATE block has no END line")
            }
            let body = pem[(start + begin.count)..<stop].filter { !($0 == 0x0A || $0 == 0x0D || $0 == 0x20) }
            guard let der = Base64.decode(body) else {
                throw PlaneCryptoError(.invalidEncoding, "PEM: certificate \(certificates.count) is not valid base64")
            }
            certificates.append(try X509Certificate(der: der))
            index = stop + end.count
        }
        return certificates
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var i = from
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0], haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    /// Whether `issuer`'s subject names this certificate's issuer, `issuer` may sign certificates (CA basic
    /// constraint, keyCertSign) and its key verifies this certificate's signature.
    public func isSigned(by issuer: X509Certificate) -> Bool {
        guard X509_check_issued(issuer.cert, cert) == X509_V_OK else {
            _ = OpenSSLErrorQueue.drain()
            return false
        }
        guard let key = X509_get0_pubkey(issuer.cert), X509_verify(cert, key) == 1 else {
            _ = OpenSSLErrorQueue.drain()
            return false
        }
        return true
    }

    /// Whether the certificate is a CA certificate (basic constraints CA:TRUE).
    public var isCA: Bool { X509_check_ca(cert) > 0 }

    /// The value (the contents of the extnValue OCTET STRING) of the extension with dotted `oid`, or nil.
    public func extensionValue(oid: String) -> [UInt8]? {
        guard let object = OBJ_txt2obj(oid, 1) else {
            _ = OpenSSLErrorQueue.drain()
            return nil
        }
        defer { ASN1_OBJECT_free(object) }
        let index = X509_get_ext_by_OBJ(cert, object, -1)
        guard index >= 0, let ext = X509_get_ext(cert, index), let data = X509_EXTENSION_get_data(ext) else {
            return nil
        }
        return asn1Bytes(data)
    }

    /// Whether `at` (seconds since the Unix epoch) lies in notBefore…notAfter, both inclusive.
    public func isValid(at time: Int64) -> Bool { notBefore <= time && time <= notAfter }

    /// Every commonName (2.5.4.3) attribute of the subject, in order, as UTF-8 (an unreadable value is left out).
    /// Policy that pins a certificate by name compares these exactly: one name, byte for byte.
    public var subjectCommonNames: [String] {
        guard let name = X509_get_subject_name(cert) else { return [] }
        var names: [String] = []
        var index: Int32 = -1
        while true {
            index = X509_NAME_get_index_by_NID(name, NID_commonName, index)
            guard index >= 0 else { break }
            guard let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry) else {
                continue
            }
            var out: UnsafeMutablePointer<UInt8>? = nil
            let length = ASN1_STRING_to_UTF8(&out, data)
            guard length >= 0, let out else {
                _ = OpenSSLErrorQueue.drain()
                continue
            }
            names.append(String(decoding: UnsafeBufferPointer(start: out, count: Int(length)), as: UTF8.self))
            CRYPTO_free(out, nil, 0)
        }
        return names
    }
}

/// An X.509 certificate revocation list (one owned `X509_CRL` handle). Immutable, so `@unchecked Sendable`.
public final class X509CRL: @unchecked Sendable {
    let crl: OpaquePointer

    /// The CRL's DER encoding.
    public let der: [UInt8]
    /// thisUpdate, in seconds since the Unix epoch.
    public let thisUpdate: Int64
    /// nextUpdate, in seconds since the Unix epoch (nil when absent).
    public let nextUpdate: Int64?
    /// The issuer as a one-line distinguished name, for messages.
    public let issuer: String
    /// Number of revoked entries.
    public let revokedCount: Int

    /// Parses one DER CRL; fails on trailing bytes.
    public init(der: [UInt8]) throws(PlaneCryptoError) {
        var consumed = 0
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let x = d2i_X509_CRL(nil, &cursor, buffer.count)
            if let base = buffer.baseAddress, let cursor { consumed = cursor - base }
            return x
        }
        guard let parsed else { throw PlaneCryptoError(.invalidEncoding, "X.509 CRL: \(OpenSSLErrorQueue.drain())") }
        guard consumed == der.count, let this = asn1Seconds(X509_CRL_get0_lastUpdate(parsed)) else {
            X509_CRL_free(parsed)
            throw PlaneCryptoError(
                .invalidEncoding,
                "X.509 CRL: expected \(der.count) bytes of DER with a readable thisUpdate, found \(consumed) bytes"
            )
        }
        self.crl = parsed
        self.der = der
        self.thisUpdate = this
        self.nextUpdate = X509_CRL_get0_nextUpdate(parsed).flatMap { asn1Seconds($0) }
        self.issuer = oneLine(X509_CRL_get_issuer(parsed))
        if let revoked = X509_CRL_get_REVOKED(parsed) {
            self.revokedCount = Int(OPENSSL_sk_num(revoked))
        } else {
            self.revokedCount = 0
        }
    }

    deinit { X509_CRL_free(crl) }

    /// Whether `issuer`'s subject is this CRL's issuer and its key verifies the CRL's signature.
    public func isSigned(by issuer: X509Certificate) -> Bool {
        guard X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer.cert)) == 0,
            let key = X509_get0_pubkey(issuer.cert), X509_CRL_verify(crl, key) == 1
        else {
            _ = OpenSSLErrorQueue.drain()
            return false
        }
        return true
    }

    /// Whether this CRL's issuer is `certificate`'s issuer (by name), so it speaks about that certificate.
    public func covers(_ certificate: X509Certificate) -> Bool {
        X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(certificate.cert)) == 0
    }

    /// Whether `certificate`'s serial number is listed (it must be covered by this CRL; see ``covers(_:)``).
    public func lists(_ certificate: X509Certificate) -> Bool {
        var entry: OpaquePointer? = nil
        return X509_CRL_get0_by_cert(crl, &entry, certificate.cert) == 1
    }

    /// Whether `time` lies in thisUpdate…nextUpdate (both inclusive; a CRL without nextUpdate never expires).
    public func isCurrent(at time: Int64) -> Bool {
        thisUpdate <= time && (nextUpdate.map { time <= $0 } ?? true)
    }
}

/// Seconds since the Unix epoch of an ASN1_TIME (UTCTime or GeneralizedTime).
private func asn1Seconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int64? {
    guard let time, let epoch = ASN1_TIME_set(nil, 0) else { return nil }
    defer { ASN1_TIME_free(epoch) }
    var days: Int32 = 0
    var seconds: Int32 = 0
    guard ASN1_TIME_diff(&days, &seconds, epoch, time) == 1 else {
        _ = OpenSSLErrorQueue.drain()
        return nil
    }
    return Int64(days) * 86400 + Int64(seconds)
}

private func asn1Bytes(_ string: UnsafePointer<ASN1_STRING>?) -> [UInt8] {
    guard let string, let data = ASN1_STRING_get0_data(string) else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))))
}

private func oneLine(_ name: OpaquePointer?) -> String {
    guard let name else { return "" }
    var buffer = [CChar](repeating: 0, count: 512)
    _ = X509_NAME_oneline(name, &buffer, Int32(buffer.count))
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Standard base64 (RFC 4648 §4) decoding with padding, for PEM bodies.
enum Base64 {
    private static let table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            t[Int(c)] = UInt8(i)
        }
        return t
    }()

    static func decode(_ text: [UInt8]) -> [UInt8]? {
        var chars = text
        var padding = 0
        while chars.last == UInt8(ascii: "=") && padding < 2 {
            chars.removeLast()
            padding += 1
        }
        guard (chars.count + padding) % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in chars {
            let v = table[Int(c)]
            guard v != 0xFF else { return nil }
            accumulator = (accumulator << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> UInt32(bits)) & 0xFF))
            }
        }
        return out
    }
}
