import ArgumentParser

/// `delong auth …`: wallet sign-in (EIP-4361, SIWE).
struct AuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "Verify wallet sign-in messages (EIP-4361 Sign-In with Ethereum).",
        subcommands: [AuthVerifySIWECommand.self]
    )
}
