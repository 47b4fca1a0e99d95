public import Attestation
public import ChainCore
public import PlaneCrypto
public import PlaneProtocol

/// The job agent's two ephemeral keys, made for one job and wiped with it: an X25519 key the Privacy Plane
/// wraps the dataset key to, and a secp256k1 key that signs lease renewals and the result record. The
/// attestation's REPORTDATA binds both with the token and the image digest, so whoever holds them is the
/// attested agent of this job and no other.
public final class AgentIdentity: Sendable {
    public let exchange: X25519PrivateKey
    private let signing: SecretBytes
    /// The signing key's address (what REPORTDATA binds and renewals and the result record recover to).
    public let signer: Address

    public init() throws {
        exchange = try X25519PrivateKey()
        var key = [UInt8](repeating: 0, count: 32)
        repeat {
            let fresh = try SecretBytes.random(count: 32)
            key = fresh.withUnsafeBytes { Array($0) }
        } while (try? Secp256k1.shared.address(privateKey: key)) == nil
        signing = SecretBytes(copying: key)
        signer = try Secp256k1.shared.address(privateKey: key)
        SecretBytes.wipe(&key)
    }

    /// Runs `body` with the signing key's bytes, wiped afterwards.
    public func withSigningKey<T>(_ body: ([UInt8]) throws -> T) rethrows -> T {
        var key = signing.withUnsafeBytes { Array($0) }
        defer { SecretBytes.wipe(&key) }
        return try body(key)
    }

    /// Signs `digest` with the agent's key.
    public func sign(_ digest: Hash32) throws -> Signature {
        try withSigningKey { try Secp256k1.shared.sign(digest, privateKey: $0) }
    }

    /// REPORTDATA for this job: both keys, the token and the image digest.
    public func reportData(token: VerifiedAccessToken) -> [UInt8] {
        KeyWrap.reportData(
            recipientKey: exchange.publicKey,
            agentSigner: signer,
            tokenHash: token.signingHash,
            imageDigest: token.token.imageDigest
        )
    }
}

/// Who vouches for the agent: the hardware (a TDX quote, in the Confidential VM backend) or, on a machine
/// without a TEE, the INSECURE development evidence that a Privacy Plane accepts only when told to.
public protocol AgentAttester: Sendable {
    /// What the evidence is, for the job's events ("INSECURE development evidence", "TDX quote").
    var kind: String { get }
    /// Evidence whose REPORTDATA is `reportData` (64 bytes).
    func evidence(reportData: [UInt8]) throws -> [UInt8]
    /// The same with the producer's event log, where it has one (default: none).
    func attest(reportData: [UInt8]) throws -> AgentEvidence
}

extension AgentAttester {
    public func attest(reportData: [UInt8]) throws -> AgentEvidence {
        AgentEvidence(bytes: try evidence(reportData: reportData), eventLog: nil)
    }
}

/// An agent's evidence and, when its producer gives one, the event log its RTMRs replay from.
public struct AgentEvidence: Sendable {
    /// What the Privacy Plane verifies: a TDX quote, SNP evidence or the development evidence's JSON.
    public let bytes: [UInt8]
    /// dstack's event log (a JSON array as text) under dstack; nil otherwise.
    public let eventLog: String?

    public init(bytes: [UInt8], eventLog: String?) {
        self.bytes = bytes
        self.eventLog = eventLog
    }
}

/// INSECURE development evidence claiming fixed measurements (MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2, 192 bytes),
/// whose development digest governance must trust on chain for a key to be released. Nothing measured them.
public struct DevelopmentAttester: AgentAttester {
    public let measurements: [UInt8]
    public var kind: String { "INSECURE development evidence" }

    public init(measurements: [UInt8]) throws(ComputingPlaneError) {
        guard measurements.count == 192 else {
            throw ComputingPlaneError(
                .badInput,
                "development measurements: expected 192 bytes (MRTD and RTMR0-2), found \(measurements.count)"
            )
        }
        self.measurements = measurements
    }

    public func evidence(reportData: [UInt8]) throws -> [UInt8] {
        let m = measurements
        return try InsecureDevelopmentEvidence(
            mrTD: Array(m[0..<48]),
            rtmr: [Array(m[48..<96]), Array(m[96..<144]), Array(m[144..<192]), [UInt8](repeating: 0, count: 48)],
            reportData: reportData
        ).json()
    }
}

/// Evidence from the kernel's configfs-tsm report interface (`ConfigfsTSM`): a TDX quote in a TDX guest, an
/// SEV-SNP report with its certificate table (`SNPEvidence`) in an SEV-SNP guest.
public struct ConfigfsTSMAttester: AgentAttester {
    public let producer: ConfigfsTSM
    public var kind: String {
        switch producer.expectedProvider {
        case .tdx: "TDX quote (configfs-tsm)"
        case .sev: "SEV-SNP report (configfs-tsm)"
        case nil: "TDX quote or SEV-SNP report (configfs-tsm)"
        }
    }

    public init(producer: ConfigfsTSM) { self.producer = producer }

    public func evidence(reportData: [UInt8]) throws -> [UInt8] {
        try producer.report(reportData: reportData).evidence
    }
}

/// Evidence from the dstack guest agent's `GetQuote` (``DstackGuestAgent``): a TDX quote whose REPORTDATA the
/// agent was asked for (checked on receipt), with dstack's event log, whose RTMR3 events measure the app's
/// compose hash.
public struct DstackAttester: AgentAttester {
    public let agent: DstackGuestAgent
    public var kind: String { "TDX quote (dstack guest agent)" }

    public init(agent: DstackGuestAgent) { self.agent = agent }

    public func evidence(reportData: [UInt8]) throws -> [UInt8] { try agent.quote(reportData: reportData).quote }

    public func attest(reportData: [UInt8]) throws -> AgentEvidence {
        let answer = try agent.quote(reportData: reportData)
        return AgentEvidence(bytes: answer.quote, eventLog: answer.eventLog)
    }
}
