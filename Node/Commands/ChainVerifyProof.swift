import ArgumentParser
import ChainCore
import Foundation
import PlaneProtocol

/// `delong chain verify-proof --proof FILE --state-root 0x…`
struct ChainVerifyProofCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-proof",
        abstract: "Verify an eth_getProof (EIP-1186) response against a state root you trust.",
        discussion: """
            PROOF holds the JSON result of eth_getProof (a whole JSON-RPC response is accepted too). Checks \
            the account proof against STATE_ROOT and each storage proof against the proven storage root, \
            including proofs of absence. Exit codes: 0 all valid, 1 something invalid, 2 malformed input, \
            3 unreadable file.
            """
    )

    @Option(help: "eth_getProof JSON result.") var proof: String
    @Option(help: "Trusted state root: 0x followed by 64 hex digits.") var stateRoot: String

    func validate() throws {
        guard (try? Hash32(hex: stateRoot)) != nil else {
            throw ValidationError(
                "--state-root: expected 0x followed by 64 hex digits, found \"\(stateRoot.prefix(70))\""
            )
        }
    }

    func run() throws {
        let root = try Hash32(hex: stateRoot)
        let verdict = try CLIFailure.reporting("proof file \(proof)") { () throws -> AccountProofVerdict in
            let data = try InputFile.read(proof, what: "proof")
            guard let object = try InputFile.json(data, path: proof, what: "proof") as? [String: Any] else {
                throw CLIFailure.malformed("proof file \(proof): expected a JSON object (eth_getProof result)")
            }
            return try UnverifiedAccountProof(json: object).verify(stateRoot: root)
        }
        let slots = verdict.slots.map { slot -> JSONOutput in
            .object([
                ("key", .string(slot.key.hex)),
                ("value", .string(slot.claimedValue.quantity)),
                ("valid", .bool(slot.valid)),
                ("reason", .optional(slot.reason)),
            ])
        }
        let output = JSONOutput.object([
            ("address", .string(verdict.address.checksummed)),
            ("stateRoot", .string(root.hex)),
            (
                "account",
                .object([
                    ("valid", .bool(verdict.accountValid)),
                    ("exists", .bool(verdict.accountExists)),
                    ("reason", .optional(verdict.accountReason)),
                ])
            ),
            ("storage", .array(slots)),
            ("valid", .bool(verdict.valid)),
        ])
        print(output.rendered())
        if !verdict.valid { throw ExitCode(ExitCodes.verificationFailed) }
    }
}
