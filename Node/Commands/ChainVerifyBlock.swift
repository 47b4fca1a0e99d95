import ArgumentParser
import ChainCore
import Foundation

/// `delong chain verify-block --block FILE [--receipts FILE]`
struct ChainVerifyBlockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-block",
        abstract: "Recompute a block's hash and commitments and compare them with its header.",
        discussion: """
            BLOCK holds the JSON result of eth_getBlockByNumber/ByHash (transaction hashes or full \
            transactions; a whole JSON-RPC response is accepted too) or the hex RLP of a whole block as \
            debug_getRawBlock returns it. RECEIPTS holds the JSON result of eth_getBlockReceipts or a JSON \
            array of hex raw receipts (debug_getRawReceipts). Prints one JSON object; a value whose \
            "matches" is null could not be checked from the input (for example transaction hashes only). \
            Exit codes: 0 everything present matches, 1 a mismatch, 2 malformed input, 3 unreadable file.
            """
    )

    @Option(help: "Block file: eth_getBlockByNumber JSON or debug_getRawBlock hex RLP.") var block: String
    @Option(help: "Receipts file: eth_getBlockReceipts JSON or a JSON array of raw receipt hex strings.") var receipts:
        String?

    func run() throws {
        let report = try CLIFailure.reporting("block file \(block)") { () throws -> BlockReport in
            var report = try Self.blockReport(path: block)
            if let receipts {
                try CLIFailure.reporting("receipts file \(receipts)") {
                    try report.addReceipts(Self.receipts(path: receipts))
                }
            }
            return report
        }
        print(report.json.rendered())
        if !report.allMatch { throw ExitCode(ExitCodes.verificationFailed) }
    }

    static func blockReport(path: String) throws -> BlockReport {
        let data = try InputFile.read(path, what: "block")
        let text = String(decoding: data.prefix(64), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("{") {
            guard let object = try InputFile.json(data, path: path, what: "block") as? [String: Any] else {
                throw CLIFailure.malformed("block file \(path): expected a JSON object (eth_getBlockByNumber result)")
            }
            return try BlockReport(json: object)
        }
        var hex = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if hex.hasPrefix("\"") && hex.hasSuffix("\"") && hex.count >= 2 { hex = String(hex.dropFirst().dropLast()) }
        guard hex.hasPrefix("0x") || hex.hasPrefix("0X") else {
            throw CLIFailure.malformed(
                "block file \(path): expected a JSON object or 0x-prefixed hex RLP, found \"\(hex.prefix(16))…\""
            )
        }
        return try BlockReport(block: Block(encoded: Hex.decode(hex)))
    }

    static func receipts(path: String) throws -> [Receipt] {
        let data = try InputFile.read(path, what: "receipts")
        guard let items = try InputFile.json(data, path: path, what: "receipts") as? [Any] else {
            throw CLIFailure.malformed("receipts file \(path): expected a JSON array of receipt objects or hex strings")
        }
        return try items.enumerated().map { (i, item) throws -> Receipt in
            do {
                if let hex = item as? String { return try Receipt(encoded: Hex.decode(hex)) }
                if let object = item as? [String: Any] { return try RPCJSON.receipt(object) }
                throw ChainError(.invalidJSON, "expected a receipt object or hex string")
            } catch let error as ChainError {
                throw CLIFailure.malformed("receipts file \(path): receipt \(i): \(error.reason)")
            }
        }
    }
}

/// What verify-block found: each commitment recomputed beside the header's.
struct BlockReport {
    struct Check {
        var header: String
        var computed: String?
        var note: String?
        var matches: Bool? { computed.map { $0 == header } }

        var json: JSONOutput {
            var fields: [(String, JSONOutput)] = [
                ("header", .string(header)), ("computed", .optional(computed)), ("matches", .optional(matches)),
            ]
            if let note { fields.append(("note", .string(note))) }
            return .object(fields)
        }
    }

    var header: Header
    var givenHash: String?
    var transactionsRoot: Check
    var withdrawalsRoot: Check?
    var receiptsRoot: Check
    var logsBloom: Check
    var ommersHash: Check?
    /// Hashes of transactions whose given hash differs from the hash of their fields.
    var transactionHashMismatches: [String] = []
    var receiptCount: Int?

    init(json o: [String: Any]) throws {
        header = try RPCJSON.header(o)
        givenHash = o["hash"] as? String
        transactionsRoot = Check(header: header.transactionsRoot.hex)
        if let txs = o["transactions"] as? [Any] {
            if let objects = txs as? [[String: Any]] {
                var encoded: [[UInt8]] = []
                for (i, tx) in objects.enumerated() {
                    let decoded: Transaction
                    do throws(ChainError) { decoded = try RPCJSON.transaction(tx) } catch {
                        throw CLIFailure.malformed("block: transactions[\(i)]: \(error.reason)")
                    }
                    encoded.append(decoded.encoded)
                    if let given = tx["hash"] as? String, given.lowercased() != decoded.hash.hex {
                        transactionHashMismatches.append(given)
                    }
                }
                transactionsRoot.computed = Trie.orderedRoot(encoded).hex
            } else if txs.isEmpty {
                transactionsRoot.computed = Trie.orderedRoot([]).hex
            } else {
                transactionsRoot.note =
                    "the block lists transaction hashes only; fetch it with full transactions to check this root"
            }
        } else {
            transactionsRoot.note = "no transactions field"
        }
        if let root = header.withdrawalsRoot {
            var check = Check(header: root.hex)
            if let ws = o["withdrawals"] as? [[String: Any]] {
                let items = try ws.enumerated().map { (i, w) throws -> [UInt8] in
                    do throws(ChainError) { return try RPCJSON.withdrawal(w).encoded } catch {
                        throw CLIFailure.malformed("block: withdrawals[\(i)]: \(error.reason)")
                    }
                }
                check.computed = Trie.orderedRoot(items).hex
            } else {
                check.note = "no withdrawals field"
            }
            withdrawalsRoot = check
        }
        receiptsRoot = Check(header: header.receiptsRoot.hex, note: "no receipts file given")
        logsBloom = Check(header: header.logsBloom.bytes.hex, note: "no receipts file given")
    }

    init(block: Block) {
        header = block.header
        transactionsRoot = Check(header: header.transactionsRoot.hex, computed: block.computedTransactionsRoot.hex)
        withdrawalsRoot = header.withdrawalsRoot.map {
            Check(header: $0.hex, computed: block.computedWithdrawalsRoot?.hex)
        }
        ommersHash = Check(header: header.ommersHash.hex, computed: block.computedOmmersHash.hex)
        receiptsRoot = Check(header: header.receiptsRoot.hex, note: "no receipts file given")
        logsBloom = Check(header: header.logsBloom.bytes.hex, note: "no receipts file given")
    }

    mutating func addReceipts(_ receipts: [Receipt]) {
        receiptsRoot = Check(header: header.receiptsRoot.hex, computed: Receipts.root(receipts).hex)
        logsBloom = Check(header: header.logsBloom.bytes.hex, computed: Receipts.bloom(receipts).bytes.hex)
        receiptCount = receipts.count
    }

    var hashMatches: Bool? { givenHash.map { $0.lowercased() == header.hash.hex } }

    var allMatch: Bool {
        let checks = [transactionsRoot, receiptsRoot, logsBloom] + [withdrawalsRoot, ommersHash].compactMap { $0 }
        return hashMatches != false && transactionHashMismatches.isEmpty && checks.allSatisfy { $0.matches != false }
    }

    var json: JSONOutput {
        var hash: [(String, JSONOutput)] = [("computed", .string(header.hash.hex))]
        if let givenHash { hash += [("given", .string(givenHash)), ("matches", .optional(hashMatches))] }
        var fields: [(String, JSONOutput)] = [
            ("number", .int(header.number)),
            ("hash", .object(hash)),
            ("transactionsRoot", transactionsRoot.json),
            ("withdrawalsRoot", withdrawalsRoot?.json ?? .null),
            ("receiptsRoot", receiptsRoot.json),
            ("logsBloom", logsBloom.json),
        ]
        if let ommersHash { fields.append(("ommersHash", ommersHash.json)) }
        if !transactionHashMismatches.isEmpty {
            fields.append(("transactionHashMismatches", .array(transactionHashMismatches.map(JSONOutput.string))))
        }
        if let receiptCount { fields.append(("receipts", .int(receiptCount))) }
        fields.append(("valid", .bool(allMatch)))
        return .object(fields)
    }
}
