public import ChainCore
import Foundation
public import NIOCore
import NIOHTTP1
import PlaneCrypto

/// What binds a plane's TLS key to its attestation, RA-TLS style: the plane's evidence carries
/// REPORTDATA = SHA-512("delong/plane-identity/v2" ‖ signer address ‖ SHA-256(TLS SubjectPublicKeyInfo)).
/// A client that accepts the evidence and finds this value for the key its TLS peer presented knows it talks
/// to that attested plane, and nothing in between; a certificate rotation brings a new quote.
public enum PlaneIdentity {
    public static let label = Array("delong/plane-identity/v2".utf8)

    public static func reportData(signer: Address, tlsKey: [UInt8]) -> [UInt8] {
        Digest.sha512(label + signer.bytes + tlsKey)
    }
}

/// The client's verdict on a plane's evidence: what REPORTDATA it proves, and how (for messages).
public struct AppraisedEvidence: Sendable {
    public var reportData: [UInt8]
    public var summary: String

    public init(reportData: [UInt8], summary: String) {
        self.reportData = reportData
        self.summary = summary
    }
}

/// Verifies a plane's own evidence (a TDX quote, or the INSECURE development evidence where the client allows
/// it). Implemented with the Attestation module by the CLI and the Computing Plane; throws a reason to refuse.
public protocol PlaneEvidenceAppraiser: Sendable {
    func appraise(type: String, evidence: [UInt8], chainID: UInt64) throws -> AppraisedEvidence
}

/// A plane whose TLS key the client verified through its attestation document (`GET /v1/attestation`).
public struct AttestedPlane: Sendable {
    public let url: PlaneURL
    /// The verified key, for every later request.
    public let trust: PlaneTrust
    public let signer: Address
    public let tokenDomain: TokenDomain
    public let evidenceSummary: String

    /// Fetches the attestation document, appraises its evidence and checks that the evidence binds the key the
    /// TLS peer presented. Nothing but that GET is sent before the check passes.
    public static func establish(
        _ url: PlaneURL,
        appraiser: some PlaneEvidenceAppraiser,
        timeout: TimeAmount = .seconds(30)
    ) async throws(PlaneProtocolError) -> AttestedPlane {
        let (response, presented) = try await PlaneHTTPS.exchange(
            .GET,
            "/v1/attestation",
            url: url,
            trust: nil,
            timeout: timeout,
            maxBody: 1 << 20
        )
        guard let presented else {
            throw PlaneProtocolError(.untrusted, "the plane at \(url) presented no TLS certificate")
        }
        guard response.status == 200,
            let document = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any],
            let signer = (document["signer"] as? String).flatMap({ try? Address(hex: $0) }),
            let domain = document["tokenDomain"] as? [String: Any], let chainID = domain["chainId"] as? Int,
            chainID >= 0, let registry = (domain["verifyingContract"] as? String).flatMap({ try? Address(hex: $0) })
        else {
            throw PlaneProtocolError(
                .untrusted,
                "the plane at \(url) answered /v1/attestation with HTTP \(response.status) and no attestation document"
            )
        }
        let evidence = document["evidence"] as? [String: Any] ?? [:]
        guard let type = evidence["type"] as? String,
            let bytes = (evidence["evidence"] as? String).flatMap({ try? Hex.decode($0) })
        else {
            let why = evidence["unavailable"] as? String ?? "no evidence in its attestation document"
            throw PlaneProtocolError(
                .untrusted,
                "the plane at \(url) offers no attestation (\(why)); pin its certificate instead (--plane-cert)"
            )
        }
        let appraised: AppraisedEvidence
        do { appraised = try appraiser.appraise(type: type, evidence: bytes, chainID: UInt64(chainID)) } catch {
            throw PlaneProtocolError(.untrusted, "the plane's \(type) evidence is not accepted: \(error)")
        }
        let expected = PlaneIdentity.reportData(signer: signer, tlsKey: presented)
        guard ConstantTime.equals(appraised.reportData, expected) else {
            throw PlaneProtocolError(
                .untrusted,
                "the plane's evidence does not bind the TLS key it presented (\(TLSKeyIdentity.text(presented))) "
                    + "with signer \(signer.checksummed): another key, or something in between"
            )
        }
        return AttestedPlane(
            url: url,
            trust: .publicKey(sha256: presented),
            signer: signer,
            tokenDomain: TokenDomain(chainID: UInt64(chainID), verifyingContract: registry),
            evidenceSummary: appraised.summary
        )
    }
}
