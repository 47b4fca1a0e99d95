import ArgumentParser
import ChainCore
import Foundation
import LightClient
import Logging
import PlaneProtocol

/// `delong chain verify-rpc --rpc URL [--from N] [--to M] [--account 0x…]`
struct ChainVerifyRPCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-rpc",
        abstract: "Fetch a range of blocks from a JSON-RPC endpoint and verify each one without trusting it.",
        discussion: """
            For every block in FROM…TO: the header hashes to the hash given and links to its parent, \
            and the transactions, withdrawals, receipts and logs bloom match the header's roots \
            (eth_getBlockByNumber with full transactions and eth_getBlockReceipts, one batch per block). \
            Each --account is then proven with eth_getProof against the last block's state root. Prints a \
            JSON summary. Exit codes: 0 all verified, 1 something did not verify, 2 a malformed answer, \
            3 the endpoint could not be reached.
            """
    )

    @Option(help: "JSON-RPC endpoint, e.g. http://127.0.0.1:8545.") var rpc: String
    @Option(help: "First block (default 0).") var from: UInt64 = 0
    @Option(help: "Last block (default: the endpoint's head).") var to: UInt64?
    @Option(help: "An account to prove against the last block's state root (repeatable).") var account: [String] = []
    @Option(help: "Seconds before one request is abandoned.") var timeout: Int64 = 15

    func validate() throws {
        guard rpc.hasPrefix("http://") || rpc.hasPrefix("https://") else {
            throw ValidationError("--rpc: expected an http:// or https:// URL, found \"\(rpc)\"")
        }
        for a in account where (try? Address(hex: a)) == nil {
            throw ValidationError("--account: expected 0x followed by 40 hex digits, found \"\(a)\"")
        }
        if let to, to < from { throw ValidationError("--to \(to) is below --from \(from)") }
    }

    func run() async throws {
        var logger = Logger(label: "delong.chain.verify-rpc")
        logger.logLevel = .warning
        let client = JSONRPCClient(endpoint: rpc, timeout: .seconds(timeout))
        let progress = CLIProgress.forCommand()
        let start = ContinuousClock.now
        var failures: [String] = []
        var transactions = 0
        var receipts = 0
        var verified = 0
        var last: Header? = nil
        var lastHash: Hash32? = nil
        let last_: UInt64
        do {
            if let to {
                last_ = to
            } else {
                guard let head = try await client.call(.blockNumber, logger: logger) as? String else {
                    throw CLIFailure.malformed("\(rpc): eth_blockNumber did not return a quantity")
                }
                last_ = try Hex.decodeUInt64(head)
            }
            for n in from...last_ {
                let results = try await client.batch([.blockByNumber(n), .blockReceipts(n)], logger: logger)
                guard let blockJSON = results[0] as? [String: Any] else {
                    throw CLIFailure.malformed("\(rpc): block \(n): eth_getBlockByNumber returned no block object")
                }
                guard let receiptsJSON = results[1] as? [[String: Any]] else {
                    throw CLIFailure.malformed("\(rpc): block \(n): eth_getBlockReceipts returned no array of receipts")
                }
                let (block, blockReceipts) = try Self.decode(blockJSON, receiptsJSON, context: "\(rpc): block \(n)")
                let verdict = block.verify(receipts: blockReceipts)
                if block.header.number != n {
                    failures.append("block \(n): the endpoint returned block \(block.header.number)")
                }
                failures += verdict.mismatches.map { "block \(n): \($0)" }
                if let lastHash, block.header.parentHash != lastHash {
                    failures.append(
                        "block \(n): parentHash \(block.header.parentHash.hex) does not link to block \(n - 1) (\(lastHash.hex))"
                    )
                }
                if blockReceipts.count != block.transactions?.count {
                    failures.append(
                        "block \(n): \(blockReceipts.count) receipts for \(block.transactions?.count ?? 0) transactions"
                    )
                }
                transactions += block.transactions?.count ?? 0
                receipts += blockReceipts.count
                verified += 1
                last = block.header
                lastHash = verdict.computedHash
                progress.update(
                    progress.blocks(
                        "verify-rpc",
                        at: n,
                        of: last_,
                        from: from,
                        extra: " · \(transactions) transactions · \(failures.count) failures"
                    )
                )
            }
            progress.clear()
        } catch let error as RPCError {
            progress.clear()
            FileHandle.standardError.write(Data("delong: \(error)\n".utf8))
            throw ExitCode(error.kind == .transport ? ExitCodes.ioError : ExitCodes.malformedInput)
        } catch let failure as CLIFailure {
            progress.clear()
            FileHandle.standardError.write(Data("delong: \(failure.message)\n".utf8))
            throw ExitCode(failure.exitCode)
        }

        var accounts: [JSONOutput] = []
        if let last, !account.isEmpty {
            for a in account {
                let proof: AccountProofVerdict
                do {
                    guard
                        let json = try await client.call(.proof(a, slots: [], block: last.number), logger: logger)
                            as? [String: Any]
                    else {
                        throw CLIFailure.malformed("\(rpc): eth_getProof for \(a) returned no object")
                    }
                    proof = try UnverifiedAccountProof(json: json).verify(stateRoot: last.stateRoot)
                } catch let error as ChainError {
                    FileHandle.standardError.write(
                        Data("delong: \(rpc): eth_getProof for \(a): \(error.reason)\n".utf8)
                    )
                    throw ExitCode(ExitCodes.malformedInput)
                }
                if !proof.valid { failures.append("account \(a): \(proof.accountReason ?? "invalid proof")") }
                accounts.append(
                    .object([
                        ("address", .string(proof.address.checksummed)), ("exists", .bool(proof.accountExists)),
                        ("valid", .bool(proof.valid)),
                    ])
                )
            }
        }
        let elapsed = ContinuousClock.now - start
        let seconds = elapsed.seconds
        let summary = JSONOutput.object([
            ("rpc", .string(rpc)),
            ("from", .int(from)),
            ("to", .int(last?.number ?? from)),
            ("blocks", .int(verified)),
            ("transactions", .int(transactions)),
            ("receipts", .int(receipts)),
            (
                "head",
                last.map { h in
                    JSONOutput.object([
                        ("number", .int(h.number)), ("hash", .string(lastHash!.hex)),
                        ("stateRoot", .string(h.stateRoot.hex)),
                    ])
                } ?? .null
            ),
            ("accounts", .array(accounts)),
            ("blocksPerSecond", .number(String(format: "%.1f", Double(verified) / max(seconds, 1e-9)))),
            ("failures", .array(failures.map(JSONOutput.string))),
            ("valid", .bool(failures.isEmpty)),
        ])
        print(summary.rendered())
        if !failures.isEmpty { throw ExitCode(ExitCodes.verificationFailed) }
    }
}

extension ChainVerifyRPCCommand {
    static func decode(
        _ block: [String: Any],
        _ receipts: [[String: Any]],
        context: String
    ) throws -> (UnverifiedBlock, [Receipt]) {
        do {
            return (try UnverifiedBlock(json: block), try receipts.map(RPCJSON.receipt))
        } catch {
            throw CLIFailure.malformed("\(context): \(error.reason)")
        }
    }
}
