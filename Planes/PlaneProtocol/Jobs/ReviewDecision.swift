public import ChainCore

/// A dataset provider's decision on a job output the gate sent to review, signed by the provider's wallet
/// (EIP-712 under `JobDomain`):
///
///     DeLongReview(bytes32 jobId,bytes32 outputDigest,bool approve,string reason,uint64 decidedAt)
///
/// `outputDigest` is the SHA-256 of the plaintext output tar the provider reviewed, so a decision approves
/// exactly those bytes. The reason is required: 1…1000 UTF-8 bytes, no control characters.
public struct ReviewDecision: Hashable, Sendable {
    /// The most UTF-8 bytes a reason may have.
    public static let maximumReasonBytes = 1000

    public let jobID: Hash32
    /// SHA-256 of the plaintext output tar.
    public let outputDigest: Hash32
    public let approve: Bool
    /// Why (shown to the consumer and kept in the job's record).
    public let reason: String
    /// Unix seconds.
    public let decidedAt: UInt64

    /// A decision; refuses an empty or oversized reason, or one with control characters.
    public init(
        jobID: Hash32,
        outputDigest: Hash32,
        approve: Bool,
        reason: String,
        decidedAt: UInt64
    ) throws(PlaneProtocolError) {
        try JobText.check(reason, field: "review.reason", maximumBytes: Self.maximumReasonBytes)
        self.jobID = jobID
        self.outputDigest = outputDigest
        self.approve = approve
        self.reason = reason
        self.decidedAt = decidedAt
    }

    static let members: [TypedData.Member] = [
        .init(name: "jobId", type: "bytes32"), .init(name: "outputDigest", type: "bytes32"),
        .init(name: "approve", type: "bool"), .init(name: "reason", type: "string"),
        .init(name: "decidedAt", type: "uint64"),
    ]
    static let staticType = StaticTypedData("DeLongReview", members)

    /// The decision as EIP-712 typed data under `domain` (the definition; `signingHash` is the fast form).
    public func typedData(_ domain: JobDomain) -> TypedData {
        TypedData(
            types: ["DeLongReview": Self.members],
            primaryType: "DeLongReview",
            domain: domain.json,
            message: [
                "jobId": jobID.hex, "outputDigest": outputDigest.hex, "approve": approve, "reason": reason,
                "decidedAt": "\(decidedAt)",
            ]
        )
    }

    /// The digest the provider signs (equal to `typedData(domain).signingHash()`).
    public func signingHash(_ domain: JobDomain) -> Hash32 {
        let W = StaticTypedData.self
        let words = jobID.bytes + outputDigest.bytes + W.boolWord(approve) + W.stringWord(reason) + W.word(decidedAt)
        return Self.staticType.signingHash(domainSeparator: domain.separator, words: words)
    }
}

/// A review decision with the provider's signature.
public struct SignedReviewDecision: Hashable, Sendable {
    public var decision: ReviewDecision
    public var signature: Signature

    public init(decision: ReviewDecision, signature: Signature) {
        self.decision = decision
        self.signature = signature
    }

    /// Signs `decision` under `domain` with the provider's key.
    public init(signing decision: ReviewDecision, domain: JobDomain, privateKey: [UInt8]) throws(PlaneProtocolError) {
        self.decision = decision
        self.signature = try JobSignature.sign(
            decision.signingHash(domain),
            privateKey: privateKey,
            what: "review decision"
        )
    }

    /// The address that signed the decision under `domain` (the provider, if it checks against the dataset).
    public func signer(_ domain: JobDomain) throws(PlaneProtocolError) -> Address {
        try JobSignature.recover(decision.signingHash(domain), signature, what: "review")
    }
}

/// Checks for the free text the signed records carry.
enum JobText {
    /// 1…`maximumBytes` UTF-8 bytes and no control character (C0, DEL, C1), so the text cannot forge lines
    /// or terminal escapes where it is shown.
    static func check(_ text: String, field: String, maximumBytes: Int) throws(PlaneProtocolError) {
        let count = text.utf8.count
        guard count >= 1, count <= maximumBytes else {
            throw PlaneProtocolError(
                .malformed,
                "\(field): expected 1…\(maximumBytes) UTF-8 bytes, found \(count)"
            )
        }
        if let bad = text.unicodeScalars.first(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            let code = String(bad.value, radix: 16, uppercase: true)
            throw PlaneProtocolError(
                .malformed,
                "\(field): expected no control characters, found U+\(String(repeating: "0", count: max(0, 4 - code.count)))\(code)"
            )
        }
    }
}
