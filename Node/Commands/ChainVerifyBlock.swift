import ArgumentParser
import ChainCore
import Foundation
import PlaneProtocol

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
    @Option(help: "Receipts file: eth_getBlockReceipts JSON or a JSON array of raw receipt hex strings.")
    var receipts: String?

    func run() throws {
        let verdict = try CLIFailure.reporting("block file \(block)") { () throws -> BlockVerdict in
            let unverified = try Self.block(path: block)
            let receiptList = try receipts.map { path in
                try CLIFailure.reporting("receipts file \(path)") { try Self.receipts(path: path) }
            }
            return unverified.verify(receipts: receiptList)
        }
        print(verdict.json.rendered())
        if !verdict.valid { throw ExitCode(ExitCodes.verificationFailed) }
    }

    static func block(path: String) throws -> UnverifiedBlock {
        let data = try InputFile.read(path, what: "block")
        let text = String(decoding: data.prefix(64), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("{") {
            guard let object = try InputFile.json(data, path: path, what: "block") as? [String: Any] else {
                throw CLIFailure.malformed("block file \(path): expected a JSON object (eth_getBlockByNumber result)")
            }
            return try UnverifiedBlock(json: object)
        }
        var hex = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if hex.hasPrefix("\"") && hex.hasSuffix("\"") && hex.count >= 2 { hex = String(hex.dropFirst().dropLast()) }
        guard hex.hasPrefix("0x") || hex.hasPrefix("0X") else {
            throw CLIFailure.malformed(
                "block file \(path): expected a JSON object or 0x-prefixed hex RLP, found \"\(hex.prefix(16))…\""
            )
        }
        return UnverifiedBlock(try Block(encoded: Hex.decode(hex)))
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

extension BlockVerdict {
    /// The verdict as verify-block prints it.
    var json: JSONOutput {
        var hash: [(String, JSONOutput)] = [("computed", .string(computedHash.hex))]
        if let claimedHash { hash += [("given", .string(claimedHash.hex)), ("matches", .optional(hashMatches))] }
        var fields: [(String, JSONOutput)] = [("number", .int(header.number)), ("hash", .object(hash))]
        let byName = Dictionary(commitments.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in ["transactionsRoot", "withdrawalsRoot", "receiptsRoot", "logsBloom", "ommersHash"] {
            guard let c = byName[name] else {
                if name == "withdrawalsRoot" { fields.append((name, .null)) }
                continue
            }
            var check: [(String, JSONOutput)] = [
                ("header", .string(c.header)), ("computed", .optional(c.computed)), ("matches", .optional(c.matches)),
            ]
            if let note = c.note { check.append(("note", .string(note))) }
            fields.append((name, .object(check)))
        }
        if !transactionHashMismatches.isEmpty {
            fields.append(("transactionHashMismatches", .array(transactionHashMismatches.map { .int($0) })))
        }
        if let receiptCount { fields.append(("receipts", .int(receiptCount))) }
        fields.append(("valid", .bool(valid)))
        return .object(fields)
    }
}
