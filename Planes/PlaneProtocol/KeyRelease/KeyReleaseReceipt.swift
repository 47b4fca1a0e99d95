public import ChainCore

/// What the Privacy Plane signs each time it releases a key: EIP-712 typed data under the token domain, so
/// an auditor checks it with `ecrecover` against the on-chain privacy signer. Receipts are hash-chained
/// (`previous` is the signing hash of the receipt before it), so a log with a receipt removed, reordered or
/// edited no longer verifies.
///
///     DeLongKeyRelease(uint64 sequence,bytes32 previous,uint8 kind,bytes32 rental,bytes32 dataset,
///                      address recipient,uint64 blockNumber,bytes32 blockHash,bytes32 token,bytes32 evidence,
///                      uint8 evidenceKind,bytes32 imageDigest,bytes32 jobId,uint32 keyVersion,uint64 releasedAt)
public struct KeyReleaseReceipt: Hashable, Sendable {
    public init(
        sequence: UInt64 = 0,
        previous: Hash32 = .zero,
        kind: Kind,
        rental: Hash32,
        dataset: Hash32,
        recipient: Address,
        blockNumber: UInt64,
        blockHash: Hash32,
        token: Hash32,
        evidence: Hash32,
        evidenceKind: EvidenceKind,
        imageDigest: Hash32,
        jobID: Hash32,
        keyVersion: UInt32,
        releasedAt: UInt64
    ) {
        self.sequence = sequence
        self.previous = previous
        self.kind = kind
        self.rental = rental
        self.dataset = dataset
        self.recipient = recipient
        self.blockNumber = blockNumber
        self.blockHash = blockHash
        self.token = token
        self.evidence = evidence
        self.evidenceKind = evidenceKind
        self.imageDigest = imageDigest
        self.jobID = jobID
        self.keyVersion = keyVersion
        self.releasedAt = releasedAt
    }

    /// To whom the key went.
    public enum Kind: UInt8, Sendable {
        /// A Secure Mode sandbox, against a token and attestation evidence.
        case sandbox = 0
        /// The dataset's registered provider, to seal its data.
        case provider = 1
        /// A Computing Plane, for a sealed sample's key, against an explore token and its evidence.
        case sample = 2
    }

    public var sequence: UInt64
    public var previous: Hash32
    public var kind: Kind
    /// keccak256(dataset ‖ consumer); zero for provider releases.
    public var rental: Hash32
    public var dataset: Hash32
    /// The consumer (sandbox releases) or the provider.
    public var recipient: Address
    /// The verified index head the decision was made at.
    public var blockNumber: UInt64
    public var blockHash: Hash32
    /// The token's EIP-712 signing hash (zero for provider releases).
    public var token: Hash32
    /// SHA-256 of the attestation evidence (zero for provider releases).
    public var evidence: Hash32
    public var evidenceKind: EvidenceKind
    public var imageDigest: Hash32
    public var jobID: Hash32
    public var keyVersion: UInt32
    public var releasedAt: UInt64

    static let members: [TypedData.Member] = [
        .init(name: "sequence", type: "uint64"), .init(name: "previous", type: "bytes32"),
        .init(name: "kind", type: "uint8"), .init(name: "rental", type: "bytes32"),
        .init(name: "dataset", type: "bytes32"), .init(name: "recipient", type: "address"),
        .init(name: "blockNumber", type: "uint64"), .init(name: "blockHash", type: "bytes32"),
        .init(name: "token", type: "bytes32"), .init(name: "evidence", type: "bytes32"),
        .init(name: "evidenceKind", type: "uint8"), .init(name: "imageDigest", type: "bytes32"),
        .init(name: "jobId", type: "bytes32"), .init(name: "keyVersion", type: "uint32"),
        .init(name: "releasedAt", type: "uint64"),
    ]

    /// The receipt as EIP-712 typed data under `domain`.
    public func typedData(_ domain: TokenDomain) -> TypedData {
        TypedData(
            types: ["DeLongKeyRelease": Self.members],
            primaryType: "DeLongKeyRelease",
            domain: domain.json,
            message: json
        )
    }

    /// The message as JSON-ready values (numbers as decimal strings, bytes as 0x-hex).
    public var json: [String: Any] {
        [
            "sequence": "\(sequence)", "previous": previous.hex, "kind": Int(kind.rawValue), "rental": rental.hex,
            "dataset": dataset.hex, "recipient": recipient.hex, "blockNumber": "\(blockNumber)",
            "blockHash": blockHash.hex, "token": token.hex, "evidence": evidence.hex,
            "evidenceKind": Int(evidenceKind.rawValue), "imageDigest": imageDigest.hex, "jobId": jobID.hex,
            "keyVersion": "\(keyVersion)", "releasedAt": "\(releasedAt)",
        ]
    }

    static let staticType = StaticTypedData("DeLongKeyRelease", members)

    /// The digest the plane signs (EIP-712; equal to `typedData(domain).signingHash()`).
    public func signingHash(_ domain: TokenDomain) throws(ChainError) -> Hash32 {
        let W = StaticTypedData.self
        var words = W.word(sequence) + previous.bytes + W.word(UInt64(kind.rawValue)) + rental.bytes + dataset.bytes
        words += W.word(recipient) + W.word(blockNumber) + blockHash.bytes + token.bytes + evidence.bytes
        words += W.word(UInt64(evidenceKind.rawValue)) + imageDigest.bytes + jobID.bytes
        words += W.word(UInt64(keyVersion)) + W.word(releasedAt)
        return Self.staticType.signingHash(domainSeparator: domain.separator, words: words)
    }
}

/// A receipt with its signing hash and the plane's signature.
public struct SignedReceipt: Hashable, Sendable {
    public var receipt: KeyReleaseReceipt
    /// The receipt's EIP-712 signing hash under the token domain.
    public var hash: Hash32
    public var signature: Signature

    public init(receipt: KeyReleaseReceipt, hash: Hash32, signature: Signature) {
        self.receipt = receipt
        self.hash = hash
        self.signature = signature
    }

    /// Signs `receipt` under `domain` with the plane's key.
    public init(signing receipt: KeyReleaseReceipt, domain: TokenDomain, privateKey: [UInt8]) throws(ChainError) {
        let hash = try receipt.signingHash(domain)
        self.init(receipt: receipt, hash: hash, signature: try Secp256k1.shared.sign(hash, privateKey: privateKey))
    }

    /// Whether `hash` is the receipt's signing hash under `domain` and `signer` signed it (what an auditor
    /// checks against the on-chain privacy signer).
    public func verify(domain: TokenDomain, signer: Address) -> Bool {
        guard let expected = try? receipt.signingHash(domain), expected == hash,
            let recovered = try? Secp256k1.shared.recoverAddress(hash, signature)
        else { return false }
        return recovered == signer
    }
}

/// Which kind of evidence a sandbox presented.
public enum EvidenceKind: UInt8, Sendable {
    case none = 0
    /// An Intel TDX DCAP quote, verified with collateral.
    case tdx = 1
    /// An AMD SEV-SNP report (`SNPEvidence` on the wire), verified with an AMD chain, CRLs and a minimum TCB.
    case snp = 2
    /// The insecure development evidence: no hardware vouches for anything. Refused unless allowed.
    case developmentInsecure = 255
}
