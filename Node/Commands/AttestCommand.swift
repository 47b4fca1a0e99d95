import ArgumentParser

/// `delong attest …`: remote attestation evidence (Intel TDX DCAP quotes).
struct AttestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest",
        abstract: "Verify Intel TDX attestation quotes offline against Intel's DCAP collateral.",
        subcommands: [AttestVerifyCommand.self]
    )
}
