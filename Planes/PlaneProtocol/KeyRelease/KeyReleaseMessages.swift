public import ChainCore

/// A key release to a Secure Mode sandbox: what the sandbox sends to `POST /v1/keys/release`.
public struct KeyReleaseRequest: Sendable {
    public var token: SignedAccessToken
    public var evidence: [UInt8]
    /// The sandbox's ephemeral X25519 public key (bound in the evidence's REPORTDATA).
    public var sandboxKey: [UInt8]
    /// The address of the sandbox agent's ephemeral secp256k1 key (bound in the evidence's REPORTDATA too): it
    /// signs the lease renewals and the job's result record.
    public var agentSigner: Address
    public var keyVersion: UInt32

    public init(
        token: SignedAccessToken,
        evidence: [UInt8],
        sandboxKey: [UInt8],
        agentSigner: Address,
        keyVersion: UInt32 = 1
    ) {
        self.token = token
        self.evidence = evidence
        self.sandboxKey = sandboxKey
        self.agentSigner = agentSigner
        self.keyVersion = keyVersion
    }
}

/// A Computing Plane's request for a sealed sample's key (`POST /v1/keys/sample`): the consumer's explore token
/// for the parent dataset, the sample dataset the parent's on-chain `sampleLocator` names, and the plane's
/// evidence binding its fresh X25519 key, the token and the sample dataset (`KeyWrap.sampleReportData`).
public struct SampleKeyRequest: Sendable {
    public var token: SignedAccessToken
    /// The sample's own dataset id (what the parent's `sample:sealed:<id>:…` locator names).
    public var sample: Hash32
    public var evidence: [UInt8]
    /// The plane's ephemeral X25519 public key.
    public var recipientKey: [UInt8]
    public var keyVersion: UInt32

    public init(
        token: SignedAccessToken,
        sample: Hash32,
        evidence: [UInt8],
        recipientKey: [UInt8],
        keyVersion: UInt32 = 1
    ) {
        self.token = token
        self.sample = sample
        self.evidence = evidence
        self.recipientKey = recipientKey
        self.keyVersion = keyVersion
    }
}

/// What a dataset's provider sends to `POST /v1/keys/provider` (signed in: the session names the provider).
public struct ProviderKeyRequest: Hashable, Sendable {
    public var dataset: Hash32
    /// The provider's fresh X25519 public key.
    public var recipientKey: [UInt8]
    public var keyVersion: UInt32

    public init(dataset: Hash32, recipientKey: [UInt8], keyVersion: UInt32 = 1) {
        self.dataset = dataset
        self.recipientKey = recipientKey
        self.keyVersion = keyVersion
    }
}

/// What a signed-in consumer sends to `POST /v1/tokens`.
public struct TokenRequest: Hashable, Sendable {
    public var dataset: Hash32
    public var mode: AccessToken.Mode
    /// The algorithm to run (Secure Mode only; zero for explore).
    public var imageDigest: Hash32
    /// The job the token is for (Secure Mode only; zero for explore).
    public var jobID: Hash32
    /// The Computing Plane the job runs on: its operator address (Secure Mode only; zero for explore).
    public var audience: Address

    public init(
        dataset: Hash32,
        mode: AccessToken.Mode,
        imageDigest: Hash32 = .zero,
        jobID: Hash32 = .zero,
        audience: Address = .zero
    ) {
        self.dataset = dataset
        self.mode = mode
        self.imageDigest = imageDigest
        self.jobID = jobID
        self.audience = audience
    }
}

/// A released key: the wrapped DEK, the receipt that records it and, for a sandbox, the lease it holds the
/// key under (a provider's own key has none: `KeyLease.none`).
public struct KeyReleaseResponse: Sendable {
    public var wrapped: KeyWrap.Wrapped
    public var receipt: SignedReceipt
    /// The key lease a sandbox release grants: renew it every `renewEvery` seconds, or stop using the key.
    public var lease: KeyLease

    public init(wrapped: KeyWrap.Wrapped, receipt: SignedReceipt, lease: KeyLease = .none) {
        self.wrapped = wrapped
        self.receipt = receipt
        self.lease = lease
    }
}
