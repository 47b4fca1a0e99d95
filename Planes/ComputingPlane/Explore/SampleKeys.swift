public import ChainCore
public import PlaneCrypto
public import PlaneProtocol

/// Where an Explore admission gets a sealed sample's key (docs/explore.md, "Sealed samples").
public protocol SampleKeySource: Sendable {
    /// The key of the sample dataset `sample` at `keyVersion`, asked for with the consumer's explore `token` for
    /// the parent dataset. The caller drops it (its bytes are wiped) once the archive is open.
    func key(
        for sample: Hash32,
        keyVersion: UInt32,
        token: SignedAccessToken
    ) async throws(ComputingPlaneError)
        -> SecretBytes
}

/// The Privacy Plane's attested release of a sample key: a fresh X25519 key, evidence from this plane's
/// attester whose REPORTDATA binds that key, the token and the sample dataset (`KeyWrap.sampleReportData`),
/// `POST /v1/keys/sample`, and the wrapped key opened with the chain id this plane expects.
public struct AttestedSampleKeys: SampleKeySource {
    /// A Privacy Plane client whose attested TLS binding was checked (made per request, as for jobs).
    public let privacyPlane: @Sendable () async throws -> PrivacyPlaneClient
    public let attester: any AgentAttester
    public let tokenDomain: TokenDomain

    public init(
        privacyPlane: @escaping @Sendable () async throws -> PrivacyPlaneClient,
        attester: any AgentAttester,
        tokenDomain: TokenDomain
    ) {
        self.privacyPlane = privacyPlane
        self.attester = attester
        self.tokenDomain = tokenDomain
    }

    public func key(
        for sample: Hash32,
        keyVersion: UInt32,
        token: SignedAccessToken
    ) async throws(ComputingPlaneError) -> SecretBytes {
        let tokenHash: Hash32
        do { tokenHash = try token.token.signingHash(tokenDomain) } catch {
            throw ComputingPlaneError(.forbidden, "the access token: \(error.reason)")
        }
        let recipient: X25519PrivateKey
        let evidence: [UInt8]
        do {
            recipient = try X25519PrivateKey()
            evidence = try attester.evidence(
                reportData: KeyWrap.sampleReportData(
                    recipientKey: recipient.publicKey,
                    tokenHash: tokenHash,
                    sampleDataset: sample
                )
            )
        } catch {
            throw ComputingPlaneError(.io, "this plane could not attest for the sample key: \(error)")
        }
        let client: PrivacyPlaneClient
        do { client = try await privacyPlane() } catch {
            throw ComputingPlaneError(.io, "the Privacy Plane is not reachable or not trusted: \(error)")
        }
        let response: KeyReleaseResponse
        do {
            response = try await client.sampleKey(
                SampleKeyRequest(
                    token: token,
                    sample: sample,
                    evidence: evidence,
                    recipientKey: recipient.publicKey,
                    keyVersion: keyVersion
                )
            )
        } catch {
            guard let (status, envelope) = error.refusal else {
                throw ComputingPlaneError(.io, "the Privacy Plane: \(error.reason)")
            }
            throw ComputingPlaneError(
                status == 409 ? .conflict : .forbidden,
                "the Privacy Plane refused the sample key (HTTP \(status) \(envelope.code)): \(envelope.message)"
            )
        }
        guard response.wrapped.tokenHash == tokenHash else {
            throw ComputingPlaneError(
                .verification,
                "the Privacy Plane wrapped the sample key for token \(response.wrapped.tokenHash.hex), expected \(tokenHash.hex)"
            )
        }
        let key: SecretBytes?
        do { key = try KeyWrap.unwrap(response.wrapped, recipient: recipient, chainID: tokenDomain.chainID) } catch {
            throw ComputingPlaneError(.verification, "cannot unwrap the sample key: \(error)")
        }
        guard let key else { throw ComputingPlaneError(.verification, "the wrapped sample key did not authenticate") }
        return key
    }
}
