/// A validator withdrawal (EIP-4895).
public struct Withdrawal: Hashable, Sendable {
    public var index: UInt64
    public var validatorIndex: UInt64
    public var address: Address
    /// In gwei.
    public var amount: UInt64

    public init(index: UInt64, validatorIndex: UInt64, address: Address, amount: UInt64) {
        self.index = index
        self.validatorIndex = validatorIndex
        self.address = address
        self.amount = amount
    }

    public var encoded: [UInt8] {
        RLPItem.list([.uint(index), .uint(validatorIndex), .address(address), .uint(amount)]).encoded
    }

    init(rlp: RLPItem) throws(ChainError) {
        let f = try rlp.list("withdrawal")
        guard f.count == 4 else { throw ChainError(.invalidBlock, "withdrawal: expected 4 fields, found \(f.count)") }
        self.init(
            index: try f[0].uint64("withdrawal index"),
            validatorIndex: try f[1].uint64("validatorIndex"),
            address: try f[2].address("withdrawal address"),
            amount: try f[3].uint64("withdrawal amount")
        )
    }
}

/// A whole block: header, transactions, ommers and (from Shanghai) withdrawals.
public struct Block: Hashable, Sendable {
    public var header: Header
    public var transactions: [Transaction]
    public var ommers: [Header]
    public var withdrawals: [Withdrawal]?

    public init(header: Header, transactions: [Transaction], ommers: [Header], withdrawals: [Withdrawal]?) {
        self.header = header
        self.transactions = transactions
        self.ommers = ommers
        self.withdrawals = withdrawals
    }

    /// Decodes rlp([header, transactions, ommers, withdrawals?]) as debug_getRawBlock returns it.
    public init(encoded: [UInt8]) throws(ChainError) {
        try self.init(rlp: RLPItem.decode(encoded))
    }

    /// Decodes a block from its RLP list.
    public init(rlp: RLPItem) throws(ChainError) {
        let f = try rlp.list("block")
        guard f.count == 3 || f.count == 4 else {
            throw ChainError(
                .invalidBlock,
                "expected 3 or 4 block fields (header, transactions, ommers, withdrawals), found \(f.count)"
            )
        }
        let header = try Header(rlp: f[0])
        var txs: [Transaction] = []
        for (i, item) in try f[1].list("transactions").enumerated() {
            do { txs.append(try Transaction(blockItem: item)) } catch { throw error.within("transaction \(i)") }
        }
        let ommers = try f[2].list("ommers").map { (o: RLPItem) throws(ChainError) -> Header in try Header(rlp: o) }
        let withdrawals =
            f.count == 4
            ? try f[3].list("withdrawals").map { (w: RLPItem) throws(ChainError) -> Withdrawal in try Withdrawal(rlp: w)
            } : nil
        guard (withdrawals == nil) == (header.withdrawalsRoot == nil) else {
            throw ChainError(
                .invalidBlock,
                "withdrawals list and header withdrawalsRoot must be both present or both absent"
            )
        }
        self.init(header: header, transactions: txs, ommers: ommers, withdrawals: withdrawals)
    }

    /// Recomputed commitments of the body, to compare with the header.
    public var computedTransactionsRoot: Hash32 { Trie.orderedRoot(transactions.map(\.encoded)) }
    public var computedOmmersHash: Hash32 { Keccak256.hash(RLPItem.list(ommers.map(\.rlp)).encoded) }
    public var computedWithdrawalsRoot: Hash32? { withdrawals.map { Trie.orderedRoot($0.map(\.encoded)) } }
}

/// Commitments computed from receipts.
public enum Receipts {
    /// The receipts trie root.
    public static func root(_ receipts: [Receipt]) -> Hash32 { Trie.orderedRoot(receipts.map(\.encoded)) }
    /// The block bloom: the union of every receipt's logs.
    public static func bloom(_ receipts: [Receipt]) -> Bloom {
        var bloom = Bloom()
        for r in receipts { bloom.formUnion(Bloom(logs: r.logs)) }
        return bloom
    }
}
