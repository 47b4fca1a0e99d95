public import ChainCore

/// What a finished job produced, signed by the job agent's ephemeral secp256k1 key (the key its attestation
/// binds), EIP-712 under `JobDomain`:
///
///     DeLongJobResult(bytes32 jobId,bytes32 dataset,address consumer,bytes32 imageDigest,
///                     bytes32 runtimeDigest,string outcome,bytes32 gateDigest,bytes32 reviewDigest,
///                     bytes32 outputSha256,bytes32 cipherSha256,uint64 finishedAt)
///
/// - `outcome`: the job outcome's text ("released", "gateBlocked", "killed(timeout)", …).
/// - `gateDigest`: SHA-256 of the gate verdict document.
/// - `reviewDigest`: the head of the plane's hash-chained decision log after this job's last entry (its gate
///   verdict, each review decision and the review's outcome), so a log cut after it is detected.
/// - `outputSha256`: SHA-256 of the plaintext output tar; `cipherSha256`: SHA-256 of the age file.
public struct ResultRecord: Hashable, Sendable {
    /// The most bytes an outcome text may have.
    public static let maximumOutcomeBytes = 64

    public let jobID: Hash32
    public let dataset: Hash32
    public let consumer: Address
    public let imageDigest: Hash32
    public let runtimeDigest: Hash32
    public let outcome: String
    public let gateDigest: Hash32
    public let reviewDigest: Hash32
    public let outputSha256: Hash32
    public let cipherSha256: Hash32
    /// Unix seconds.
    public let finishedAt: UInt64

    /// A record; refuses an outcome that is not 1…64 bytes of ASCII letters, digits and `()-_.:`.
    public init(
        jobID: Hash32,
        dataset: Hash32,
        consumer: Address,
        imageDigest: Hash32,
        runtimeDigest: Hash32,
        outcome: String,
        gateDigest: Hash32,
        reviewDigest: Hash32,
        outputSha256: Hash32,
        cipherSha256: Hash32,
        finishedAt: UInt64
    ) throws(PlaneProtocolError) {
        try Self.checkOutcome(outcome)
        self.jobID = jobID
        self.dataset = dataset
        self.consumer = consumer
        self.imageDigest = imageDigest
        self.runtimeDigest = runtimeDigest
        self.outcome = outcome
        self.gateDigest = gateDigest
        self.reviewDigest = reviewDigest
        self.outputSha256 = outputSha256
        self.cipherSha256 = cipherSha256
        self.finishedAt = finishedAt
    }

    static func checkOutcome(_ outcome: String) throws(PlaneProtocolError) {
        let bytes = Array(outcome.utf8)
        guard (1...maximumOutcomeBytes).contains(bytes.count) else {
            throw PlaneProtocolError(
                .malformed,
                "result.outcome: expected 1…\(maximumOutcomeBytes) bytes, found \(bytes.count)"
            )
        }
        let allowed: (UInt8) -> Bool = { b in
            (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A)
                || [
                    UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                    UInt8(ascii: "."), UInt8(ascii: ":"),
                ].contains(b)
        }
        if let bad = bytes.first(where: { !allowed($0) }) {
            throw PlaneProtocolError(
                .malformed,
                "result.outcome: expected ASCII letters, digits and ()-_.:, found byte 0x\(String(bad, radix: 16))"
            )
        }
    }

    static let members: [TypedData.Member] = [
        .init(name: "jobId", type: "bytes32"), .init(name: "dataset", type: "bytes32"),
        .init(name: "consumer", type: "address"), .init(name: "imageDigest", type: "bytes32"),
        .init(name: "runtimeDigest", type: "bytes32"), .init(name: "outcome", type: "string"),
        .init(name: "gateDigest", type: "bytes32"), .init(name: "reviewDigest", type: "bytes32"),
        .init(name: "outputSha256", type: "bytes32"), .init(name: "cipherSha256", type: "bytes32"),
        .init(name: "finishedAt", type: "uint64"),
    ]
    static let staticType = StaticTypedData("DeLongJobResult", members)

    /// The record as EIP-712 typed data under `domain` (the definition; `signingHash` is the fast form).
    public func typedData(_ domain: JobDomain) -> TypedData {
        TypedData(
            types: ["DeLongJobResult": Self.members],
            primaryType: "DeLongJobResult",
            domain: domain.json,
            message: [
                "jobId": jobID.hex, "dataset": dataset.hex, "consumer": consumer.hex, "imageDigest": imageDigest.hex,
                "runtimeDigest": runtimeDigest.hex, "outcome": outcome, "gateDigest": gateDigest.hex,
                "reviewDigest": reviewDigest.hex, "outputSha256": outputSha256.hex,
                "cipherSha256": cipherSha256.hex, "finishedAt": "\(finishedAt)",
            ]
        )
    }

    /// The digest the job agent signs (equal to `typedData(domain).signingHash()`).
    public func signingHash(_ domain: JobDomain) -> Hash32 {
        let W = StaticTypedData.self
        var words = jobID.bytes + dataset.bytes + W.word(consumer) + imageDigest.bytes + runtimeDigest.bytes
        words += W.stringWord(outcome) + gateDigest.bytes + reviewDigest.bytes + outputSha256.bytes
        words += cipherSha256.bytes + W.word(finishedAt)
        return Self.staticType.signingHash(domainSeparator: domain.separator, words: words)
    }
}

/// A result record with the job agent's signature.
public struct SignedResultRecord: Hashable, Sendable {
    public var record: ResultRecord
    public var signature: Signature

    public init(record: ResultRecord, signature: Signature) {
        self.record = record
        self.signature = signature
    }

    /// Signs `record` under `domain` with the job agent's ephemeral key.
    public init(signing record: ResultRecord, domain: JobDomain, privateKey: [UInt8]) throws(PlaneProtocolError) {
        self.record = record
        self.signature = try JobSignature.sign(record.signingHash(domain), privateKey: privateKey, what: "result")
    }

    /// The address that signed the record under `domain` (the agent key its attestation must bind).
    public func signer(_ domain: JobDomain) throws(PlaneProtocolError) -> Address {
        try JobSignature.recover(record.signingHash(domain), signature, what: "result")
    }
}
