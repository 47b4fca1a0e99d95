import ArgumentParser
import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import LightClient
import Logging
import PlaneProtocol

/// `delong node …`: the light-client node.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Sync and verify the chain into the local index; serve it.",
        subcommands: [NodeSyncCommand.self, NodeRunCommand.self, NodeProveRentalCommand.self]
    )
}

/// Options every index-reading or -writing command shares.
struct IndexOptions: ParsableArguments {
    @Option(help: "Directory of the LevelDB index.") var dataDir: String = ".delong/index"

    var indexPath: String { dataDir }
}

/// What the node syncs from and how it verifies (shared by `node sync` and `node run`).
struct SyncOptions: ParsableArguments {
    @Option(help: "JSON-RPC endpoints, comma-separated (http://127.0.0.1:8545,…); later ones take over when one fails.")
    var rpc: String
    @Option(help: "How many endpoints must serve the same hash for every block (k of n).") var quorum: Int = 1
    @Option(help: "Seconds before one request to an endpoint is abandoned.") var timeout: Int64 = 15
    @Option(help: "Deployment file written by contrib/contracts/deploy (contract addresses).") var contracts: String
    @Option(
        help:
            "Trusted checkpoint NUMBER:HASH (the devnet's genesis: 0:0x…); with --seal clique, a genesis or epoch header."
    )
    var checkpoint: String
    @OptionGroup var index: IndexOptions
    @Option(help: "Blocks below the head after which records are final and reorgs are refused.") var finality: UInt64 =
        12
    @Option(help: "geth genesis file whose config gives the fork and blob schedule (enables blob-gas checks).")
    var genesisConfig: String?
    @Option(help: "Blocks per JSON-RPC batch and per index write.") var batch: UInt64 = 64
    @Option(help: "Seal verification: none, or clique (signers from the checkpoint, then EIP-225 votes).") var seal:
        String =
            "none"
    @Option(help: "Clique epoch length: headers at multiples of it carry the signer list.") var cliqueEpoch: UInt64 =
        30000
    @Option(
        help:
            "Chain id of the chain to follow (default: the deployment file's chainId); every endpoint's eth_chainId must match."
    )
    var chainId: UInt64?
    @Flag(
        help:
            "Accept --seal none with a quorum of 1 on a chain other than the devnet (31337): the one endpoint is then trusted completely."
    )
    var trustSingleRpc = false

    /// The devnet's chain id (contrib/devnet): the only chain where one endpoint is trusted without the flag.
    static let devnetChainID: UInt64 = 31337

    func validate() throws {
        for url in endpoints where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("--rpc: expected http:// or https:// URLs, found \"\(url)\"")
        }
        guard quorum >= 1 && quorum <= endpoints.count else {
            throw ValidationError("--quorum \(quorum): expected 1…\(endpoints.count) (the number of --rpc endpoints)")
        }
        guard seal == "none" || seal == "clique" else {
            throw ValidationError("--seal: expected none or clique, found \"\(seal)\"")
        }
        guard (try? Self.parseCheckpoint(checkpoint)) != nil else {
            throw ValidationError("--checkpoint: expected NUMBER:0x followed by 64 hex digits, found \"\(checkpoint)\"")
        }
    }

    var endpoints: [String] {
        rpc.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func parseCheckpoint(_ text: String) throws -> IndexHead {
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let n = UInt64(parts[0]) else { throw ChainError(.invalidValue, "checkpoint") }
        return IndexHead(number: n, hash: try Hash32(hex: parts[1]))
    }

    /// Reads the deployment (and genesis) files, opens the index for this chain and builds the syncer.
    func makeSyncer(logger: Logger) async throws -> Syncer {
        let (deployment, spec, deploymentChainID) = try CLIFailure.reporting("deployment file \(contracts)") {
            () throws -> (DeLongContracts, ChainSpec?, Any?) in
            guard
                let json = try InputFile.json(
                    InputFile.read(contracts, what: "deployment"),
                    path: contracts,
                    what: "deployment"
                ) as? [String: Any]
            else {
                throw CLIFailure.malformed("deployment file \(contracts): expected a JSON object")
            }
            let spec = try genesisConfig.map { path -> ChainSpec in
                guard
                    let genesis = try InputFile.json(InputFile.read(path, what: "genesis"), path: path, what: "genesis")
                        as? [String: Any]
                else {
                    throw CLIFailure.malformed("genesis file \(path): expected a JSON object")
                }
                return try ChainSpec(gethConfig: genesis["config"] as? [String: Any] ?? [:])
            }
            return (try DeLongContracts(deploymentJSON: json), spec, json["chainId"])
        }
        let chainID = try configuredChainID(deploymentValue: deploymentChainID)
        try refuseSingleSourceTrust(chainID: chainID)
        let pool = EndpointPool(endpoints: endpoints, quorum: quorum, timeout: .seconds(timeout), logger: logger)
        try await checkChainIDs(chainID, logger: logger)
        let config = IndexConfig(
            chainID: chainID,
            contracts: deployment,
            checkpoint: try Self.parseCheckpoint(checkpoint),
            finalityDepth: finality
        )
        try FileManager.default.createDirectory(atPath: index.dataDir, withIntermediateDirectories: true)
        let chainIndex = try ChainIndex(path: index.indexPath, config: config)
        return Syncer(
            rpc: pool,
            index: chainIndex,
            spec: spec,
            seal: seal == "clique" ? .clique(epoch: cliqueEpoch) : .none,
            batchSize: batch,
            logger: logger
        )
    }

    /// The chain id from configuration: `--chain-id`, else the deployment file's `chainId` (never an endpoint's
    /// word: it feeds the token and sign-in domains).
    func configuredChainID(deploymentValue: Any?) throws -> UInt64 {
        if let chainId { return chainId }
        if let n = deploymentValue as? Int, n > 0 { return UInt64(n) }
        if let text = deploymentValue as? String, let n = try? Hex.decodeUInt64(text) { return n }
        FileHandle.standardError.write(
            Data(
                "delong: no chain id: expected --chain-id or a numeric \"chainId\" in the deployment file \(contracts), found \(deploymentValue.map { "\($0)" } ?? "none")\n"
                    .utf8
            )
        )
        throw ExitCode(ExitCodes.malformedInput)
    }

    /// With no seal check and no second endpoint, one RPC endpoint can invent blocks that link to the
    /// checkpoint, with any receipts: it decides the whole index. Refused except on the devnet or when asked.
    func refuseSingleSourceTrust(chainID: UInt64) throws {
        guard seal == "none", quorum < 2, chainID != Self.devnetChainID, !trustSingleRpc else { return }
        FileHandle.standardError.write(
            Data(
                """
                delong: refused: --seal none with --quorum \(quorum) on chain \(chainID) trusts one RPC endpoint \
                completely: it can invent blocks that link to the checkpoint, with any receipts and so any \
                records. Expected --seal clique (a Clique chain), or --quorum 2 or more with independent \
                --rpc endpoints; give --trust-single-rpc to accept the risk.

                """.utf8
            )
        )
        throw ExitCode(ExitCodes.malformedInput)
    }

    /// Every endpoint that answers must serve `chainID`; one that does not is refused (exit 1). Endpoints that
    /// give no JSON-RPC answer now are left to the pool's failover (and cannot link foreign blocks to the
    /// checkpoint); when none answers, the last error is thrown.
    func checkChainIDs(_ chainID: UInt64, logger: Logger) async throws {
        var answered = 0
        var lastError: RPCError? = nil
        for endpoint in endpoints {
            let client = JSONRPCClient(endpoint: endpoint, timeout: .seconds(timeout), retries: 1)
            let served: UInt64
            do {
                let value = try await client.call(.chainID, logger: logger)
                guard let text = value as? String, let n = try? Hex.decodeUInt64(text) else {
                    FileHandle.standardError.write(
                        Data(
                            "delong: endpoint \(EndpointName.redacted(endpoint)): eth_chainId: expected a hex quantity, found \(value)\n"
                                .utf8
                        )
                    )
                    throw ExitCode(ExitCodes.malformedInput)
                }
                served = n
            } catch let error as RPCError {
                // No answer (or no JSON-RPC one): the pool's failover demotes it when it is asked for blocks.
                logger.warning("endpoint gave no eth_chainId", metadata: ["error": "\(error)"])
                lastError = error
                continue
            }
            answered += 1
            guard served == chainID else {
                FileHandle.standardError.write(
                    Data(
                        "delong: refused endpoint \(EndpointName.redacted(endpoint)): eth_chainId: expected \(chainID) (configured), found \(served)\n"
                            .utf8
                    )
                )
                throw ExitCode(ExitCodes.verificationFailed)
            }
        }
        if answered == 0, let lastError { throw lastError }
    }

    /// Runs `body`, turning the light client's failures into a message and the right exit code.
    func reportingFailures<T>(_ body: () async throws -> T) async throws -> T {
        try await Self.reportingFailures(indexDirectory: index.dataDir, body)
    }

    /// The one place light-client failures become exit codes (sync, run, prove-rental).
    static func reportingFailures<T>(indexDirectory: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as SyncFailure {
            FileHandle.standardError.write(Data("delong: refused \(failure)\n".utf8))
            throw ExitCode(ExitCodes.verificationFailed)
        } catch let error as RPCError {
            FileHandle.standardError.write(Data("delong: \(error)\n".utf8))
            throw ExitCode(error.kind == .transport ? ExitCodes.ioError : ExitCodes.malformedInput)
        } catch let error as IndexError {
            FileHandle.standardError.write(Data("delong: index \(indexDirectory): \(error)\n".utf8))
            throw ExitCode(error.kind == .configMismatch ? ExitCodes.malformedInput : ExitCodes.ioError)
        }
    }

}

/// `delong node sync --rpc URL --contracts FILE --checkpoint NUMBER:HASH`
struct NodeSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Verify and index DeLong records up to the endpoint's current head, then exit.",
        discussion: """
            Trust starts at CHECKPOINT and moves forward only through headers that hash to what the endpoint \
            claims and link to their parent; receipts are fetched only for blocks whose logs bloom may hold a \
            DeLong event, and their trie root must equal the header's receiptsRoot. Each batch of blocks is \
            one atomic LevelDB write, so an interrupted sync resumes where it stopped. A reorg within the \
            finality depth is unwound. Exit codes: 0 synced, 1 a block did not verify, 2 malformed \
            input or answer, 3 unreachable endpoint or unreadable file.
            """
    )

    @OptionGroup var options: SyncOptions

    func run() async throws {
        var logger = Logger(label: "delong.node.sync")
        logger.logLevel = .warning
        let start = ContinuousClock.now
        try await options.reportingFailures {
            let syncer = try await options.makeSyncer(logger: logger)
            let from = try syncer.index.head()
            let progress = CLIProgress.forCommand()
            let syncing: @Sendable (SyncProgress) -> String = { p in
                progress.blocks(
                    "sync",
                    at: p.head.number,
                    of: p.target,
                    from: from.number,
                    extra: " · \(p.events) events · \(p.reorgs) reorgs"
                )
            }
            let result: SyncProgress
            do {
                result = try await syncer.sync { p in progress.update(syncing(p)) }
            } catch {
                progress.clear()
                throw error
            }
            progress.finish(syncing(result))
            let seconds = (ContinuousClock.now - start).seconds
            print(
                JSONOutput.object([
                    ("from", .int(from.number)),
                    ("head", .object([("number", .int(result.head.number)), ("hash", .string(result.head.hash.hex))])),
                    ("final", .int(try syncer.index.finalNumber())),
                    ("blocks", .int(result.blocks)),
                    ("receiptsFetched", .int(result.receiptsFetched)),
                    ("events", .int(result.events)),
                    ("reorgs", .int(result.reorgs)),
                    ("rpcRequests", .int(result.rpcRequests)),
                    ("rpcCalls", .int(result.rpcCalls)),
                    ("blocksPerSecond", .number(String(format: "%.1f", Double(result.blocks) / max(seconds, 1e-9)))),
                ]).rendered()
            )
        }
    }
}
