import ArgumentParser
import ChainCore
import Foundation
import PlaneProtocol
import PrivacyPlane

/// `delong auth verify-siwe --message FILE --signature 0x… [--at RFC3339] [--domain D]`
struct AuthVerifySIWECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-siwe",
        abstract: "Verify an EIP-4361 (Sign-In with Ethereum) message and its EIP-191 signature.",
        discussion: """
            MESSAGE holds the exact signed text (LF line ends, no trailing line break: the file's bytes are \
            what is verified). Checks the EIP-4361 grammar, the domain (with --domain), Expiration Time, \
            Not Before and Issued At against --at (default: now) with 60 s of clock skew, then recovers the \
            signer with secp256k1. Nonces are not checked for single use here (that needs the node's store). \
            EIP-1271 contract wallets are not supported yet. Prints {valid, address, reason}. Exit codes: \
            0 valid, 1 invalid (signature, time, domain), 2 malformed message, signature hex or option, \
            3 unreadable file.
            """
    )

    @Option(help: "File holding the exact signed message text.") var message: String
    @Option(help: "The 65-byte signature as 0x-prefixed hex (r ‖ s ‖ v).") var signature: String
    @Option(help: "Verify at this RFC 3339 instant instead of now.") var at: String?
    @Option(help: "The domain (RFC 3986 authority) the message must be for; unchecked when absent.")
    var domain: String?

    func run() throws {
        let (text, now, policy) = try CLIFailure.reporting("verify-siwe") {
            () throws -> ([UInt8], RFC3339Timestamp, SIWEPolicy) in
            let now: RFC3339Timestamp
            if let at {
                do throws(PrivacyPlaneError) { now = try RFC3339Timestamp(parsing: at) } catch {
                    throw CLIFailure.malformed("--at: \(error.reason)")
                }
            } else {
                now = Self.now()
            }
            let policy: SIWEPolicy
            do throws(PrivacyPlaneError) { policy = try SIWEPolicy(domain: domain) } catch {
                throw CLIFailure.malformed(error.reason)
            }
            return (Array(try InputFile.read(message, what: "message")), now, policy)
        }
        let verdict = SIWEVerifier(policy: policy).verify(messageText: text, signatureHex: signature, now: now)
        let claimed = (try? SIWEMessage(parsing: text))?.address
        let output: JSONOutput
        switch verdict {
        case .verified(let v):
            output = .object([
                ("valid", .bool(true)), ("address", .string(v.address.checksummed)), ("reason", .null),
            ])
        case .rejected(let failure):
            output = .object([
                ("valid", .bool(false)), ("address", .optional(claimed?.checksummed)),
                ("reason", .string(failure.reason)),
            ])
        }
        print(output.rendered())
        if let failure = verdict.failure {
            throw ExitCode(failure.isMalformed ? ExitCodes.malformedInput : ExitCodes.verificationFailed)
        }
    }

    /// The wall clock, read here in the command and nowhere in the library.
    static func now() -> RFC3339Timestamp {
        let interval = Date().timeIntervalSince1970
        let seconds = interval.rounded(.down)
        return RFC3339Timestamp(unixSeconds: Int64(seconds), nanoseconds: Int64((interval - seconds) * 1e9))
    }
}
