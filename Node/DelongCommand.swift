import ArgumentParser

/// `delong`: the DeLong node and its tools.
@main
struct DelongCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delong",
        abstract: "DeLong: rent out sensitive data without exposing it.",
        discussion: """
            Verifies Ethereum data itself (no RPC is trusted), seals datasets, and serves them through a \
            read-only decrypting filesystem. Exit codes: 0 ok, 1 verification failed, 2 malformed input, \
            3 I/O error, 4 key refused, 5 system error.
            """,
        subcommands: [
            NodeCommand.self, IndexCommand.self, ChainCommand.self, AuthCommand.self, DatasetCommand.self,
            FSCommand.self, AttestCommand.self, PrivacyCommand.self, BundleCommand.self,
            SandboxCommand.self, SandboxExecCommand.self, RuntimeCommand.self, KeyCommand.self, ComputeCommand.self,
            JobCommand.self, ReviewCommand.self, GateCommand.self, ExploreCommand.self, AuditCommand.self,
            ServeCommand.self, AgentCommand.self, PayloadCommand.self,
        ]
    )
}
