import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol
import Synchronization
import TestSupport
import Testing

/// Key leases end to end: `privacy serve --lease-seconds 5` on the devnet, a development sandbox released a
/// key through `PrivacyPlaneClient`, renewing it as a job agent would; the provider revokes the rental on chain
/// and the first renewal after the plane indexed the revoking block (still pending with --finality 1) is
/// refused as `leaseRevoked`, and so is every one after.
@Suite(.serialized) struct PrivacyLeaseTests {
    let world: PlaneWorld
    let plane: ReadyService

    init() throws {
        world = try PlaneWorld()
        plane = try world.startPlane([
            "--poll", "0.2", "--allow-insecure-development-evidence", "--max-index-age", "3600", "--lease-seconds",
            "5",
        ])
    }

    /// The provider (demo provider 0) revokes demo consumer 0's rental of `dataset`; prints the block number.
    static let revokeRental = """
        import json, sys
        from web3 import Web3
        from eth_account import Account
        w3 = Web3(Web3.HTTPProvider(sys.argv[1]))
        dep = json.load(open(sys.argv[2]))
        Account.enable_unaudited_hdwallet_features()
        key = lambda i: Account.from_mnemonic(dep["mnemonic"], account_path=f"m/44'/60'/0'/0/{i}")
        provider, consumer = key(dep["accountIndexes"]["demoProviders"][0]), key(dep["accountIndexes"]["demoConsumers"][0])
        abi = json.load(open("contrib/contracts/artifacts/DataMarket.json"))["abi"]
        market = w3.eth.contract(address=dep["DataMarket"]["address"], abi=abi)
        tx = market.functions.revokeRental(bytes.fromhex(sys.argv[3][2:]), consumer.address).build_transaction({
            "from": provider.address, "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(provider.address, "pending")})
        r = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(provider.sign_transaction(tx).raw_transaction), timeout=60)
        assert r.status == 1, r
        print(r.blockNumber)
        """

    func client() throws -> PrivacyPlaneClient {
        let pem = try Array(Data(contentsOf: URL(fileURLWithPath: world.planeCertificate)))
        let certificate = try TLSKeyIdentity.certificate(pem: pem, what: "the plane's certificate")
        return PrivacyPlaneClient(
            url: try PlaneURL(plane.url),
            trust: .publicKey(sha256: try TLSKeyIdentity.sha256(of: certificate))
        )
    }

    static func unixNow() -> UInt64 { UInt64(Date().timeIntervalSince1970) }

    @Test func aRevokedRentalEndsTheLeaseAtTheFirstRenewalAfterThePlaneIndexedIt() async throws {
        let dataset = try #require((world.demo["datasets"] as? [String: String])?["admissions"])
        let image = try #require(world.demo["imageDigest"] as? String)
        let session = try await world.signIn(PlaneWorld.consumerKey, at: plane.url)
        let job = Keccak256.hash(utf8: "lease test job").hex
        // Secure tokens name their Computing Plane: none, or an address that is no operator, is refused.
        for audience in [nil, "0x00000000000000000000000000000000000000b7"] {
            var body: [String: Any] = ["dataset": dataset, "mode": "secure", "imageDigest": image, "jobId": job]
            body["audience"] = audience
            let (status, refusal) = try await PlaneWorld.call(plane.url, "/v1/tokens", body, session: session)
            #expect(status == 403, "\(refusal)")
            #expect((refusal["error"] as? [String: Any])?["code"] as? String == "audience_refused", "\(refusal)")
        }
        let (status, tokenJSON) = try await PlaneWorld.call(
            plane.url,
            "/v1/tokens",
            [
                "dataset": dataset, "mode": "secure", "imageDigest": image, "jobId": job,
                "audience": world.computingOperator,
            ],
            session: session
        )
        #expect(status == 200, "\(tokenJSON)")
        let token = try SignedAccessToken(json: tokenJSON)
        #expect(token.token.audience == (try Address(hex: world.computingOperator)))

        // The development sandbox: an X25519 key and the agent's secp256k1 key, both bound in REPORTDATA.
        let client = try client()
        let domain = try await client.tokenDomain()
        let sandbox = try X25519PrivateKey()
        let measurements = try Hex.decode(
            try ContribTool.python(
                "import hashlib; s=lambda t: hashlib.sha256(t.encode()).digest()[:24]*2; print((s('demo MRTD')+s('demo RTMR0')+s('demo RTMR1')+s('demo RTMR2')).hex())"
            ).trimmingCharacters(in: .whitespacesAndNewlines)
        )
        let hex = { (r: Range<Int>) in Hex.encode(Array(measurements[r]), prefix: false) }
        let reportData = KeyWrap.reportData(
            recipientKey: sandbox.publicKey,
            agentSigner: PlaneWorld.agentSigner,
            tokenHash: try token.token.signingHash(domain),
            imageDigest: token.token.imageDigest
        )
        let evidence =
            "{\"type\":\"delong-dev-insecure-v1\",\"mrTd\":\"\(hex(0..<48))\",\"rtmr\":[\"\(hex(48..<96))\",\"\(hex(96..<144))\",\"\(hex(144..<192))\",\"\(String(repeating: "00", count: 48))\"],\"reportData\":\"\(Hex.encode(reportData, prefix: false))\"}"
        let released = Self.unixNow()
        let response = try await client.release(
            KeyReleaseRequest(
                token: token,
                evidence: Array(evidence.utf8),
                sandboxKey: sandbox.publicKey,
                agentSigner: PlaneWorld.agentSigner
            )
        )
        #expect(try KeyWrap.unwrap(response.wrapped, recipient: sandbox, chainID: world.chainID) != nil)
        let lease = response.lease
        #expect(lease.id == (try token.token.signingHash(domain)))
        #expect(lease.renewEvery == 1, "a third of 5 s, rounded down")
        #expect(lease.expiresAt >= released + 5 && lease.expiresAt <= Self.unixNow() + 6, "\(lease)")

        // A renewal signed by another key is refused, and the lease still renews with the agent's key.
        await #expect {
            _ = try await client.renew(
                lease: lease.id,
                signerKey: Hex.decode(PlaneWorld.strangerKey),
                at: Self.unixNow()
            )
        } throws: { error in
            (error as? PlaneProtocolError)?.code == .leaseRevoked && "\(error)".contains("lease_refused")
        }
        let renewed = try await client.renew(lease: lease.id, signerKey: PlaneWorld.agentKey, at: Self.unixNow())
        #expect(renewed.id == lease.id && renewed.expiresAt >= lease.expiresAt)

        // The agent renews every second while the provider revokes the rental on chain.
        let outcome = Mutex<(renewals: Int, refusal: PlaneProtocolError?, at: ContinuousClock.Instant?)>((0, nil, nil))
        let agent = Task {
            while !Task.isCancelled {
                do throws(PlaneProtocolError) {
                    _ = try await client.renew(lease: lease.id, signerKey: PlaneWorld.agentKey, at: Self.unixNow())
                    outcome.withLock { $0.renewals += 1 }
                } catch {
                    outcome.withLock { $0 = ($0.renewals, error, ContinuousClock.now) }
                    return
                }
                try? await Task.sleep(for: .milliseconds(1000))
            }
        }
        try await Task.sleep(for: .milliseconds(1500))
        let block = try #require(
            UInt64(
                try ContribTool.python(Self.revokeRental, [world.devnet.url, world.deploymentPath, dataset])
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            )
        )
        let revoked = ContinuousClock.now
        for _ in 0..<100 where outcome.withLock({ $0.refusal == nil }) { try await Task.sleep(for: .milliseconds(100)) }
        agent.cancel()
        let (renewals, refusal, refusedAt) = outcome.withLock { $0 }
        #expect(renewals >= 1, "the lease was renewed before the revocation")
        let error = try #require(refusal, "no renewal was refused within 10 s of the revoking block")
        #expect(error.code == .leaseRevoked, "\(error)")
        #expect(error.refusal?.status == 403 && error.refusal?.envelope.code == "lease_revoked", "\(error)")
        // Refused on first sight: the block is still pending (--finality 1) when the plane refuses.
        #expect(error.reason.contains("the rental was revoked in block \(block) (pending, final head"), "\(error)")
        if let refusedAt { #expect(refusedAt - revoked < .seconds(5), "refused within the lease") }

        // The lease is over for good; an unknown lease (e.g. after a plane restart) is refused too.
        await #expect {
            _ = try await client.renew(lease: lease.id, signerKey: PlaneWorld.agentKey, at: Self.unixNow())
        } throws: { ($0 as? PlaneProtocolError)?.code == .leaseRevoked }
        await #expect {
            _ = try await client.renew(
                lease: Keccak256.hash(utf8: "no such lease"),
                signerKey: PlaneWorld.agentKey,
                at: Self.unixNow()
            )
        } throws: { ($0 as? PlaneProtocolError)?.code == .leaseExpired && "\($0)".contains("unknown_lease") }

        let metrics = try await httpGet(plane.url + "/metrics")
        #expect(metrics.body.contains("delong_leases_active 0\n"), "\(metrics.body)")
        #expect(metrics.body.contains("delong_lease_renewals_refused_total{reason=\"revoked\"} 2"), "\(metrics.body)")
        #expect(metrics.body.contains("delong_lease_renewals_refused_total{reason=\"signature\"} 1"))
        #expect(metrics.body.contains("delong_lease_renewals_total \(renewals + 1)\n"), "\(metrics.body)")
    }
}

/// The options around leases and audiences are refused (usage error, 64) before anything is sent: a secure
/// token needs `--audience`, an explore token has none, and leases last 3…600 s.
@Suite struct PrivacyLeaseOptionsTests {
    static let token = [
        "privacy", "token", "--plane", "https://127.0.0.1:1", "--session", "/nonexistent/session", "--dataset",
        "0x" + String(repeating: "11", count: 32), "--out", "/nonexistent/token.json",
    ]

    @Test func aSecureTokenNeedsAnAudienceAndAnExploreTokenHasNone() throws {
        let missing = try DelongProcess.run(Self.token + ["--mode", "secure"])
        #expect(missing.status == 64, "\(missing.stderr)")
        #expect(
            missing.stderr.contains("--audience: expected the Computing Plane's operator address"),
            "\(missing.stderr)"
        )
        let malformed = try DelongProcess.run(Self.token + ["--mode", "secure", "--audience", "0x12"])
        #expect(malformed.status == 64 && malformed.stderr.contains("found \"0x12\""), "\(malformed.stderr)")
        let explore = try DelongProcess.run(
            Self.token + ["--mode", "explore", "--audience", "0x" + String(repeating: "22", count: 20)]
        )
        #expect(
            explore.status == 64 && explore.stderr.contains("only secure tokens have an audience"),
            "\(explore.stderr)"
        )
    }

    @Test func leaseSecondsOutsideThreeToSixHundredAreRefused() throws {
        for seconds in ["2", "601"] {
            let r = try DelongProcess.run([
                "privacy", "serve", "--rpc", "http://127.0.0.1:1", "--contracts", "/nonexistent", "--checkpoint",
                "0:0x" + String(repeating: "00", count: 32), "--data-dir", "/nonexistent", "--signing-key",
                "/nonexistent", "--root-secret", "file:/nonexistent", "--domain", "d", "--lease-seconds", seconds,
            ])
            #expect(r.status == 64, "\(r.stderr)")
            #expect(r.stderr.contains("--lease-seconds: expected 3…600, found \(seconds)"), "\(r.stderr)")
        }
    }
}
