import ArgumentParser
import Attestation
import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol

/// What the client commands share: reporting a refusal, writing secrets, receiving a wrapped key.
enum PlaneClientSupport {
    /// Runs `body`; a failure becomes a message and its exit code (see `ExitCodes.code(for:)`).
    static func reporting(_ body: () async throws -> Void) async throws {
        do { try await body() } catch let error as ExitCode { throw error } catch {
            throw ExitCodes.report(error)
        }
    }

    /// Runs a serve command's set-up: key, configuration and plane failures become a message and their exit
    /// code.
    static func configuring<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as ExitCode { throw error } catch {
            throw ExitCodes.report(error)
        }
    }

    /// Unwraps the DEK in `response` for `recipient` and writes it as a key file (32 raw bytes, 0600).
    /// The wrap binds `chainID` (the chain the caller expects the key for): a key wrapped for another chain
    /// does not authenticate.
    static func receiveKey(
        _ response: KeyReleaseResponse,
        recipient: X25519PrivateKey,
        chainID: UInt64,
        out: String
    ) throws {
        guard let dek = try KeyWrap.unwrap(response.wrapped, recipient: recipient, chainID: chainID) else {
            throw CLIFailure(
                exitCode: ExitCodes.verificationFailed,
                message: "the wrapped key did not authenticate (for chain id \(chainID))"
            )
        }
        do { try SecretFile.write(dek, to: out) } catch { throw CLIFailure.io("cannot write \(out): \(error.reason)") }
    }
}

/// `delong privacy login`: SIWE sign-in with a wallet key; writes the session to a 0600 file.
struct PrivacyLoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign in to a Privacy Plane with an Ethereum key (EIP-4361); write the session to a file."
    )
    @OptionGroup var options: PlaneOptions
    @Option(help: "Wallet private key file (0600; 32 raw bytes or 64 hex digits).") var walletKey: String
    @Option(help: "The domain the plane accepts (its --domain).") var domain: String
    @Option(help: "Chain id the sign-in is for.") var chainId: UInt64
    @Option(help: "Where to write the session token (mode 0600).") var out: String

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let client = try await options.privacyClient()
            let key = try readKeyFile(walletKey, what: "wallet key")
            var privateKey = key.withUnsafeBytes { Array($0) }
            defer { SecretBytes.wipe(&privateKey) }
            let nonce = try await client.nonce()
            let address = try Secp256k1.shared.address(privateKey: privateKey)
            let now = RFC3339.format(Int64(Date().timeIntervalSince1970))
            let message = """
                \(domain) wants you to sign in with your Ethereum account:
                \(address.checksummed)

                Sign in to the DeLong Privacy Plane.

                URI: https://\(domain)/login
                Version: 1
                Chain ID: \(chainId)
                Nonce: \(nonce)
                Issued At: \(now)
                """
            let signature = try Secp256k1.shared.sign(PersonalMessage.hash(Array(message.utf8)), privateKey: privateKey)
            let login = try await client.login(message: message, signature: signature)
            let session = Array(login.session.utf8)
            do throws(PlaneCryptoError) { try SecretFile.write(session, to: out) } catch {
                throw CLIFailure.io("cannot write \(out): \(error.reason)")
            }
            print(
                JSONOutput.object([
                    ("address", .string(address.checksummed)), ("expiresAt", .optional(login.expiresAt)),
                    ("session", .string(out)),
                ]).rendered()
            )
        }
    }
}

/// Reads a session file written by `delong privacy login`.
func readSession(_ path: String) throws -> String {
    let data = try InputFile.read(path, what: "session")
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// `delong privacy provider-key`: a provider fetches its dataset's DEK into a key file, to seal with.
struct PrivacyProviderKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provider-key",
        abstract: "As a dataset's provider, receive its DEK over X25519 into a key file (for `dataset seal`)."
    )
    @OptionGroup var options: PlaneOptions
    @Option(help: "Session file from `delong privacy login`.") var session: String
    @Option(help: "The dataset id (0x + 64 hex digits).") var dataset: String
    @Option(help: "Key version.") var keyVersion: UInt32 = 1
    @Option(help: "The chain id the key must be for (default: the one the plane's /v1/attestation names).")
    var chainId: UInt64?
    @Option(help: "Where to write the DEK (32 raw bytes, mode 0600).") var out: String

    func run() async throws {
        try await PlaneClientSupport.reporting {
            guard let datasetID = try? Hash32(hex: dataset) else {
                throw CLIFailure.malformed("--dataset: expected 0x + 64 hex digits, found \"\(dataset)\"")
            }
            let recipient = try X25519PrivateKey()
            let client = try await options.privacyClient()
            var expectedChain = chainId ?? 0
            if chainId == nil { expectedChain = try await client.tokenDomain().chainID }
            let response = try await client.providerKey(
                ProviderKeyRequest(dataset: datasetID, recipientKey: recipient.publicKey, keyVersion: keyVersion),
                session: try readSession(session)
            )
            try PlaneClientSupport.receiveKey(response, recipient: recipient, chainID: expectedChain, out: out)
            let receipt = response.receipt
            print(
                JSONOutput.object([("key", .string(out)), ("receipt", .string(receiptSummary(receipt)))]).rendered()
            )
        }
    }
}

/// `delong privacy token`: a consumer asks for an access token.
struct PrivacyTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "As a renter, get an access token (explore, or secure for one job of a published algorithm)."
    )
    @OptionGroup var options: PlaneOptions
    @Option(help: "Session file from `delong privacy login`.") var session: String
    @Option(help: "The dataset id.") var dataset: String
    @Option(help: "explore or secure.") var mode: String = "secure"
    @Option(help: "Secure Mode: the algorithm's image digest.") var image: String?
    @Option(help: "Secure Mode: the job id.") var job: String?
    @Option(
        help: "The Computing Plane that runs the job or serves the session (its operator address, 0x + 40 hex digits)."
    )
    var audience: String?
    @Option(help: "Where to write the token JSON.") var out: String

    func validate() throws {
        guard let audience else {
            throw ValidationError(
                "--audience: expected the Computing Plane's operator address (0x + 40 hex digits) with --mode \(mode)"
            )
        }
        guard (try? Address(hex: audience)) != nil else {
            throw ValidationError("--audience: expected 0x + 40 hex digits, found \"\(audience)\"")
        }
    }

    func run() async throws {
        try await PlaneClientSupport.reporting {
            var body: [String: Any] = ["dataset": dataset, "mode": mode]
            if let image { body["imageDigest"] = image }
            if let job { body["jobId"] = job }
            if let audience { body["audience"] = audience }
            // The plane judges the request as typed; this command only passes the options on.
            let token = try SignedAccessToken(
                json: try await options.privacyClient().call(
                    "/v1/tokens",
                    body,
                    session: try readSession(session)
                )
            ).json
            let data = try JSONSerialization.data(withJSONObject: token, options: [.sortedKeys])
            do { try data.write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
                throw CLIFailure.io("cannot write \(out)")
            }
            let t = token["token"] as? [String: Any]
            print(
                JSONOutput.object([
                    ("token", .string(out)), ("expiry", .optional(t?["expiry"] as? String)),
                    ("mode", .optional(t?["mode"] as? String)),
                ]).rendered()
            )
        }
    }
}

/// `delong privacy release-dev`: the sandbox's side of key release with the INSECURE development evidence.
struct PrivacyReleaseDevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release-dev",
        abstract: "INSECURE development sandbox: claim measurements, bind a fresh key, receive the DEK.",
        discussion: """
            What a Secure Mode sandbox does, without TDX: makes an X25519 key and an agent secp256k1 key, \
            writes development evidence (delong-dev-insecure-v1) whose REPORTDATA binds both keys, the token \
            and the image digest, and asks the plane for the key; the output names the key lease it granted \
            (this command does not renew it). Only a plane started with --allow-insecure-development-evidence \
            (on the devnet, or on a chain named by --allow-insecure-development-evidence-on-chain) accepts it, \
            and only when governance trusts the development digest \
            sha256("delong/dev-measurements/v1" ‖ MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2), which the output prints: \
            development evidence never matches a real TDX digest. Real sandboxes present a TDX quote instead \
            (the Computing Plane).
            """
    )
    @OptionGroup var options: PlaneOptions
    @Option(help: "Token JSON from `delong privacy token`.") var token: String
    @Option(help: "Claimed MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 (192 bytes hex): their development digest must be trusted.")
    var measurements: String
    @Option(help: "Key version.") var keyVersion: UInt32 = 1
    @Option(help: "Where to write the DEK (32 raw bytes, mode 0600).") var out: String

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let json = try InputFile.json(InputFile.read(token, what: "token"), path: token, what: "token")
            let signed: SignedAccessToken
            do { signed = try SignedAccessToken(json: json) } catch {
                throw CLIFailure.malformed("token file \(token): \(error)")
            }
            guard let m = try? Hex.decode(measurements), m.count == 192 else {
                throw CLIFailure.malformed("--measurements: expected 192 bytes of hex (MRTD and RTMR0-2)")
            }
            let client = try await options.privacyClient()
            let domain = try await client.tokenDomain()
            let sandbox = try X25519PrivateKey()
            // The agent's ephemeral signing key: what would sign lease renewals and the result record.
            var agentKey = try SecureRandom.bytes(count: 32)
            defer { SecretBytes.wipe(&agentKey) }
            let agentSigner = try Secp256k1.shared.address(privateKey: agentKey)
            let reportData = KeyWrap.reportData(
                recipientKey: sandbox.publicKey,
                agentSigner: agentSigner,
                tokenHash: try signed.token.signingHash(domain),
                imageDigest: signed.token.imageDigest
            )
            let evidence = try InsecureDevelopmentEvidence(
                mrTD: Array(m[0..<48]),
                rtmr: [Array(m[48..<96]), Array(m[96..<144]), Array(m[144..<192]), [UInt8](repeating: 0, count: 48)],
                reportData: reportData
            )
            let response = try await client.release(
                KeyReleaseRequest(
                    token: signed,
                    evidence: evidence.json(),
                    sandboxKey: sandbox.publicKey,
                    agentSigner: agentSigner,
                    keyVersion: keyVersion
                )
            )
            try PlaneClientSupport.receiveKey(response, recipient: sandbox, chainID: domain.chainID, out: out)
            let receipt = response.receipt
            print(
                JSONOutput.object([
                    ("key", .string(out)), ("receipt", .string(receiptSummary(receipt))),
                    ("agentSigner", .string(agentSigner.checksummed)),
                    ("lease", .string(response.lease.id.hex)),
                    ("leaseExpiresAt", .string("\(response.lease.expiresAt)")),
                    (
                        "developmentDigest",
                        .string(Hex.encode(InsecureDevelopmentEvidence.measurementDigest(measurements: m)))
                    ),
                ]).rendered()
            )
        }
    }
}

/// "sequence N, hash 0x…" for a receipt.
func receiptSummary(_ receipt: SignedReceipt) -> String {
    "sequence \(receipt.receipt.sequence), hash \(receipt.hash.hex)"
}
