import ArgumentParser
import AsyncHTTPClient
import Attestation
import ChainCore
import Foundation
import NIOCore
import NIOHTTP1
import PlaneCrypto
import PrivacyPlane

/// Talks to a Privacy Plane over HTTP: what providers, consumers and (for development) sandboxes run.
struct PlaneClient {
    let base: String

    struct Refused: Error {
        let status: Int
        let code: String
        let message: String
    }

    /// POSTs (or GETs, without a body) JSON; the answer's JSON object, or `Refused` with the plane's error.
    func call(_ path: String, _ body: [String: Any]? = nil, session: String? = nil) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: base + path)
        request.method = body == nil ? .GET : .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let session { request.headers.add(name: "Authorization", value: "Bearer \(session)") }
        if let body { request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))) }
        let response: HTTPClientResponse
        do { response = try await HTTPClient.shared.execute(request, timeout: .seconds(30)) } catch {
            throw CLIFailure.io("cannot reach the Privacy Plane at \(base): \(error)")
        }
        let data = Data((try await response.body.collect(upTo: 4 << 20)).readableBytesView)
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        guard response.status.code == 200 else {
            let error = object?["error"] as? [String: Any]
            throw Refused(
                status: Int(response.status.code),
                code: error?["code"] as? String ?? "http_\(response.status.code)",
                message: error?["message"] as? String ?? "no message"
            )
        }
        guard let object else {
            throw CLIFailure.malformed("the plane answered \(path) with something other than JSON")
        }
        return object
    }

    /// Runs `body`; a refusal becomes a message and exit 4 (key refused) or 2 (malformed request).
    static func reporting(_ body: () async throws -> Void) async throws {
        do { try await body() } catch let refused as Refused {
            FileHandle.standardError.write(
                Data(
                    "delong: the Privacy Plane refused (HTTP \(refused.status) \(refused.code)): \(refused.message)\n"
                        .utf8
                )
            )
            throw ExitCode(
                refused.status == 400 || refused.status == 413 ? ExitCodes.malformedInput : ExitCodes.keyRefused
            )
        } catch let failure as CLIFailure {
            FileHandle.standardError.write(Data("delong: \(failure.message)\n".utf8))
            throw ExitCode(failure.exitCode)
        }
    }

    /// The plane's token domain (chain id and AlgorithmRegistry), from its /v1/attestation.
    func tokenDomain() async throws -> TokenDomain {
        let identity = try await call("/v1/attestation")
        guard let d = identity["tokenDomain"] as? [String: Any], let chainID = d["chainId"] as? Int, chainID >= 0,
            let registry = (d["verifyingContract"] as? String).flatMap({ try? Address(hex: $0) })
        else { throw CLIFailure.malformed("the plane's /v1/attestation has no token domain") }
        return TokenDomain(chainID: UInt64(chainID), verifyingContract: registry)
    }

    /// Writes a secret file with mode 0600 under a temporary name, then renames it into place.
    static func writeSecret(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIFailure.io("cannot create \(temporary)") }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CLIFailure.io("cannot write \(path)")
        }
    }

    /// Receives a wrapped DEK for a fresh X25519 key and writes it as a key file (32 raw bytes, 0600).
    /// The wrap binds `chainID` (the chain the caller expects the key for): a key wrapped for another chain
    /// does not authenticate.
    static func receiveKey(
        _ answer: [String: Any],
        recipient: X25519PrivateKey,
        chainID: UInt64,
        out: String
    ) throws -> [String: Any] {
        let wrapped = try KeyWrap.Wrapped(json: answer["wrapped"])
        guard let dek = try KeyWrap.unwrap(wrapped, recipient: recipient, chainID: chainID) else {
            throw CLIFailure(
                exitCode: ExitCodes.verificationFailed,
                message: "the wrapped key did not authenticate (for chain id \(chainID))"
            )
        }
        var bytes = dek.withUnsafeBytes { Array($0) }
        defer { SecretBytes.wipe(&bytes) }
        try writeSecret(bytes, to: out)
        return answer["receipt"] as? [String: Any] ?? [:]
    }
}

struct PlaneOptions: ParsableArguments {
    @Option(help: "The Privacy Plane's base URL (what `delong privacy serve` printed after READY).") var plane: String
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
        try await PlaneClient.reporting {
            let client = PlaneClient(base: options.plane)
            let key = try PrivacyServeCommand.readKey(walletKey, what: "wallet key")
            var privateKey = key.withUnsafeBytes { Array($0) }
            defer { SecretBytes.wipe(&privateKey) }
            guard let nonce = try await client.call("/v1/nonce")["nonce"] as? String else {
                throw CLIFailure.malformed("the plane's /v1/nonce answer has no nonce")
            }
            let address = try Secp256k1.shared.address(privateKey: privateKey)
            let now = RFC3339Timestamp(unixSeconds: Int64(Date().timeIntervalSince1970))
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
            let answer = try await client.call(
                "/v1/login",
                ["message": message, "signature": Hex.encode(signature.rsv)]
            )
            guard let session = answer["session"] as? String else {
                throw CLIFailure.malformed("the plane's /v1/login answer has no session")
            }
            try PlaneClient.writeSecret(Array(session.utf8), to: out)
            print(
                JSONOutput.object([
                    ("address", .string(address.checksummed)), ("expiresAt", .optional(answer["expiresAt"] as? String)),
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
        try await PlaneClient.reporting {
            let recipient = try X25519PrivateKey()
            let client = PlaneClient(base: options.plane)
            var expectedChain = chainId ?? 0
            if chainId == nil { expectedChain = try await client.tokenDomain().chainID }
            let answer = try await client.call(
                "/v1/keys/provider",
                ["dataset": dataset, "keyVersion": Int(keyVersion), "recipientKey": Hex.encode(recipient.publicKey)],
                session: try readSession(session)
            )
            let receipt = try PlaneClient.receiveKey(answer, recipient: recipient, chainID: expectedChain, out: out)
            print(
                JSONOutput.object([("key", .string(out)), ("receipt", .optional(receiptSummary(receipt)))]).rendered()
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
    @Option(help: "Where to write the token JSON.") var out: String

    func run() async throws {
        try await PlaneClient.reporting {
            var body: [String: Any] = ["dataset": dataset, "mode": mode]
            if let image { body["imageDigest"] = image }
            if let job { body["jobId"] = job }
            let token = try await PlaneClient(base: options.plane).call(
                "/v1/tokens",
                body,
                session: try readSession(session)
            )
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
            What a Secure Mode sandbox does, without TDX: makes an X25519 key, writes development evidence \
            (delong-dev-insecure-v1) whose REPORTDATA binds that key, the token and the image digest, and \
            asks the plane for the key. Only a plane started with --allow-insecure-development-evidence \
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
        try await PlaneClient.reporting {
            let json = try InputFile.json(InputFile.read(token, what: "token"), path: token, what: "token")
            let signed: SignedAccessToken
            do { signed = try SignedAccessToken(json: json) } catch {
                throw CLIFailure.malformed("token file \(token): \(error)")
            }
            guard let m = try? Hex.decode(measurements), m.count == 192 else {
                throw CLIFailure.malformed("--measurements: expected 192 bytes of hex (MRTD and RTMR0-2)")
            }
            let client = PlaneClient(base: options.plane)
            let domain = try await client.tokenDomain()
            let sandbox = try X25519PrivateKey()
            let reportData = KeyWrap.reportData(
                recipientKey: sandbox.publicKey,
                tokenHash: try signed.token.signingHash(domain),
                imageDigest: signed.token.imageDigest
            )
            let evidence = try InsecureDevelopmentEvidence(
                mrTD: Array(m[0..<48]),
                rtmr: [Array(m[48..<96]), Array(m[96..<144]), Array(m[144..<192]), [UInt8](repeating: 0, count: 48)],
                reportData: reportData
            )
            let answer = try await client.call(
                "/v1/keys/release",
                [
                    "token": json as Any, "evidence": Hex.encode(evidence.json()),
                    "sandboxKey": Hex.encode(sandbox.publicKey), "keyVersion": Int(keyVersion),
                ]
            )
            let receipt = try PlaneClient.receiveKey(answer, recipient: sandbox, chainID: domain.chainID, out: out)
            print(
                JSONOutput.object([
                    ("key", .string(out)), ("receipt", .optional(receiptSummary(receipt))),
                    (
                        "developmentDigest",
                        .string(Hex.encode(InsecureDevelopmentEvidence.measurementDigest(measurements: m)))
                    ),
                ]).rendered()
            )
        }
    }
}

/// "sequence N, hash 0x…" for a receipt JSON object.
func receiptSummary(_ receipt: [String: Any]) -> String? {
    guard let r = receipt["receipt"] as? [String: Any], let sequence = r["sequence"] as? String,
        let hash = receipt["hash"] as? String
    else { return nil }
    return "sequence \(sequence), hash \(hash)"
}
