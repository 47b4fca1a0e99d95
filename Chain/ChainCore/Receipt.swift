/// A transaction receipt in consensus form: what receiptsRoot commits to.
public struct Receipt: Hashable, Sendable {
    /// How the receipt reports its outcome: the post-transaction state root before Byzantium (EIP-658),
    /// a status code after.
    public enum Outcome: Hashable, Sendable {
        case stateRoot(Hash32)
        case status(Bool)
    }

    public var type: UInt8
    public var outcome: Outcome
    public var cumulativeGasUsed: UInt64
    public var logsBloom: Bloom
    public var logs: [Log]

    public init(type: UInt8, outcome: Outcome, cumulativeGasUsed: UInt64, logsBloom: Bloom, logs: [Log]) {
        self.type = type
        self.outcome = outcome
        self.cumulativeGasUsed = cumulativeGasUsed
        self.logsBloom = logsBloom
        self.logs = logs
    }

    /// The consensus encoding: rlp(fields) for legacy, type ‖ rlp(fields) for typed receipts.
    public var encoded: [UInt8] { writeEncoding() }

    /// The same encoding built as RLP items (the reference `encoded` is checked against in tests).
    var itemEncoding: [UInt8] {
        let first: RLPItem
        switch outcome {
        case .stateRoot(let root): first = .hash(root)
        case .status(let ok): first = .uint(UInt64(ok ? 1 : 0))
        }
        let body = RLPItem.list([first, .uint(cumulativeGasUsed), .bytes(logsBloom.bytes), .list(logs.map(\.rlp))])
            .encoded
        return type == 0 ? body : [type] + body
    }

    /// Decodes the consensus encoding (as debug_getRawReceipts returns it).
    public init(encoded: [UInt8]) throws(ChainError) {
        guard let first = encoded.first else { throw ChainError(.invalidReceipt, "empty receipt encoding") }
        let type: UInt8
        let body: [UInt8]
        if first >= 0xC0 {
            type = 0
            body = encoded
        } else if (1...4).contains(first) {
            type = first
            body = Array(encoded.dropFirst())
        } else {
            throw ChainError(
                .invalidReceipt,
                "expected receipt type 1–4 or a legacy list, found first byte 0x\(String(first, radix: 16))"
            )
        }
        do throws(ChainError) {
            let f = try RLPItem.decode(body).list("receipt")
            guard f.count == 4 else { throw ChainError(.invalidReceipt, "expected 4 receipt fields, found \(f.count)") }
            let head = try f[0].bytes("status")
            let outcome: Outcome
            switch head.count {
            case 32: outcome = .stateRoot(try Hash32(head))
            case 0: outcome = .status(false)
            case 1 where head[0] == 1: outcome = .status(true)
            default:
                throw ChainError(
                    .invalidReceipt,
                    "expected a status of 0 or 1 or a 32-byte state root, found \(Hex.encode(head))"
                )
            }
            self.init(
                type: type,
                outcome: outcome,
                cumulativeGasUsed: try f[1].uint64("cumulativeGasUsed"),
                logsBloom: try Bloom(f[2].bytes("logsBloom")),
                logs: try f[3].list("logs").map { (l: RLPItem) throws(ChainError) -> Log in try Log(rlp: l) }
            )
        } catch {
            throw ChainError(.invalidReceipt, error.reason)
        }
    }
}
