// The light client's pure verification step: from headers and receipts as an endpoint served them to blocks
// the index may apply. No I/O, no clock: the syncer fetches, this module decides, the index applies.

/// A block the verifier accepted: its header hashes to its hash, links to the verified parent, passed the
/// header checks (and the seal, when one is checked), and — when its bloom may hold a watched address — its
/// receipts match its receiptsRoot. Only `ChainVerifier` builds one (the init is internal to ChainCore), so
/// whatever takes a `VerifiedBlock` (`ChainIndex.apply`) takes verified data only.
public struct VerifiedBlock: Sendable {
    public let header: Header
    /// keccak256(rlp(header)), computed here.
    public let hash: Hash32
    /// The block's receipts, checked against receiptsRoot; nil when the bloom rules out every watched address
    /// (blooms have no false negatives, so such a block holds no log of theirs).
    public let receipts: [Receipt]?
    /// The seal checker's state after this block (Clique: `CliqueSnapshot.encoded`), nil when no seal is checked.
    public let consensusState: [UInt8]?

    public var number: UInt64 { header.number }
    public var parentHash: Hash32 { header.parentHash }
    public var timestamp: UInt64 { header.timestamp }

    init(header: Header, hash: Hash32, receipts: [Receipt]?, consensusState: [UInt8]?) {
        self.header = header
        self.hash = hash
        self.receipts = receipts
        self.consensusState = consensusState
    }
}

/// Why the verifier refused a block: which block, which field, what was expected, what was found.
public struct BlockRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public let blockNumber: UInt64
    public let field: String
    public let expected: String
    public let found: String

    public init(blockNumber: UInt64, field: String, expected: String, found: String) {
        self.blockNumber = blockNumber
        self.field = field
        self.expected = expected
        self.found = found
    }

    init(_ blockNumber: UInt64, _ failure: HeaderCheckFailure) {
        self.init(blockNumber: blockNumber, field: failure.field, expected: failure.expected, found: failure.found)
    }

    public var description: String { "block \(blockNumber): \(field): expected \(expected), found \(found)" }
}

/// A header as an endpoint served it, with the hash the endpoint claims for it (nil when it claims none).
public struct ServedHeader: Sendable {
    public var header: Header
    public var claimedHash: Hash32?

    public init(header: Header, claimedHash: Hash32?) {
        self.header = header
        self.claimedHash = claimedHash
    }
}

/// A run of headers that passed every header-only check, waiting for the receipts their blooms call for.
/// Built only by `ChainVerifier.link`; `ChainVerifier.verify` turns it into `VerifiedBlock`s.
public struct LinkedHeaders: Sendable {
    public let headers: [Header]
    /// keccak256(rlp(header)) of each header, in order.
    public let hashes: [Hash32]
    /// The numbers of the blocks whose bloom may hold a watched address: their receipts must be fetched.
    public let receiptsNeeded: [UInt64]
    /// The seal checker's state after the last header (nil when no seal is checked).
    public let seal: CliqueSnapshot?
    let consensusStates: [[UInt8]?]
}

/// The pure verification of a run of blocks that continues a verified parent.
public struct ChainVerifier: Sendable {
    /// Header rules to check against the parent; nil recognises the fork from the headers (see `HeaderChecks`).
    public var spec: ChainSpec?
    /// The addresses whose logs are wanted: a block's receipts are checked (and returned) only when its
    /// bloom may contain one of them.
    public let watched: [Address]

    /// The three bloom bits of each watched address, as (byte index, mask): computed once, not per block.
    private let watchedBits: [[(index: Int, mask: UInt8)]]

    public init(spec: ChainSpec?, watched: [Address]) {
        self.spec = spec
        self.watched = watched
        watchedBits = watched.map { address in
            var one = Bloom()
            one.insert(address.bytes)
            return one.bytes.enumerated().filter { $0.element != 0 }.map { (index: $0.offset, mask: $0.element) }
        }
    }

    /// Checks `served` (blocks `parent.number + 1`, `+ 2`, … in order) header by header: the number, the claimed
    /// hash against keccak256(rlp(header)), the link to the parent, the header rules against the parent (when
    /// the parent header is known) and the seal (when `seal` is given). Stops at the first failure.
    public func link(
        _ served: [ServedHeader],
        parent: (header: Header?, hash: Hash32, number: UInt64),
        seal: CliqueSnapshot?
    ) throws(BlockRejection) -> LinkedHeaders {
        var headers: [Header] = []
        var hashes: [Hash32] = []
        var needed: [UInt64] = []
        var states: [[UInt8]?] = []
        headers.reserveCapacity(served.count)
        hashes.reserveCapacity(served.count)
        states.reserveCapacity(served.count)
        var parentHeader = parent.header
        var parentHash = parent.hash
        var expectedNumber = parent.number &+ 1
        var snapshot = seal
        for s in served {
            let header = s.header
            guard header.number == expectedNumber else {
                throw BlockRejection(
                    blockNumber: expectedNumber,
                    field: "number",
                    expected: "\(expectedNumber)",
                    found: "\(header.number)"
                )
            }
            let hash = header.hash
            if let claimed = s.claimedHash, claimed != hash {
                throw BlockRejection(
                    blockNumber: header.number,
                    field: "hash",
                    expected: "keccak(rlp(header)) = \(hash.hex)",
                    found: claimed.hex
                )
            }
            guard header.parentHash == parentHash else {
                throw BlockRejection(
                    blockNumber: header.number,
                    field: "parentHash",
                    expected: parentHash.hex,
                    found: header.parentHash.hex
                )
            }
            if let parentHeader,
                let f = HeaderChecks.check(header, parent: parentHeader, parentHash: parentHash, spec: spec).first
            {
                throw BlockRejection(header.number, f)
            }
            if var current = snapshot {
                if let f = current.apply(header).first { throw BlockRejection(header.number, f) }
                states.append(current.encoded)
                snapshot = current
            } else {
                states.append(nil)
            }
            if mayHaveLogs(header.logsBloom) { needed.append(header.number) }
            headers.append(header)
            hashes.append(hash)
            parentHeader = header
            parentHash = hash
            expectedNumber &+= 1
        }
        return LinkedHeaders(
            headers: headers,
            hashes: hashes,
            receiptsNeeded: needed,
            seal: snapshot,
            consensusStates: states
        )
    }

    /// Whether a bloom may contain one of the watched addresses.
    public func mayHaveLogs(_ bloom: Bloom) -> Bool {
        let bytes = bloom.bytes
        return watchedBits.contains { bits in bits.allSatisfy { bytes[$0.index] & $0.mask == $0.mask } }
    }

    /// Checks the receipts of every block in `linked.receiptsNeeded` against its receiptsRoot and returns the
    /// verified blocks. Receipts of other blocks are ignored; a needed block without receipts is refused.
    public func verify(
        _ linked: LinkedHeaders,
        receipts: [UInt64: [Receipt]]
    ) throws(BlockRejection) -> [VerifiedBlock] {
        var out: [VerifiedBlock] = []
        out.reserveCapacity(linked.headers.count)
        var needed = linked.receiptsNeeded[...]
        for (i, header) in linked.headers.enumerated() {
            var list: [Receipt]? = nil
            if needed.first == header.number {
                needed.removeFirst()
                guard let served = receipts[header.number] else {
                    throw BlockRejection(
                        blockNumber: header.number,
                        field: "receipts",
                        expected: "the receipts of a block whose bloom may hold a watched address",
                        found: "none"
                    )
                }
                let root = Receipts.root(served)
                guard root == header.receiptsRoot else {
                    throw BlockRejection(
                        blockNumber: header.number,
                        field: "receiptsRoot",
                        expected: header.receiptsRoot.hex,
                        found: "\(root.hex) from the receipts served"
                    )
                }
                list = served
            }
            out.append(
                VerifiedBlock(
                    header: header,
                    hash: linked.hashes[i],
                    receipts: list,
                    consensusState: linked.consensusStates[i]
                )
            )
        }
        return out
    }
}
