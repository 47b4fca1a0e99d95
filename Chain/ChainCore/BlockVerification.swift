/// A block as a source presented it (JSON-RPC object or raw RLP): the header plus whatever body was given.
/// Nothing in it is trusted until `verify` has compared the body's commitments with the header.
public struct UnverifiedBlock: Sendable {
    public var header: Header
    /// The hash the source claims (JSON input only).
    public var claimedHash: Hash32?
    /// Full transactions, when the source gave them (nil for a hashes-only block).
    public var transactions: [Transaction]?
    /// Transaction hashes as the source claims them, in block order (full-transaction JSON only).
    public var claimedTransactionHashes: [Hash32?]
    public var withdrawals: [Withdrawal]?
    /// Ommer headers (raw RLP only; JSON gives only their hashes).
    public var ommers: [Header]?

    /// From an eth_getBlockByNumber/ByHash result object.
    public init(json o: RPCJSON.Object) throws(ChainError) {
        header = try RPCJSON.header(o)
        claimedHash = try (o["hash"] as? String).map { (s: String) throws(ChainError) -> Hash32 in try Hash32(hex: s) }
        claimedTransactionHashes = []
        if let txs = o["transactions"] as? [Any] {
            if txs.isEmpty {
                transactions = []
            } else if let objects = txs as? [[String: Any]] {
                var decoded: [Transaction] = []
                for (i, tx) in objects.enumerated() {
                    do throws(ChainError) { decoded.append(try RPCJSON.transaction(tx)) } catch {
                        throw error.within("transactions[\(i)]")
                    }
                    claimedTransactionHashes.append((tx["hash"] as? String).flatMap { try? Hash32(hex: $0) })
                }
                transactions = decoded
            }
        }
        if let ws = o["withdrawals"] as? [Any] {
            withdrawals = try ws.enumerated().map { (i, w) throws(ChainError) -> Withdrawal in
                do throws(ChainError) { return try RPCJSON.withdrawal(RPCJSON.object(w, "withdrawal")) } catch {
                    throw error.within("withdrawals[\(i)]")
                }
            }
        }
    }

    /// From a decoded raw block (debug_getRawBlock).
    public init(_ block: Block) {
        header = block.header
        transactions = block.transactions
        claimedTransactionHashes = []
        withdrawals = block.withdrawals
        ommers = block.ommers
    }

    /// Recomputes the hash and every commitment the input allows and compares them with the header.
    /// With `receipts`, also the receipts root and the logs bloom.
    public func verify(receipts: [Receipt]? = nil) -> BlockVerdict {
        var commitments: [BlockVerdict.Commitment] = []
        let txNote =
            transactions == nil ? "transaction hashes only; full transactions are needed to check this root" : nil
        commitments.append(
            .init(
                name: "transactionsRoot",
                header: header.transactionsRoot.hex,
                computed: transactions.map { Trie.orderedRoot($0.map(\.encoded)).hex },
                note: txNote
            )
        )
        if let root = header.withdrawalsRoot {
            commitments.append(
                .init(
                    name: "withdrawalsRoot",
                    header: root.hex,
                    computed: withdrawals.map { Trie.orderedRoot($0.map(\.encoded)).hex },
                    note: withdrawals == nil ? "no withdrawals given" : nil
                )
            )
        }
        if let ommers {
            commitments.append(
                .init(
                    name: "ommersHash",
                    header: header.ommersHash.hex,
                    computed: Keccak256.hash(RLPItem.list(ommers.map(\.rlp)).encoded).hex,
                    note: nil
                )
            )
        }
        let receiptNote = receipts == nil ? "no receipts given" : nil
        commitments.append(
            .init(
                name: "receiptsRoot",
                header: header.receiptsRoot.hex,
                computed: receipts.map { Receipts.root($0).hex },
                note: receiptNote
            )
        )
        commitments.append(
            .init(
                name: "logsBloom",
                header: header.logsBloom.bytes.hex,
                computed: receipts.map { Receipts.bloom($0).bytes.hex },
                note: receiptNote
            )
        )
        var mismatched: [Int] = []
        if let transactions {
            for (i, (tx, claimed)) in zip(transactions, claimedTransactionHashes).enumerated()
            where claimed != nil && claimed != tx.hash {
                mismatched.append(i)
            }
        }
        return BlockVerdict(
            header: header,
            computedHash: header.hash,
            claimedHash: claimedHash,
            commitments: commitments,
            transactionHashMismatches: mismatched,
            receiptCount: receipts?.count
        )
    }
}

/// What `UnverifiedBlock.verify` found, commitment by commitment.
public struct BlockVerdict: Sendable {
    /// One recomputed commitment beside the header's value.
    public struct Commitment: Sendable {
        public let name: String
        public let header: String
        /// Nil when the input does not allow recomputing it; `note` says why.
        public let computed: String?
        public let note: String?
        /// Nil when it could not be checked.
        public var matches: Bool? { computed.map { $0 == header } }
    }

    public let header: Header
    public let computedHash: Hash32
    public let claimedHash: Hash32?
    public let commitments: [Commitment]
    /// Indices of transactions whose claimed hash differs from the hash of their fields.
    public let transactionHashMismatches: [Int]
    public let receiptCount: Int?

    /// Nil when no hash was claimed.
    public var hashMatches: Bool? { claimedHash.map { $0 == computedHash } }

    /// True when nothing checked disagrees (unchecked commitments do not count against it).
    public var valid: Bool {
        hashMatches != false && transactionHashMismatches.isEmpty && commitments.allSatisfy { $0.matches != false }
    }

    /// The commitments that were checked and disagree.
    public var mismatches: [String] {
        var out = commitments.filter { $0.matches == false }.map {
            "\($0.name): header has \($0.header), computed \($0.computed ?? "-")"
        }
        if hashMatches == false { out.insert("hash: claimed \(claimedHash!.hex), computed \(computedHash.hex)", at: 0) }
        out += transactionHashMismatches.map { "transactions[\($0)]: claimed hash differs from the hash of its fields" }
        return out
    }
}
