import ChainCore
import Foundation
import PlaneCrypto
import PrivacyPlane
import TestSupport
import Testing

/// contrib/dstack: the Privacy Plane as a dstack app. The compose file's own command and environment run
/// `privacy serve` against contrib/dstack's FAKE guest agent on the devnet the example pins, and the compose hash
/// the README documents is sha256 of app-compose.json's exact bytes, whose docker_compose_file is the compose
/// file's bytes. No dstack CVM or Docker runs here: what Docker would do is done by this test, and said where.
@Suite(.serialized) struct DstackAppComposeTests {
    static let directory = TestData.packageRoot.appendingPathComponent("contrib/dstack")
    // The devnet's account 1, AlgorithmRegistry's privacy signer after `deploy`.
    static let privacySignerKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"

    func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: Self.directory.appendingPathComponent(name)))
    }

    @Test func theComposeHashIsSha256OfAppComposeJSONWhichHoldsTheComposeFileVerbatim() throws {
        let appCompose = try bytes("app-compose.json")
        let compose = try bytes("docker-compose.yml")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(appCompose)) as? [String: Any])
        #expect(object["docker_compose_file"] as? String == String(decoding: compose, as: UTF8.self))
        #expect(object["manifest_version"] as? Int == 2 && object["runner"] as? String == "docker-compose")
        #expect(object["kms_enabled"] as? Bool == true && object["key_provider"] as? String == "kms")
        #expect(object["name"] as? String == "delong-privacy-plane")
        let hash = Hex.encode(Array(Digest.sha256(appCompose)), prefix: false)

        // The generator writes exactly the committed bytes and prints their hash (so neither can drift).
        let printed = try ContribTool.run(["/usr/bin/env", "python3", "contrib/dstack/app_compose.py", "--check"])
        #expect(printed.trimmingCharacters(in: .whitespacesAndNewlines) == "compose_hash " + hash)
        // The README documents the same hash.
        let readme = String(decoding: try bytes("README.md"), as: UTF8.self)
        #expect(readme.contains("`" + hash + "`"), "README.md should document the compose hash \(hash)")
    }

    /// The compose file as Docker Compose reads it: the service, the top-level configs and secrets (YAML parsed by
    /// Debian's python3-yaml, an independent parser).
    func composeDocument() throws -> [String: Any] {
        let json = try ContribTool.systemPython(
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding='utf-8'))))",
            [Self.directory.appendingPathComponent("docker-compose.yml").path]
        )
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    /// Compose's interpolation of `${NAME}` and `${NAME:-default}` from `variables`; a variable that is unset
    /// and has no default is an error here (Compose would warn and use "").
    static func interpolate(_ text: String, _ variables: [String: String]) throws -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                throw CocoaError(.coderInvalidValue, userInfo: [NSDebugDescriptionErrorKey: "unclosed ${ in \(text)"])
            }
            let expression = rest[open.upperBound..<close]
            let parts = expression.split(separator: ":-", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            if let value = variables[name], !value.isEmpty {
                out += value
            } else if parts.count == 2 {
                out += parts[1]
            } else {
                throw CocoaError(.coderValueNotFound, userInfo: [NSDebugDescriptionErrorKey: "\(name) is not set"])
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    @Test func privacyServeRunsWithTheComposeFilesCommandAndEnvironmentAgainstTheGuestAgent() async throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }

        // The devnet the example pins, deployed as the README says.
        let devnet = try Devnet(arguments: ["--deterministic"])
        let deployment = dir.appendingPathComponent("deployment.json")
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--out", deployment.path])

        // What the operator sends encrypted to the CVM (allowed_envs): two endpoints for the quorum of 2, a
        // domain, the privacy signer's key; the listen address moved to a free loopback port for this test.
        let variables = [
            "DELONG_RPC": "\(devnet.url),\(devnet.url.replacingOccurrences(of: "127.0.0.1", with: "localhost"))",
            "DELONG_DOMAIN": "delong.test",
            "DELONG_SIGNING_KEY": Self.privacySignerKey,
            "DELONG_LISTEN": "127.0.0.1:0",
        ]
        let document = try composeDocument()
        let services = try #require(document["services"] as? [String: Any])
        #expect(services.count == 1)
        let service = try #require(services["privacy-plane"] as? [String: Any])
        let entrypoint = try #require(service["entrypoint"] as? [String])
        var command = try (try #require(service["command"] as? [String])).map { try Self.interpolate($0, variables) }
        let environment = try (service["environment"] as? [String: String] ?? [:]).mapValues {
            try Self.interpolate($0, variables)
        }
        #expect(entrypoint == ["/usr/local/bin/delong"])
        #expect(Array(command.prefix(4)) == ["privacy", "serve", "--root-secret", "dstack"])

        // The pins are the devnet's: its genesis hash, the deployed contracts' addresses and chain id.
        let checkpoint = try #require(command.firstIndex(of: "--checkpoint").map { command[$0 + 1] })
        #expect(checkpoint == "0:\(try devnet.genesisHash())")
        let configs = try #require(document["configs"] as? [String: Any])
        let contractsText = try #require((configs["delong_contracts"] as? [String: Any])?["content"] as? String)
        let pinned = try #require(try JSONSerialization.jsonObject(with: Data(contractsText.utf8)) as? [String: Any])
        let deployed = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: deployment)) as? [String: Any]
        )
        #expect(pinned["chainId"] as? Int == deployed["chainId"] as? Int)
        for contract in ["DataMarket", "AlgorithmRegistry"] {
            #expect(
                (pinned[contract] as? [String: Any])?["address"] as? String
                    == (deployed[contract] as? [String: Any])?["address"] as? String
            )
        }

        // What Docker does with the volumes, configs and secrets, done here in a temporary directory: the data
        // volume is a directory, the config and the secret files (the secret 0400 as the compose asks), and the
        // guest agent's socket (the volume /var/run/dstack.sock) is the FAKE's, named by DSTACK_SIMULATOR_ENDPOINT,
        // the variable the dstack SDKs and the plane read for a simulator.
        let data = dir.appendingPathComponent("var-lib-delong")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let contractsFile = dir.appendingPathComponent("contracts.json")
        try Data(contractsText.utf8).write(to: contractsFile)
        let secretsSource = try #require(document["secrets"] as? [String: Any])
        let signingVariable = try #require(
            (secretsSource["delong_signing_key"] as? [String: Any])?["environment"] as? String
        )
        let signingFile = dir.appendingPathComponent("delong_signing_key")
        _ = FileManager.default.createFile(
            atPath: signingFile.path,
            contents: Data(try #require(variables[signingVariable]).utf8),
            attributes: [.posixPermissions: 0o400]
        )
        let volumes = try #require(service["volumes"] as? [String])
        #expect(volumes.contains("/var/run/dstack.sock:/var/run/dstack.sock"))
        #expect(volumes.contains("delong-data:/var/lib/delong"))
        let mounts = [
            "/var/lib/delong": data.path,
            "/etc/delong/contracts.json": contractsFile.path,
            "/run/secrets/delong_signing_key": signingFile.path,
        ]
        for (target, _) in mounts {
            #expect(command.contains(target), "the command names \(target)")
        }
        command = command.map { mounts[$0] ?? $0 }

        let agentDir = dir.appendingPathComponent("agent")
        try FileManager.default.createDirectory(at: agentDir, withIntermediateDirectories: true)
        let log = dir.appendingPathComponent("agent-requests.jsonl")
        let agent = try FakeGuestAgent.start(in: agentDir, seed: String(repeating: "5e", count: 32), log: log)
        var processEnvironment = environment
        processEnvironment["DSTACK_SIMULATOR_ENDPOINT"] = agent.url
        processEnvironment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"

        let errors = dir.appendingPathComponent("plane.err")
        let plane: ReadyService
        do {
            plane = try ReadyService(
                DelongProcess.executable.path,
                command,
                errorLog: errors,
                environment: processEnvironment
            )
        } catch {
            Issue.record("privacy serve did not start: \((try? String(contentsOf: errors, encoding: .utf8)) ?? "")")
            throw error
        }
        #expect(plane.url.hasPrefix("https://127.0.0.1:"))

        // The root secret came from the guest agent's GetKey, for DeLong's path and purpose (DstackRootSecretTests
        // pins that the provider's secret is the key the agent answers).
        let requests = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let getKey = requests.filter { $0["path"] as? String == "/GetKey" }
        #expect(getKey.count == 1)
        #expect(
            getKey.first?["body"] as? String
                == "{\"path\":\"\(DstackRootSecret.keyPath)\",\"purpose\":\"\(DstackRootSecret.purpose)\"}"
        )
        // Its own evidence is the agent's GetQuote: a TDX quote binding its signer and TLS key, with dstack's log.
        let certificate = data.appendingPathComponent("privacy/tls/cert.pem").path
        let answer = try await httpGet(plane.url + "/v1/attestation", trusting: certificate)
        #expect(answer.status == 200, "\(answer.body)")
        let attestation = try #require(
            try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
        )
        let evidence = try #require(attestation["evidence"] as? [String: Any], "\(answer.body)")
        #expect(evidence["type"] as? String == "tdx", "\(evidence)")
        #expect(evidence["tlsKey"] as? String == plane.tlsKey)
        let quoteHex = try #require(evidence["evidence"] as? String)
        let reportData = try #require(evidence["reportData"] as? String)
        let quote = try #require(try? Hex.decode(quoteHex))
        #expect(Hex.encode(Array(quote[568..<632])) == reportData)
        #expect((evidence["eventLog"] as? String)?.contains("compose-hash") == true)
        #expect(requests.contains { $0["path"] as? String == "/GetQuote" })

        #expect(plane.terminate(within: 20) == 0)

        // No fallback: the same command against an agent whose GetKey fails does not start (exit 4, key refused),
        // and says what the agent answered.
        let error = "{\"error\": \"KMS unreachable\"}"
        let refusing = try FakeGuestAgent.answering(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: \(error.utf8.count)\r\n\r\n\(error)",
            in: agentDir
        )
        processEnvironment["DSTACK_SIMULATOR_ENDPOINT"] = refusing.url
        let refused = try DelongProcess.run(command, environment: processEnvironment)
        #expect(refused.status == 4, "\(refused.stderr)")
        #expect(refused.stderr.contains("GetKey answered HTTP 500: KMS unreachable"), "\(refused.stderr)")
    }
}
