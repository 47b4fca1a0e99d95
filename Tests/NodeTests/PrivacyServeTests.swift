import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import TestSupport
import Testing

/// `delong privacy serve` against the real devnet and the demo's on-chain records: sign in with SIWE, get a
/// token, release the key to a (development-evidence) sandbox, and the refusals around it, over HTTP.
@Suite(.serialized) struct PrivacyServeTests {
    let world: PlaneWorld
    let plane: ReadyService

    init() throws {
        world = try PlaneWorld()
        plane = try world.startPlane([
            "--poll", "0.2", "--rate", "4", "--allow-insecure-development-evidence", "--trusted-proxy", "127.0.0.1",
            // The devnet mines only on transactions, so its head ages while a test is idle; freshness has its
            // own suite (PrivacyFreshnessTests).
            "--max-index-age", "3600",
        ])
    }

    var devnet: Devnet { world.devnet }
    var dir: URL { world.dir }
    var deployment: [String: Any] { world.deployment }
    var demo: [String: Any] { world.demo }
    var chainID: UInt64 { world.chainID }
    var planeCertificate: String { world.planeCertificate }

    func post(_ path: String, _ body: [String: Any], session: String? = nil) async throws -> (Int, [String: Any]) {
        try await PlaneWorld.call(plane.url, path, body, session: session)
    }

    func signIn(_ key: String) async throws -> String { try await world.signIn(key, at: plane.url) }

    @Test func aConsumerSignsInGetsATokenAndItsSandboxGetsTheKeyOnce() async throws {
        let dataset = try #require((demo["datasets"] as? [String: String])?["admissions"])
        let image = try #require(demo["imageDigest"] as? String)
        let session = try await signIn(PlaneWorld.consumerKey)
        let job = Keccak256.hash(utf8: "privacy serve test job").hex
        let (status, token) = try await post(
            "/v1/tokens",
            [
                "dataset": dataset, "mode": "secure", "imageDigest": image, "jobId": job,
                "audience": world.computingOperator,
            ],
            session: session
        )
        #expect(status == 200, "\(token)")
        let signed = try SignedAccessToken(json: token)
        #expect(signed.token.consumer == (try Secp256k1.shared.address(privateKey: Hex.decode(PlaneWorld.consumerKey))))

        // The sandbox: an ephemeral X25519 key bound, with the token and image, in its evidence's REPORTDATA.
        let sandbox = try X25519PrivateKey()
        let domain = TokenDomain(
            chainID: chainID,
            verifyingContract: try Address(
                hex: (deployment["AlgorithmRegistry"] as? [String: Any])?["address"] as? String ?? ""
            )
        )
        let reportData = KeyWrap.reportData(
            recipientKey: sandbox.publicKey,
            agentSigner: PlaneWorld.agentSigner,
            tokenHash: try signed.token.signingHash(domain),
            imageDigest: signed.token.imageDigest
        )
        // The demo's trusted runner measurements (MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2), as the contract deploy made them.
        let measurements = try ContribTool.python(
            "import hashlib; s=lambda t: hashlib.sha256(t.encode()).digest()[:24]*2; print((s('demo MRTD')+s('demo RTMR0')+s('demo RTMR1')+s('demo RTMR2')).hex())"
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        let m = try Hex.decode(measurements)
        let evidence =
            "{\"type\":\"delong-dev-insecure-v1\",\"mrTd\":\"\(Hex.encode(Array(m[0..<48]), prefix: false))\",\"rtmr\":[\"\(Hex.encode(Array(m[48..<96]), prefix: false))\",\"\(Hex.encode(Array(m[96..<144]), prefix: false))\",\"\(Hex.encode(Array(m[144..<192]), prefix: false))\",\"\(String(repeating: "00", count: 48))\"],\"reportData\":\"\(Hex.encode(reportData, prefix: false))\"}"
        let request: [String: Any] = [
            "token": token, "evidence": Hex.encode(Array(evidence.utf8)), "sandboxKey": Hex.encode(sandbox.publicKey),
            "agentSigner": PlaneWorld.agentSigner.hex,
        ]
        let (released, body) = try await post("/v1/keys/release", request)
        #expect(released == 200, "\(body)")
        let wrapped = try KeyWrap.Wrapped(json: body["wrapped"])
        let dek = try #require(try KeyWrap.unwrap(wrapped, recipient: sandbox, chainID: chainID))
        let root = LocalRootSecretFile(path: dir.appendingPathComponent("root.key").path)
        let market = try #require((deployment["DataMarket"] as? [String: Any])?["address"] as? String)
        let expected = try DatasetKeys.dek(
            root: try root.rootSecret(),
            deployment: .init(chainID: chainID, dataMarket: try Address(hex: market)),
            datasetID: try Hash32(hex: dataset),
            keyVersion: 1
        )
        #expect(dek.constantTimeEquals(expected), "the sandbox holds the dataset's DEK")

        // Used once: the same token again is a conflict; the receipt is served.
        let (again, refusal) = try await post("/v1/keys/release", request)
        #expect(again == 409, "\(refusal)")
        #expect((refusal["error"] as? [String: Any])?["code"] as? String == "token_already_used")
        // L11: receipts are served to whom they concern only; the public sees the log's length and head.
        let anonymous = try await httpGet(plane.url + "/v1/receipts")
        #expect(anonymous.status == 401, "\(anonymous)")
        func receipts(_ session: String) async throws -> [[String: Any]] {
            let r = try await httpRequest(
                plane.url + "/v1/receipts",
                method: "GET",
                headers: [("Authorization", "Bearer \(session)")]
            )
            #expect(r.status == 200, "\(r.body)")
            let page = try #require(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])
            #expect(page["next"] as? Int == 1 && page["count"] as? Int == 1, "\(page)")
            return try #require(page["receipts"] as? [[String: Any]])
        }
        let list = try await receipts(session)
        #expect(list.count == 1)
        #expect((list.first?["receipt"] as? [String: Any])?["evidenceKind"] as? Int == 255, "marked insecure")
        #expect(try await receipts(try await signIn(PlaneWorld.providerKey)).count == 1, "the dataset's provider")
        #expect(try await receipts(try await signIn(PlaneWorld.strangerKey)).isEmpty, "anyone else sees none")
        let head = try await httpGet(plane.url + "/v1/receipts/head")
        let headObject = try JSONSerialization.jsonObject(with: Data(head.body.utf8)) as? [String: Any]
        #expect(head.status == 200 && headObject?["count"] as? Int == 1, "\(head.body)")
        #expect((headObject?["last"] as? String)?.count == 66, "\(head.body)")
        // Key versions are bounded (1…16).
        var tooNew = request
        tooNew["keyVersion"] = 17
        let (badVersion, bv) = try await post("/v1/keys/release", tooNew)
        #expect(badVersion == 400 && "\(bv)".contains("keyVersion"), "\(bv)")

        // Evidence bound to another key is refused.
        let (_, token2) = try await post(
            "/v1/tokens",
            [
                "dataset": dataset, "mode": "secure", "imageDigest": image, "jobId": job,
                "audience": world.computingOperator,
            ],
            session: session
        )
        var rebound = request
        rebound["token"] = token2
        rebound["sandboxKey"] = Hex.encode(try X25519PrivateKey().publicKey)
        let (mismatch, why) = try await post("/v1/keys/release", rebound)
        #expect(mismatch == 403, "\(why)")
        #expect((why["error"] as? [String: Any])?["code"] as? String == "binding_mismatch")
    }

    @Test func refusalsHaveDistinctStatusesAndCodes() async throws {
        let dataset = try #require((demo["datasets"] as? [String: String])?["admissions"])
        let genomics = try #require((demo["datasets"] as? [String: String])?["genomics"])
        // The plane's own attestation outside a TEE: development evidence, named as such, binding its key.
        let own = try await httpGet(plane.url + "/v1/attestation")
        #expect(own.status == 200 && own.body.contains("delong-dev-insecure-v1"), "\(own.body)")
        // No session.
        let (unauthorized, _) = try await post("/v1/tokens", ["dataset": dataset, "mode": "explore"])
        #expect(unauthorized == 401)
        let consumer = try await signIn(PlaneWorld.consumerKey)
        // No rental of genomics; an unknown dataset; a malformed id.
        let (noRental, a) = try await post("/v1/tokens", ["dataset": genomics, "mode": "explore"], session: consumer)
        #expect(noRental == 403 && (a["error"] as? [String: Any])?["code"] as? String == "rental_inactive", "\(a)")
        let (unknown, _) = try await post(
            "/v1/tokens",
            ["dataset": Keccak256.hash(utf8: "nope").hex, "mode": "explore"],
            session: consumer
        )
        #expect(unknown == 404)
        let (malformed, m) = try await post("/v1/tokens", ["dataset": "0x12", "mode": "explore"], session: consumer)
        #expect(malformed == 400 && "\(m)".contains("request.dataset"), "\(m)")
        // An unpublished algorithm.
        let (unpublished, u) = try await post(
            "/v1/tokens",
            [
                "dataset": dataset, "mode": "secure", "imageDigest": Keccak256.hash(utf8: "x").hex,
                "jobId": Keccak256.hash(utf8: "j").hex, "audience": world.computingOperator,
            ],
            session: consumer
        )
        #expect(unpublished == 403 && (u["error"] as? [String: Any])?["code"] as? String == "algorithm_not_published")
        // Key release with hostile requests: a token missing fields, evidence that is not hex, and a real TDX
        // quote sent to a plane started without collateral (it cannot check a quote's TCB, so it refuses).
        let (_, explore) = try await post(
            "/v1/tokens",
            ["dataset": dataset, "mode": "explore", "audience": world.computingOperator],
            session: consumer
        )
        var partial = try #require(explore["token"] as? [String: Any])
        partial["nonce"] = nil
        let (missing, mm) = try await post(
            "/v1/keys/release",
            [
                "token": ["token": partial, "signature": explore["signature"] ?? ""], "evidence": "00",
                "sandboxKey": "00",
            ]
        )
        #expect(missing == 400 && "\(mm)".contains("token.nonce"), "\(mm)")
        let image = try #require(demo["imageDigest"] as? String)
        let (_, secure) = try await post(
            "/v1/tokens",
            [
                "dataset": dataset, "mode": "secure", "imageDigest": image, "jobId": Keccak256.hash(utf8: "h").hex,
                "audience": world.computingOperator,
            ],
            session: consumer
        )
        let sandboxKey = Hex.encode(try X25519PrivateKey().publicKey)
        let (notHex, nh) = try await post(
            "/v1/keys/release",
            ["token": secure, "evidence": "zz", "sandboxKey": sandboxKey]
        )
        #expect(notHex == 400 && "\(nh)".contains("request.evidence"), "\(nh)")
        let quote = try TestData.data("attestation/dcap-qvl/tdx_quote")
        let (noCollateral, nc) = try await post(
            "/v1/keys/release",
            [
                "token": secure, "evidence": Hex.encode(Array(quote)), "sandboxKey": sandboxKey,
                "agentSigner": PlaneWorld.agentSigner.hex,
            ]
        )
        #expect(noCollateral == 403 && "\(nc)".contains("no DCAP collateral"), "\(nc)")
        // Oversized and malformed bodies.
        let big = try await httpRequest(plane.url + "/v1/login", body: [UInt8](repeating: 0x20, count: 300 * 1024))
        #expect(big.status == 413)
        let junk = try await httpRequest(plane.url + "/v1/login", body: Array("{not json".utf8))
        #expect(junk.status == 400)
        // Provider keys: the dataset's provider only.
        let recipient = try X25519PrivateKey()
        let (notProvider, _) = try await post(
            "/v1/keys/provider",
            ["dataset": dataset, "recipientKey": Hex.encode(recipient.publicKey)],
            session: consumer
        )
        #expect(notProvider == 403)
        let provider = try await signIn(PlaneWorld.providerKey)
        let (ok, body) = try await post(
            "/v1/keys/provider",
            ["dataset": dataset, "recipientKey": Hex.encode(recipient.publicKey)],
            session: provider
        )
        #expect(ok == 200, "\(body)")
        #expect(
            try KeyWrap.unwrap(try KeyWrap.Wrapped(json: body["wrapped"]), recipient: recipient, chainID: chainID)
                != nil
        )

        // A burst beyond the per-address allowance (--rate 4: bursts of 16) is refused with 429. All at once,
        // so the burst outpaces the refill even on a loaded machine; a 429 is due whenever it outran the refill.
        let url = plane.url
        let start = ContinuousClock.now
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await PlaneWorld.call(
                        url,
                        "/v1/tokens",
                        ["dataset": dataset, "mode": "explore"],
                        session: provider
                    ).0
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        #expect(statuses.contains(429) || 16 + 4 * seconds + 1 >= 40, "none refused in \(seconds) s: \(statuses)")
        #expect(Set(statuses).isSubset(of: [403, 429]), "\(statuses)")
    }

    /// M6: anonymous routes are limited per client (here named by the trusted proxy's X-Forwarded-For), so
    /// one client over its rate does not lock another out; the node's read routes are limited too.
    @Test func oneClientOverItsRateDoesNotLockOutAnother() async throws {
        let base = plane.url
        @Sendable func nonce(_ client: String?) async throws -> Int {
            let headers = client.map { [("X-Forwarded-For", "198.51.100.9, \($0)")] } ?? []
            return try await httpRequest(base + "/v1/nonce", method: "GET", headers: headers).status
        }
        // All at once, so the flood outpaces the refill even on a loaded machine.
        func flood(_ count: Int, _ request: @escaping @Sendable () async throws -> Int) async throws -> ([Int], Double)
        {
            let start = ContinuousClock.now
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<count { group.addTask { try await request() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let elapsed = ContinuousClock.now - start
            return (statuses, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        // --rate 4: a client's burst is 16, refilled at 4 a second. The flooding client is refused; on a slow
        // machine the refill during the flood admits a few more, never more than the rate allows (and a 429 is
        // due whenever the flood outran that allowance).
        let (statuses, seconds) = try await flood(40) { try await nonce("203.0.113.7") }
        let admitted = statuses.filter { $0 == 200 }.count
        let allowance = 16 + 4 * seconds + 1
        #expect(admitted >= 16, "\(statuses)")
        #expect(Set(statuses).isSubset(of: [200, 429]), "\(statuses)")
        #expect(Double(admitted) <= allowance, "\(admitted) admitted in \(seconds) s: \(statuses)")
        #expect(statuses.contains(429) || allowance >= 40, "none refused in \(seconds) s: \(statuses)")
        // ...while another client, and the proxy itself, still get nonces.
        #expect(try await nonce("203.0.113.8") == 200)
        #expect(try await nonce(nil) == 200)
        // The node's routes on this listener are limited per client too.
        let (status, statusSeconds) = try await flood(40) {
            try await httpRequest(base + "/v1/status", method: "GET", headers: [("X-Forwarded-For", "203.0.113.7")])
                .status
        }
        #expect(Set(status).isSubset(of: [200, 429]), "\(status)")
        #expect(status.contains(429) || 16 + 4 * statusSeconds + 1 >= 40, "\(status)")
        // And their scans are bounded: limit= asks for fewer (the plane never lists more than 1000).
        let dataset = try #require((demo["datasets"] as? [String: String])?["admissions"])
        let one = try await httpGet(plane.url + "/v1/rentals?dataset=\(dataset)&limit=1")
        let rows = try JSONSerialization.jsonObject(with: Data(one.body.utf8)) as? [Any]
        #expect(one.status == 200 && rows?.count == 1, "\(one.body)")
        #expect(try await httpGet(plane.url + "/v1/rentals?dataset=\(dataset)&limit=0").status == 400)
    }

    /// The command-line clients end to end: the provider's key seals a dataset; a development sandbox's
    /// released key verifies it (the same DEK); a used token is refused with exit 4.
    @Test func theCommandLineClientsCarryAKeyFromProviderToSandbox() async throws {
        let dataset = try #require((demo["datasets"] as? [String: String])?["admissions"])
        let image = try #require(demo["imageDigest"] as? String)
        func keyFile(_ name: String, _ hex: String) -> String {
            let path = dir.appendingPathComponent(name).path
            _ = FileManager.default.createFile(
                atPath: path,
                contents: Data(hex.utf8),
                attributes: [.posixPermissions: 0o600]
            )
            return path
        }
        func delong(_ arguments: [String]) throws -> DelongProcess.Result {
            try DelongProcess.run(
                ["privacy"] + arguments.prefix(1) + ["--plane", plane.url, "--allow-insecure-plane-evidence"]
                    + arguments.dropFirst()
            )
        }
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        for (who, key) in [("provider", PlaneWorld.providerKey), ("consumer", PlaneWorld.consumerKey)] {
            let r = try delong([
                "login", "--wallet-key", keyFile("\(who).key", key), "--domain", PlaneWorld.domain, "--chain-id",
                "\(chainID)",
                "--out", path("\(who).session"),
            ])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let provider = try delong([
            "provider-key", "--session", path("provider.session"), "--dataset", dataset, "--out", path("provider.dek"),
        ])
        #expect(provider.status == 0, "\(provider.stderr)")
        let plain = dir.appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        try Data("id,age\n1,34\n".utf8).write(to: plain.appendingPathComponent("a.csv"))
        let seal = try DelongProcess.run([
            "dataset", "seal", plain.path, path("sealed"), "--dataset-id", dataset, "--key-file", path("provider.dek"),
        ])
        #expect(seal.status == 0, "\(seal.stderr)")
        let token = try delong([
            "token", "--session", path("consumer.session"), "--dataset", dataset, "--mode", "secure", "--image", image,
            "--job", Keccak256.hash(utf8: "cli job").hex, "--audience", world.computingOperator, "--out",
            path("token.json"),
        ])
        #expect(token.status == 0, "\(token.stderr)")
        let measurements = try ContribTool.python(
            "import hashlib; s=lambda t: hashlib.sha256(t.encode()).digest()[:24]*2; print((s('demo MRTD')+s('demo RTMR0')+s('demo RTMR1')+s('demo RTMR2')).hex())"
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        let release = [
            "release-dev", "--token", path("token.json"), "--measurements", measurements, "--out", path("sandbox.dek"),
        ]
        let released = try delong(release)
        #expect(released.status == 0, "\(released.stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: path("sandbox.dek"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let verify = try DelongProcess.run(["dataset", "verify", path("sealed"), "--key-file", path("sandbox.dek")])
        #expect(verify.status == 0, "the sandbox's key opens what the provider's sealed: \(verify.stderr)")
        let again = try delong(Array(release.dropLast()) + [path("again.dek")])
        #expect(again.status == 4 && again.stderr.contains("token_already_used"), "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("again.dek")))
    }
}
