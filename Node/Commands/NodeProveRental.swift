import ArgumentParser
import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import LightClient
import Logging
import PlaneProtocol

/// `delong node prove-rental --rpc URL --dataset 0x… --consumer 0x…`
struct NodeProveRentalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove-rental",
        abstract:
            "Read a rental from DataMarket's storage with eth_getProof, proven against the index head's state root.",
        discussion: """
            A point read that trusts no endpoint: the endpoint's header at the index head must hash to the \
            head the index verified, and the storage proof must verify against its state root. Prints the \
            proven rental beside the index's record. Exit codes: 0 proven (and agreeing with the index), \
            1 refused or disagreeing, 2 malformed answer, 3 unreachable endpoint or no index.
            """
    )

    @Option(help: "JSON-RPC endpoints, comma-separated.") var rpc: String
    @OptionGroup var index: IndexOptions
    @Option(help: "Dataset id (0x + 64 hex digits).") var dataset: String
    @Option(help: "Consumer address.") var consumer: String

    func validate() throws {
        if (try? Hash32(hex: dataset)) == nil {
            throw ValidationError("--dataset: expected 0x followed by 64 hex digits")
        }
        if (try? Address(hex: consumer)) == nil {
            throw ValidationError("--consumer: expected 0x followed by 40 hex digits")
        }
    }

    func run() async throws {
        var logger = Logger(label: "delong.node.prove")
        logger.logLevel = .warning
        let chainIndex = try IndexCommand.open(index)
        let pool = EndpointPool(endpoints: rpc.split(separator: ",").map(String.init), logger: logger)
        let syncer = Syncer(rpc: pool, index: chainIndex, spec: nil, logger: logger)
        let (id, address) = (try Hash32(hex: dataset), try Address(hex: consumer))
        let proven = try await SyncOptions.reportingFailures(indexDirectory: index.dataDir) {
            try await syncer.proveRental(dataset: id, consumer: address)
        }
        let record = try chainIndex.rental(dataset: id, consumer: address)
        let agrees =
            record.map { $0.expiresAtExact == proven.expiresAt && $0.startedAtExact == proven.startedAt }
            ?? (proven.startedAt.isZero && proven.expiresAt.isZero)
        print(
            JSONOutput.object([
                ("dataset", .string(id.hex)), ("consumer", .string(address.checksummed)),
                ("block", .object([("number", .int(proven.block.number)), ("hash", .string(proven.block.hash.hex))])),
                (
                    "proven",
                    .object([
                        ("startedAt", .string("\(proven.startedAt)")), ("expiresAt", .string("\(proven.expiresAt)")),
                        ("escrow", .string("\(proven.escrow)")), ("settledAt", .string("\(proven.settledAt)")),
                    ])
                ),
                (
                    "indexed",
                    record.map { .object([("startedAt", .int($0.startedAt)), ("expiresAt", .int($0.expiresAt))]) }
                        ?? .null
                ),
                ("agreesWithIndex", .bool(agrees)),
            ]).rendered()
        )
        if !agrees { throw ExitCode(ExitCodes.verificationFailed) }
    }
}
