import ArgumentParser

/// `delong chain …`: verify chain data with DeLong's own primitives.
struct ChainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chain",
        abstract: "Verify Ethereum blocks, receipts and state proofs without trusting their source.",
        subcommands: [ChainVerifyBlockCommand.self, ChainVerifyProofCommand.self, ChainVerifyRPCCommand.self]
    )
}
