import ArgumentParser
import Attestation
import ChainCore
import Foundation
import NIOSSL
import PlaneProtocol

/// How a CLI command reaches a plane: its URL and how its TLS identity is verified. By default the client
/// verifies the plane's attestation (RA-TLS: the evidence binds the TLS key the plane presents); or it pins a
/// certificate; or it trusts a CA for the URL's host. Nothing is sent before one of these passes.
struct PlaneOptions: ParsableArguments {
    @Option(help: "The plane's base URL (what its serve command printed after READY), https://HOST:PORT.")
    var plane: String
    @Option(
        help: "Trust only the plane whose certificate (PEM) has this file's public key, instead of its attestation."
    )
    var planeCert: String?
    @Option(help: "Trust a plane certificate issued for the URL's host name by these CA certificates (PEM).")
    var planeCa: String?
    @Flag(help: "Talk plain HTTP to a plane on a loopback address that serves it (--plain-http there).")
    var plainHttp = false
    @Flag(help: "Accept the plane's INSECURE development evidence (a plane outside a TEE), on the devnet only.")
    var allowInsecurePlaneEvidence = false
    @Option(help: "A TDX measurement digest (0x + 64 hex) the plane may run with (repeatable): to accept its quote.")
    var planeMeasurement: [String] = []
    @Option(help: "dcap-qvl collateral JSON to verify the plane's TDX quote with.") var planeCollateral: String?

    func validate() throws {
        let modes = [planeCert != nil, planeCa != nil, plainHttp].filter { $0 }.count
        guard modes <= 1 else {
            throw ValidationError("--plane-cert, --plane-ca and --plain-http: expected at most one")
        }
        for digest in planeMeasurement where (try? Hash32(hex: digest)) == nil {
            throw ValidationError("--plane-measurement: expected 0x + 64 hex digits, found \"\(digest)\"")
        }
    }

    /// A client of the plane, its identity verified as the options say.
    func privacyClient() async throws -> PrivacyPlaneClient {
        let (url, trust) = try await connection()
        return PrivacyPlaneClient(url: url, trust: trust)
    }

    /// The plane's URL and how later requests trust it: the pinned or CA-checked certificate, or the TLS key
    /// its attestation bound (checked now, before anything else is sent).
    func connection() async throws -> (url: PlaneURL, trust: PlaneTrust) {
        try await Self.connection(to: try PlaneURL(plane), options: self)
    }

    /// `url` trusted as `options` say (the same trust flags for another plane the first one names).
    static func connection(to url: PlaneURL, options: PlaneOptions) async throws -> (url: PlaneURL, trust: PlaneTrust) {
        if options.plainHttp { return (url, .plainLoopback) }
        if let planeCert = options.planeCert {
            let pem = [UInt8](try InputFile.read(planeCert, what: "plane certificate"))
            let key = try TLSKeyIdentity.sha256(of: try TLSKeyIdentity.certificate(pem: pem, what: planeCert))
            return (url, .publicKey(sha256: key))
        }
        if let planeCa = options.planeCa {
            let pem = [UInt8](try InputFile.read(planeCa, what: "plane CA"))
            do { return (url, .certificateAuthorities(try NIOSSLCertificate.fromPEMBytes(pem))) } catch {
                throw CLIFailure.malformed("--plane-ca \(planeCa): expected PEM certificates: \(error)")
            }
        }
        let attested = try await AttestedPlane.establish(url, appraiser: try options.appraiser())
        return (attested.url, attested.trust)
    }

    func appraiser() throws -> PlaneEvidencePolicy {
        let collateral = try planeCollateral.map { path -> VerifiedCollateral in
            let bytes = [UInt8](try InputFile.read(path, what: "plane collateral"))
            do { return try DCAPVerifier.prepare(QuoteCollateral(json: bytes)) } catch {
                throw CLIFailure.malformed("--plane-collateral \(path): \(error)")
            }
        }
        return PlaneEvidencePolicy(
            allowDevelopment: allowInsecurePlaneEvidence,
            measurements: Set(planeMeasurement.compactMap { try? Hash32(hex: $0) }),
            collateral: collateral
        )
    }
}

/// What a client accepts as a plane's own evidence: a TDX quote that DCAP verifies now (UpToDate, not debug)
/// and whose measurement digest the client named; or, only when asked and only on the devnet's chain id, the
/// INSECURE development evidence.
struct PlaneEvidencePolicy: PlaneEvidenceAppraiser {
    let allowDevelopment: Bool
    let measurements: Set<Hash32>
    let collateral: VerifiedCollateral?

    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    func appraise(type: String, evidence: [UInt8], chainID: UInt64) throws -> AppraisedEvidence {
        switch type {
        case InsecureDevelopmentEvidence.type:
            guard allowDevelopment else {
                throw Refusal(
                    description:
                        "it is INSECURE development evidence (the plane runs outside a TEE); accept it on the devnet with --allow-insecure-plane-evidence, or pin the certificate with --plane-cert"
                )
            }
            guard chainID == InsecureDevelopmentEvidence.devnetChainID else {
                throw Refusal(
                    description:
                        "development evidence is accepted only on the devnet (chain id \(InsecureDevelopmentEvidence.devnetChainID)); this plane serves chain id \(chainID)"
                )
            }
            let parsed = try InsecureDevelopmentEvidence(json: evidence)
            return AppraisedEvidence(reportData: parsed.reportData, summary: "INSECURE development evidence")
        case "tdx":
            guard let collateral else {
                throw Refusal(description: "a TDX quote needs collateral to verify it (--plane-collateral)")
            }
            guard !measurements.isEmpty else {
                throw Refusal(description: "a TDX quote is accepted only for named measurements (--plane-measurement)")
            }
            let verified = try DCAPVerifier.verify(quote: evidence, collateral: collateral, at: Date())
            try AttestationPolicy(acceptableStatuses: [.upToDate], allowInsecureDevelopment: false)
                .check(verified, expectedReportData: nil)
            let digests = verified.allowListDigests
            guard let digest = digests.first(where: measurements.contains) else {
                throw Refusal(
                    description:
                        "its measurement digest \(digests.first?.hex ?? "?") is not one of the \(measurements.count) named (--plane-measurement)"
                )
            }
            return AppraisedEvidence(reportData: verified.reportData, summary: "TDX quote, measurement \(digest.hex)")
        default:
            throw Refusal(description: "unknown evidence type \"\(type)\"")
        }
    }
}
