import ChainCore
import Foundation
import PrivacyPlane
import TestSupport
import Testing

/// What every `privacy serve` suite starts from: the devnet with the demo deployment, the plane's signing key
/// (0600), the serve arguments they share, and the HTTPS helpers (POST JSON, SIWE sign-in) against a plane.
struct PlaneWorld {
    // The devnet's well-known development accounts (the "test test … junk" mnemonic).
    static let privacySignerKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
    static let providerKey = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
    static let consumerKey = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
    static let strangerKey = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"
    static let domain = "delong.test"

    let devnet: Devnet
    let dir: URL
    let deploymentPath: String
    let deployment: [String: Any]
    let signingKeyFile: String
    let genesis: String

    init(devnetArguments: [String] = []) throws {
        devnet = try Devnet(arguments: devnetArguments)
        dir = try DelongProcess.temporaryDirectory()
        deploymentPath = dir.appendingPathComponent("deployment.json").path
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--demo", "--out", deploymentPath])
        deployment = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: deploymentPath)))
                as? [String: Any]
        )
        signingKeyFile = dir.appendingPathComponent("signing.key").path
        _ = FileManager.default.createFile(
            atPath: signingKeyFile,
            contents: Data(Self.privacySignerKey.utf8),
            attributes: [.posixPermissions: 0o600]
        )
        genesis = try devnet.genesisHash()
    }

    var demo: [String: Any] { deployment["demo"] as? [String: Any] ?? [:] }
    /// The demo deployment's authorized Computing Plane operator: the audience of its secure tokens.
    var computingOperator: String {
        (deployment["accounts"] as? [String: Any])?["computingOperator"] as? String ?? ""
    }
    /// A sandbox agent's secp256k1 key (signs lease renewals) and its address, bound in REPORTDATA.
    static let agentKey = Keccak256.hash(utf8: "plane world sandbox agent").bytes
    static let agentSigner = try! Secp256k1.shared.address(privateKey: agentKey)
    var chainID: UInt64 { deployment["chainId"] as? UInt64 ?? (deployment["chainId"] as? Int).map(UInt64.init) ?? 0 }
    /// The self-signed pair the plane generates on the devnet.
    var planeCertificate: String { dir.appendingPathComponent("data/privacy/tls/cert.pem").path }

    /// `privacy serve` against `rpc` (default: the devnet) with the shared options and `extra`, started and
    /// trusted (its generated certificate is the only root the tests' HTTPS client accepts for it).
    func startPlane(_ extra: [String], rpc: String? = nil) throws -> ReadyService {
        let plane = try ReadyService(
            DelongProcess.executable.path,
            [
                "privacy", "serve", "--rpc", rpc ?? devnet.url, "--contracts", deploymentPath, "--checkpoint",
                "0:\(genesis)", "--data-dir", dir.appendingPathComponent("data").path, "--finality", "1",
                "--signing-key", signingKeyFile, "--root-secret", "file:" + dir.appendingPathComponent("root.key").path,
                "--create-root-secret", "--domain", Self.domain, "--listen", "127.0.0.1:0", "--max-job-seconds", "600",
            ] + extra
        )
        trustCertificate(planeCertificate, for: plane.url)
        return plane
    }

    /// POSTs `body` (GETs without one) to `plane` + `path`: the status and the JSON answer.
    static func call(
        _ plane: String,
        _ path: String,
        _ body: [String: Any]? = nil,
        session: String? = nil
    ) async throws -> (Int, [String: Any]) {
        let r = try await httpRequest(
            plane + path,
            method: body == nil ? "GET" : "POST",
            body: try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) },
            headers: session.map { [("Authorization", "Bearer \($0)")] } ?? []
        )
        return (r.status, (try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any]) ?? [:])
    }

    /// Signs in to `plane` with SIWE as the owner of `key`; returns the session token.
    func signIn(_ key: String, at plane: String) async throws -> String {
        let (nonceStatus, nonce) = try await Self.call(plane, "/v1/nonce")
        #expect(nonceStatus == 200)
        let n = try #require(nonce["nonce"] as? String)
        let privateKey = try Hex.decode(key)
        let address = try Secp256k1.shared.address(privateKey: privateKey)
        let message = """
            \(Self.domain) wants you to sign in with your Ethereum account:
            \(address.checksummed)

            Sign in to DeLong.

            URI: https://\(Self.domain)/login
            Version: 1
            Chain ID: \(chainID)
            Nonce: \(n)
            Issued At: \(RFC3339Timestamp(unixSeconds: Int64(Date().timeIntervalSince1970)).description)
            """
        let signature = try Secp256k1.shared.sign(PersonalMessage.hash(Array(message.utf8)), privateKey: privateKey)
        let (status, body) = try await Self.call(
            plane,
            "/v1/login",
            ["message": message, "signature": Hex.encode(signature.rsv)]
        )
        #expect(status == 200, "\(body)")
        return try #require(body["session"] as? String)
    }
}
