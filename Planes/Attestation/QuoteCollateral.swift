import ChainCore
public import PlaneCrypto

/// DCAP collateral in dcap-qvl's `QuoteCollateralV3` JSON layout, parsed but not yet verified.
///
/// Fields: `pck_crl_issuer_chain` (PEM: PCK CA, root), `root_ca_crl` and `pck_crl` (hex DER),
/// `tcb_info_issuer_chain` and `qe_identity_issuer_chain` (PEM: TCB signing certificate, root), `tcb_info` and
/// `qe_identity` (the exact JSON text Intel signed, as a string) with `tcb_info_signature` and
/// `qe_identity_signature` (hex r‖s). Newer optional fields (`pck_certificate_chain`, …) are accepted and
/// ignored: the PCK chain is always taken from the quote. Verify it once with ``DCAPVerifier/prepare(_:trustAnchor:)``.
public struct QuoteCollateral: Sendable {
    /// PCK CRL issuer chain (PCK Platform or Processor CA, then usually the root).
    public let pckCRLIssuerChain: [X509Certificate]
    /// Intel SGX Root CA CRL.
    public let rootCACRL: X509CRL
    /// PCK CA CRL.
    public let pckCRL: X509CRL
    /// TCB Info signing chain.
    public let tcbInfoIssuerChain: [X509Certificate]
    /// The signed TCB Info JSON bytes.
    public let tcbInfoJSON: [UInt8]
    /// The parsed TCB Info.
    public let tcbInfo: TCBInfo
    /// TCB Info signature r‖s.
    public let tcbInfoSignature: [UInt8]
    /// QE Identity signing chain.
    public let qeIdentityIssuerChain: [X509Certificate]
    /// The signed QE Identity JSON bytes.
    public let qeIdentityJSON: [UInt8]
    /// The parsed QE Identity.
    public let qeIdentity: QEIdentity
    /// QE Identity signature r‖s.
    public let qeIdentitySignature: [UInt8]

    /// Parses collateral JSON. Fails with ``AttestationError/Code/malformedCollateral`` naming the field.
    public init(json: [UInt8]) throws(AttestationError) {
        let o = try JSONFields(json, what: "collateral")
        func chain(_ key: String) throws(AttestationError) -> [X509Certificate] {
            let certs: [X509Certificate]
            do { certs = try X509Certificate.pemChain(Array(try o.string(key).utf8)) } catch let e as PlaneCryptoError {
                throw AttestationError(.malformedCollateral, "collateral.\(key): \(e.reason)")
            } catch { throw AttestationError(.malformedCollateral, "collateral.\(key): \(error)") }
            guard !certs.isEmpty else {
                throw AttestationError(.malformedCollateral, "collateral.\(key): expected PEM certificates, found none")
            }
            return certs
        }
        func crl(_ key: String) throws(AttestationError) -> X509CRL {
            guard let der = Hex.decode(lenient: try o.string(key)) else {
                throw AttestationError(.malformedCollateral, "collateral.\(key): expected hex DER, found other text")
            }
            do { return try X509CRL(der: der) } catch {
                throw AttestationError(.malformedCollateral, "collateral.\(key): \(error.reason)")
            }
        }
        func signature(_ key: String) throws(AttestationError) -> [UInt8] {
            guard let s = Hex.decode(lenient: try o.string(key)), s.count == 64 else {
                throw AttestationError(.malformedCollateral, "collateral.\(key): expected 64 bytes of hex (r ‖ s)")
            }
            return s
        }
        pckCRLIssuerChain = try chain("pck_crl_issuer_chain")
        rootCACRL = try crl("root_ca_crl")
        pckCRL = try crl("pck_crl")
        tcbInfoIssuerChain = try chain("tcb_info_issuer_chain")
        tcbInfoJSON = Array(try o.string("tcb_info").utf8)
        tcbInfo = try TCBInfo(json: tcbInfoJSON)
        tcbInfoSignature = try signature("tcb_info_signature")
        qeIdentityIssuerChain = try chain("qe_identity_issuer_chain")
        qeIdentityJSON = Array(try o.string("qe_identity").utf8)
        qeIdentity = try QEIdentity(json: qeIdentityJSON)
        qeIdentitySignature = try signature("qe_identity_signature")
    }
}
