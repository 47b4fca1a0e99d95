public import ChainCore

/// Who may review a dataset's job outputs besides its provider, and how many must approve, signed by the
/// dataset's provider (EIP-712 under `JobDomain`):
///
///     DeLongReviewers(bytes32 dataset,uint64 version,address[] reviewers,uint8 required)
///
/// A plane keeps the highest version it has seen per dataset; an older or equal version is refused, so a
/// list cannot be rolled back by replaying an earlier signature. `required` is 1 or 2 (two independent
/// reviewers by default; one is the provider's per-dataset option). The reviewers are distinct, at most 32.
public struct ReviewerList: Hashable, Sendable {
    /// The most addresses a list may name.
    public static let maximumReviewers = 32
    /// Approvals needed when a dataset has no list.
    public static let defaultRequired: UInt8 = 2

    public let dataset: Hash32
    public let version: UInt64
    public let reviewers: [Address]
    public let required: UInt8

    /// A list; refuses a repeated address, more than 32, or `required` other than 1 or 2.
    public init(dataset: Hash32, version: UInt64, reviewers: [Address], required: UInt8) throws(PlaneProtocolError) {
        guard reviewers.count <= Self.maximumReviewers else {
            throw PlaneProtocolError(
                .malformed,
                "reviewers.reviewers: expected at most \(Self.maximumReviewers) addresses, found \(reviewers.count)"
            )
        }
        guard Set(reviewers).count == reviewers.count else {
            throw PlaneProtocolError(.malformed, "reviewers.reviewers: expected distinct addresses, found a repeat")
        }
        guard required == 1 || required == 2 else {
            throw PlaneProtocolError(.malformed, "reviewers.required: expected 1 or 2, found \(required)")
        }
        self.dataset = dataset
        self.version = version
        self.reviewers = reviewers
        self.required = required
    }

    static let members: [TypedData.Member] = [
        .init(name: "dataset", type: "bytes32"), .init(name: "version", type: "uint64"),
        .init(name: "reviewers", type: "address[]"), .init(name: "required", type: "uint8"),
    ]
    static let staticType = StaticTypedData("DeLongReviewers", members)

    /// The list as EIP-712 typed data under `domain` (the definition; `signingHash` is the fast form).
    public func typedData(_ domain: JobDomain) -> TypedData {
        TypedData(
            types: ["DeLongReviewers": Self.members],
            primaryType: "DeLongReviewers",
            domain: domain.json,
            message: [
                "dataset": dataset.hex, "version": "\(version)", "reviewers": reviewers.map(\.hex),
                "required": Int(required),
            ]
        )
    }

    /// The digest the provider signs (equal to `typedData(domain).signingHash()`).
    public func signingHash(_ domain: JobDomain) -> Hash32 {
        let W = StaticTypedData.self
        // An array member is the keccak of its elements' words, concatenated.
        let array = Keccak256.hash(reviewers.flatMap { W.word($0) })
        let words = dataset.bytes + W.word(version) + array.bytes + W.word(UInt64(required))
        return Self.staticType.signingHash(domainSeparator: domain.separator, words: words)
    }
}

/// A reviewer list with the provider's signature.
public struct SignedReviewerList: Hashable, Sendable {
    public var list: ReviewerList
    public var signature: Signature

    public init(list: ReviewerList, signature: Signature) {
        self.list = list
        self.signature = signature
    }

    /// Signs `list` under `domain` with the provider's key.
    public init(signing list: ReviewerList, domain: JobDomain, privateKey: [UInt8]) throws(PlaneProtocolError) {
        self.list = list
        self.signature = try JobSignature.sign(list.signingHash(domain), privateKey: privateKey, what: "reviewers")
    }

    /// The address that signed the list under `domain` (the provider, if it checks against the dataset).
    public func signer(_ domain: JobDomain) throws(PlaneProtocolError) -> Address {
        try JobSignature.recover(list.signingHash(domain), signature, what: "reviewers")
    }
}

extension SignedReviewerList {
    public var json: [String: Any] {
        [
            "reviewers": [
                "dataset": list.dataset.hex, "version": "\(list.version)",
                "reviewers": list.reviewers.map(\.checksummed), "required": Int(list.required),
            ] as [String: Any],
            "signature": Hex.encode(signature.rsv),
        ]
    }

    /// Parses the shape of `json`; `signer(_:)` then says who signed it.
    public init(json: Any?) throws(PlaneProtocolError) {
        let (body, signature) = try JobField.envelope(json, record: "reviewers")
        let field = try JobField(body, "reviewers", keys: ReviewerList.members)
        guard let items = body["reviewers"] as? [Any] else {
            throw PlaneProtocolError(
                .malformed,
                "reviewers.reviewers: expected an array of addresses, found \(JobField.found(body["reviewers"]))"
            )
        }
        var reviewers: [Address] = []
        for (number, item) in items.prefix(ReviewerList.maximumReviewers + 1).enumerated() {
            guard let text = item as? String, let address = try? Address(hex: text) else {
                throw PlaneProtocolError(
                    .malformed,
                    "reviewers.reviewers[\(number)]: expected a 0x address, found \(JobField.found(item))"
                )
            }
            reviewers.append(address)
        }
        let required = try field.uint32("required")
        guard required <= UInt8.max else {
            throw PlaneProtocolError(.malformed, "reviewers.required: expected 1 or 2, found \(required)")
        }
        self.init(
            list: try ReviewerList(
                dataset: try field.hash("dataset"),
                version: try field.decimal("version"),
                reviewers: reviewers,
                required: UInt8(required)
            ),
            signature: signature
        )
    }
}
