/// The Clique (EIP-225) authorization state at one block, advanced one header at a time, as geth's
/// `clique.Snapshot` does it.
///
/// - The signer set starts from a checkpoint header's list and then changes only through votes: a signer votes
///   by sealing a non-epoch block whose beneficiary is the candidate and whose nonce is 0xff…ff (authorize) or
///   0x00…00 (drop). A proposal passes when more than half of the current signers voted for it. Epoch headers
///   reset the pending votes and must list exactly the current set (a single signer cannot rewrite it there).
/// - A signer may seal at most one of any floor(N/2)+1 consecutive blocks (the recent-signer rule), so one
///   signer alone cannot seal a chain of its own.
/// - Seal, difficulty (in turn: 2, else 1), mixHash and ommers are checked by `Clique.check`.
public struct CliqueSnapshot: Hashable, Sendable {
    /// A vote cast and not yet decided.
    public struct Vote: Hashable, Sendable {
        public var signer: Address
        public var block: UInt64
        public var candidate: Address
        public var authorize: Bool
    }

    public let epoch: UInt64
    /// The block this state is at (the last header applied).
    public private(set) var number: UInt64
    /// Authorized signers, sorted.
    public private(set) var signers: [Address]
    /// Who sealed each of the last floor(N/2) blocks, by block number.
    public private(set) var recents: [UInt64: Address]
    public private(set) var votes: [Vote]

    public static let authorizeNonce = [UInt8](repeating: 0xFF, count: 8)
    public static let dropNonce = [UInt8](repeating: 0, count: 8)

    /// The state at a checkpoint header: its listed signers, no votes, no recent signers.
    public init(checkpoint header: Header, epoch: UInt64) throws(ChainError) {
        self.epoch = epoch
        number = header.number
        signers = try Clique.signers(checkpoint: header).sorted()
        recents = [:]
        votes = []
    }

    /// Every Clique rule `header` (the next block) breaks; when there is none, the state advances to it.
    public mutating func apply(_ header: Header) -> [HeaderCheckFailure] {
        guard header.number == number + 1 else {
            return [HeaderCheckFailure(field: "number", expected: "\(number + 1)", found: "\(header.number)")]
        }
        var failures = Clique.check(header, signers: signers)
        guard failures.isEmpty, let signer = try? Clique.signer(header) else { return failures }
        let checkpoint = epoch > 0 && header.number % epoch == 0
        let listed = header.extraData.count - Clique.vanityLength - Clique.sealLength
        if checkpoint {
            let list = (try? Clique.signers(checkpoint: header)) ?? []
            if list != signers {
                failures.append(
                    HeaderCheckFailure(
                        field: "extraData (Clique epoch signers)",
                        expected: "the signer set the votes produced: \(signers.map(\.checksummed))",
                        found: "\(list.map(\.checksummed))"
                    )
                )
            }
            if header.beneficiary != .zero || header.nonce != Self.dropNonce {
                failures.append(
                    HeaderCheckFailure(
                        field: "beneficiary/nonce (Clique epoch)",
                        expected: "no vote at an epoch header",
                        found: "\(header.beneficiary.checksummed) / \(Hex.encode(header.nonce))"
                    )
                )
            }
        } else {
            if listed != 0 {
                failures.append(
                    HeaderCheckFailure(
                        field: "extraData (Clique signers)",
                        expected: "no signer list outside epoch headers",
                        found: "\(listed) bytes of signers"
                    )
                )
            }
            if header.nonce != Self.authorizeNonce && header.nonce != Self.dropNonce {
                failures.append(
                    HeaderCheckFailure(
                        field: "nonce (Clique vote)",
                        expected: "0xffffffffffffffff or 0x0000000000000000",
                        found: Hex.encode(header.nonce)
                    )
                )
            }
        }
        // The recent-signer rule: the signers of the last floor(N/2) blocks may not seal this one.
        let limit = UInt64(signers.count / 2 + 1)
        var recents = self.recents
        if header.number >= limit { recents[header.number - limit] = nil }
        if let previous = recents.first(where: { $0.value == signer })?.key {
            failures.append(
                HeaderCheckFailure(
                    field: "extraData (Clique recent signer)",
                    expected: "a signer that sealed none of the last \(limit - 1) blocks",
                    found: "\(signer.checksummed), who sealed block \(previous)"
                )
            )
        }
        guard failures.isEmpty else { return failures }
        recents[header.number] = signer
        self.recents = recents
        number = header.number
        if checkpoint {
            votes = []
        } else {
            vote(signer: signer, header: header)
        }
        return []
    }

    private mutating func vote(signer: Address, header: Header) {
        let candidate = header.beneficiary
        let authorize = header.nonce == Self.authorizeNonce
        // A signer's newer vote on a candidate replaces its older one.
        votes.removeAll { $0.signer == signer && $0.candidate == candidate }
        // Votes that would change nothing are not counted.
        guard signers.contains(candidate) != authorize else { return }
        votes.append(Vote(signer: signer, block: header.number, candidate: candidate, authorize: authorize))
        let tally = votes.filter { $0.candidate == candidate && $0.authorize == authorize }.count
        guard tally > signers.count / 2 else { return }
        if authorize {
            signers = (signers + [candidate]).sorted()
        } else {
            signers.removeAll { $0 == candidate }
            let limit = UInt64(signers.count / 2 + 1)
            if header.number >= limit { recents[header.number - limit] = nil }
            votes.removeAll { $0.signer == candidate }
        }
        votes.removeAll { $0.candidate == candidate }
    }

    // MARK: Storage (RLP: [number, [signers], [[block, signer]…], [[signer, block, candidate, authorize]…]])

    public var encoded: [UInt8] {
        RLPItem.list([
            .uint(number), .list(signers.map { .address($0) }),
            .list(recents.sorted { $0.key < $1.key }.map { .list([.uint($0.key), .address($0.value)]) }),
            .list(
                votes.map {
                    .list([
                        .address($0.signer), .uint($0.block), .address($0.candidate),
                        .uint(UInt64($0.authorize ? 1 : 0)),
                    ])
                }
            ),
        ]).encoded
    }

    public init(encoded: [UInt8], epoch: UInt64) throws(ChainError) {
        let f = try RLPItem.decode(encoded).list("Clique snapshot")
        guard f.count == 4 else {
            throw ChainError(.invalidRLP, "Clique snapshot: expected 4 fields, found \(f.count)")
        }
        self.epoch = epoch
        number = try f[0].uint64("snapshot number")
        signers = try f[1].list("signers").map { (item) throws(ChainError) -> Address in try item.address() }
        guard !signers.isEmpty, signers == signers.sorted() else {
            throw ChainError(.invalidRLP, "Clique snapshot: signers must be a non-empty sorted list")
        }
        var recents: [UInt64: Address] = [:]
        for item in try f[2].list("recents") {
            let r = try item.list("recent")
            guard r.count == 2 else { throw ChainError(.invalidRLP, "Clique snapshot recent: expected 2 fields") }
            recents[try r[0].uint64()] = try r[1].address()
        }
        self.recents = recents
        votes = try f[3].list("votes").map { (item) throws(ChainError) -> Vote in
            let v = try item.list("vote")
            guard v.count == 4 else { throw ChainError(.invalidRLP, "Clique snapshot vote: expected 4 fields") }
            return Vote(
                signer: try v[0].address(),
                block: try v[1].uint64(),
                candidate: try v[2].address(),
                authorize: try v[3].uint64() == 1
            )
        }
    }
}
