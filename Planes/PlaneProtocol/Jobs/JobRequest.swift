public import ChainCore
public import PlaneCrypto

/// The resources a job may use; the Computing Plane enforces them (cgroup limits and a wall-clock kill).
public struct JobLimits: Hashable, Sendable {
    /// CPUs (cgroup cpu.max quota in whole CPUs).
    public var cpus: UInt32
    /// Memory in bytes (cgroup memory.max).
    public var memoryBytes: UInt64
    /// Wall-clock seconds before the job is killed.
    public var timeoutSeconds: UInt32

    public init(cpus: UInt32, memoryBytes: UInt64, timeoutSeconds: UInt32) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.timeoutSeconds = timeoutSeconds
    }
}

/// A consumer's request to run one algorithm image on one dataset on one Computing Plane, signed by the
/// consumer's wallet (EIP-712 under `JobDomain`):
///
///     DeLongJobRequest(bytes32 jobId,bytes32 dataset,bytes32 imageDigest,bytes32 tokenHash,address plane,
///                      string outputRecipient,uint32 cpus,uint64 memoryBytes,uint32 timeoutSeconds)
///
/// `tokenHash` is the signing hash of the Secure Mode access token the job runs under; `plane` is the
/// Computing Plane's operator address, so a request cannot be replayed to another plane; the output is
/// encrypted to `outputRecipient` (age X25519).
public struct JobRequest: Hashable, Sendable {
    public var jobID: Hash32
    public var dataset: Hash32
    public var imageDigest: Hash32
    /// `SignedAccessToken.token.signingHash(_:)` of the job's access token.
    public var tokenHash: Hash32
    /// The Computing Plane's operator address.
    public var plane: Address
    /// Who can decrypt the output (`age1…`, signed as its canonical lowercase text).
    public var outputRecipient: AgeRecipient
    public var limits: JobLimits

    public init(
        jobID: Hash32,
        dataset: Hash32,
        imageDigest: Hash32,
        tokenHash: Hash32,
        plane: Address,
        outputRecipient: AgeRecipient,
        limits: JobLimits
    ) {
        self.jobID = jobID
        self.dataset = dataset
        self.imageDigest = imageDigest
        self.tokenHash = tokenHash
        self.plane = plane
        self.outputRecipient = outputRecipient
        self.limits = limits
    }

    static let members: [TypedData.Member] = [
        .init(name: "jobId", type: "bytes32"), .init(name: "dataset", type: "bytes32"),
        .init(name: "imageDigest", type: "bytes32"), .init(name: "tokenHash", type: "bytes32"),
        .init(name: "plane", type: "address"), .init(name: "outputRecipient", type: "string"),
        .init(name: "cpus", type: "uint32"), .init(name: "memoryBytes", type: "uint64"),
        .init(name: "timeoutSeconds", type: "uint32"),
    ]
    static let staticType = StaticTypedData("DeLongJobRequest", members)

    /// The request as EIP-712 typed data under `domain` (the definition; `signingHash` is the fast form).
    public func typedData(_ domain: JobDomain) -> TypedData {
        TypedData(
            types: ["DeLongJobRequest": Self.members],
            primaryType: "DeLongJobRequest",
            domain: domain.json,
            message: [
                "jobId": jobID.hex, "dataset": dataset.hex, "imageDigest": imageDigest.hex,
                "tokenHash": tokenHash.hex, "plane": plane.hex, "outputRecipient": outputRecipient.description,
                "cpus": "\(limits.cpus)", "memoryBytes": "\(limits.memoryBytes)",
                "timeoutSeconds": "\(limits.timeoutSeconds)",
            ]
        )
    }

    /// The digest the consumer signs (equal to `typedData(domain).signingHash()`).
    public func signingHash(_ domain: JobDomain) -> Hash32 {
        let W = StaticTypedData.self
        var words = jobID.bytes + dataset.bytes + imageDigest.bytes + tokenHash.bytes + W.word(plane)
        words += W.stringWord(outputRecipient.description) + W.word(UInt64(limits.cpus)) + W.word(limits.memoryBytes)
        words += W.word(UInt64(limits.timeoutSeconds))
        return Self.staticType.signingHash(domainSeparator: domain.separator, words: words)
    }
}

/// A job request with the consumer's signature.
public struct SignedJobRequest: Hashable, Sendable {
    public var request: JobRequest
    public var signature: Signature

    public init(request: JobRequest, signature: Signature) {
        self.request = request
        self.signature = signature
    }

    /// Signs `request` under `domain` with the consumer's key.
    public init(signing request: JobRequest, domain: JobDomain, privateKey: [UInt8]) throws(PlaneProtocolError) {
        self.request = request
        self.signature = try JobSignature.sign(request.signingHash(domain), privateKey: privateKey, what: "job request")
    }

    /// The address that signed the request under `domain` (the consumer, if it checks against the rental).
    public func signer(_ domain: JobDomain) throws(PlaneProtocolError) -> Address {
        try JobSignature.recover(request.signingHash(domain), signature, what: "request")
    }
}
