import ChainCore
import ChainRecords
import Foundation
import LightClient
import Logging

/// A synthetic chain whose headers hash and link like real ones and whose receiptsRoot commits to its
/// receipts; served as JSON-RPC results by `FakeEndpoint`.
struct FixtureChain: Sendable {
    var headers: [Header]
    var receipts: [UInt64: [Receipt]] = [:]

    static let contracts = DeLongContracts(
        dataMarket: try! Address(hex: "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        algorithmRegistry: try! Address(hex: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
    )

    init() {
        headers = [Self.header(number: 0, parent: .zero, salt: "genesis", receipts: [])]
    }

    var head: Header { headers[headers.count - 1] }

    /// Adds `count` blocks; `logs[n]` become one receipt of block n. `salt` makes a branch's blocks its own.
    mutating func extend(_ count: Int, logs: [UInt64: [Log]] = [:], salt: String = "a") {
        for _ in 0..<count {
            let n = head.number + 1
            let list = logs[n].map { [Self.receipt($0)] } ?? []
            if !list.isEmpty { receipts[n] = list }
            headers.append(Self.header(number: n, parent: head.hash, salt: salt, receipts: list))
        }
    }

    /// The chain up to block `number` (inclusive), to grow another branch from.
    func prefix(through number: UInt64) -> FixtureChain {
        var c = self
        c.headers = Array(headers.prefix(Int(number) + 1))
        c.receipts = receipts.filter { $0.key <= number }
        return c
    }

    static func header(number: UInt64, parent: Hash32, salt: String, receipts: [Receipt]) -> Header {
        Header(
            parentHash: parent,
            ommersHash: .emptyListHash,
            beneficiary: .zero,
            stateRoot: Keccak256.hash(utf8: "\(salt)/\(number)"),
            transactionsRoot: .emptyListHash,
            receiptsRoot: Receipts.root(receipts),
            logsBloom: Bloom(logs: receipts.flatMap(\.logs)),
            difficulty: 1,
            number: number,
            gasLimit: 30_000_000,
            gasUsed: 0,
            timestamp: 1_700_000_000 + number * 12,
            extraData: [],
            mixHash: .zero,
            nonce: [UInt8](repeating: 0, count: 8)
        )
    }

    static func receipt(_ logs: [Log]) -> Receipt {
        Receipt(type: 0, outcome: .status(true), cumulativeGasUsed: 21_000, logsBloom: Bloom(logs: logs), logs: logs)
    }

    /// A DatasetRegistered log of DataMarket for `dataset`.
    static func registration(_ dataset: Hash32, locator: String = "s3://sample") -> Log {
        let event = DeLongContracts.dataMarketEvents[0]
        let provider = Address.zero
        return Log(
            address: contracts.dataMarket,
            topics: [event.topic, dataset, try! Hash32([UInt8](repeating: 0, count: 12) + provider.bytes)],
            data: try! ABI.encode(
                [.fixedBytes(32), .uint(256), .string, .string],
                [.fixedBytes(Keccak256.hash(utf8: "m").bytes), .uint(7), .string(locator), .string("meta")]
            )
        )
    }

    // MARK: JSON-RPC forms

    static func quantity(_ n: UInt64) -> String { "0x" + String(n, radix: 16) }

    static func json(_ h: Header) -> [String: Any] {
        [
            "parentHash": h.parentHash.hex, "sha3Uncles": h.ommersHash.hex, "miner": h.beneficiary.hex,
            "stateRoot": h.stateRoot.hex, "transactionsRoot": h.transactionsRoot.hex,
            "receiptsRoot": h.receiptsRoot.hex, "logsBloom": Hex.encode(h.logsBloom.bytes),
            "difficulty": "0x1", "number": quantity(h.number), "gasLimit": quantity(h.gasLimit),
            "gasUsed": quantity(h.gasUsed), "timestamp": quantity(h.timestamp), "extraData": Hex.encode(h.extraData),
            "mixHash": h.mixHash.hex, "nonce": Hex.encode(h.nonce), "hash": h.hash.hex,
        ]
    }

    static func json(_ r: Receipt) -> [String: Any] {
        [
            "type": "0x0", "status": "0x1", "cumulativeGasUsed": quantity(r.cumulativeGasUsed),
            "logsBloom": Hex.encode(r.logsBloom.bytes),
            "logs": r.logs.map {
                ["address": $0.address.hex, "topics": $0.topics.map(\.hex), "data": Hex.encode($0.data)]
            },
        ]
    }
}

/// One endpoint serving a `FixtureChain` in process, with hooks to tamper with its answers.
final class FakeEndpoint: RPCTransport, @unchecked Sendable {
    let endpoint: String
    private let lock = NSLock()
    private var _chain: FixtureChain
    /// Rewrites the block object served for a number (nil: serve none).
    private var _block: (@Sendable (UInt64, [String: Any]) -> [String: Any]?)? = nil
    private var _receiptsServed: [UInt64] = []

    init(_ name: String, chain: FixtureChain) {
        endpoint = "http://\(name).invalid:8545"
        _chain = chain
    }

    var chain: FixtureChain {
        get { lock.withLock { _chain } }
        set { lock.withLock { _chain = newValue } }
    }
    var tamperBlock: (@Sendable (UInt64, [String: Any]) -> [String: Any]?)? {
        get { lock.withLock { _block } }
        set { lock.withLock { _block = newValue } }
    }
    /// Block numbers whose receipts were requested, in order.
    var receiptsServed: [UInt64] { lock.withLock { _receiptsServed } }

    func call(_ request: RPCRequest, logger: Logger) async throws -> Any { answer(request) }
    func batch(_ requests: [RPCRequest], logger: Logger) async throws -> [Any] { requests.map(answer) }

    private func answer(_ request: RPCRequest) -> Any {
        let chain = self.chain
        let params = (try? JSONSerialization.jsonObject(with: Data(request.params.utf8))) as? [Any] ?? []
        let number = (params.first as? String).flatMap { try? Hex.decodeUInt64($0) }
        switch request.method {
        case "eth_blockNumber":
            return FixtureChain.quantity(chain.head.number)
        case "eth_chainId":
            return "0x7a69"
        case "eth_getBlockByNumber":
            guard let number, number < UInt64(chain.headers.count) else { return NSNull() }
            let object = FixtureChain.json(chain.headers[Int(number)])
            guard let tamper = tamperBlock else { return object }
            return tamper(number, object) ?? NSNull()
        case "eth_getBlockReceipts":
            guard let number else { return NSNull() }
            lock.withLock { _receiptsServed.append(number) }
            return (chain.receipts[number] ?? []).map(FixtureChain.json)
        default:
            return NSNull()
        }
    }
}
