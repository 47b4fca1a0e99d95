import ArgumentParser
import CoreFoundation
import Foundation
import PlaneCrypto
import PlaneProtocol

/// `delong key …`: the consumer's age X25519 identity, the key released outputs are sealed to.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Create age X25519 identities and print their recipients.",
        subcommands: [KeyNewCommand.self, KeyRecipientCommand.self]
    )
}

/// `delong key new --out FILE [--json]`
struct KeyNewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Write a new age X25519 identity file (mode 0600) and print its recipient (age1…).",
        discussion: """
            The file has the form age-keygen writes (# created, # public key, AGE-SECRET-KEY-1…), so \
            `age -d -i FILE` reads it. FILE is created exclusively: an existing file is never overwritten \
            (exit 2). Give the printed recipient to `delong job submit --recipient`. Exit codes: 0 written, \
            2 FILE exists, 3 FILE cannot be created.
            """
    )

    @Option(help: "Identity file to create (must not exist).") var out: String
    @Flag(help: "Print {recipient, file} as JSON.") var json = false

    func run() throws {
        var st = stat()
        if lstat(out, &st) == 0 {
            throw ExitCodes.report(
                CLIFailure.malformed(
                    "key new: \(out) already exists; refusing to overwrite an identity (choose another --out)"
                )
            )
        }
        let identity: AgeIdentity
        do throws(PlaneCryptoError) { identity = try AgeIdentity.generate() } catch {
            throw ExitCodes.report(error, context: "key new")
        }
        let created = ISO8601DateFormatter().string(from: Date())
        do throws(PlaneCryptoError) {
            try SecretFile.write(identity.fileContents(created: created), to: out, exclusive: true)
        } catch {
            if lstat(out, &st) == 0 {  // created by someone else between the check and the exclusive create
                throw ExitCodes.report(CLIFailure.malformed("key new: \(out) already exists; refusing to overwrite"))
            }
            throw ExitCodes.report(CLIFailure.io("key new: \(error.reason)"))
        }
        if json {
            print(
                JSONOutput.object([("recipient", .string(identity.recipient.description)), ("file", .string(out))])
                    .rendered()
            )
        } else {
            print(identity.recipient.description)
        }
    }
}

/// `delong key recipient FILE [--json]`
struct KeyRecipientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipient",
        abstract: "Print the recipient (age1…) of each identity in an age identity file.",
        discussion: """
            FILE is an age identity file (from `delong key new` or age-keygen) with mode 0600 or stricter. \
            Exit codes: 0 printed, 2 not an identity file, 3 unreadable, 4 looser permissions than 0600.
            """
    )

    @Argument(help: "The age identity file.") var file: String
    @Flag(help: "Print {recipients: [...]} as JSON.") var json = false

    func run() throws {
        let identities = try Self.identities(in: file)
        let recipients = identities.map(\.recipient.description)
        if json {
            print(JSONOutput.object([("recipients", .array(recipients.map { .string($0) }))]).rendered())
        } else {
            for recipient in recipients { print(recipient) }
        }
    }

    /// The identities of an age identity file (mode 0600 or stricter); failures exit as the help says.
    static func identities(in file: String) throws -> [AgeIdentity] {
        do throws(PlaneCryptoError) {
            let contents = try SecretFile.read(file, maxBytes: 64 << 10)
            return try AgeIdentity.parseFile(contents)
        } catch {
            switch error.code {
            case .secretFile:
                let exists = FileManager.default.fileExists(atPath: file)
                throw ExitCodes.report(
                    CLIFailure(
                        exitCode: exists ? ExitCodes.keyRefused : ExitCodes.ioError,
                        message: "age identity: \(error.reason)"
                    )
                )
            default:
                throw ExitCodes.report(CLIFailure.malformed("age identity: \(file): \(error.reason)"))
            }
        }
    }
}
