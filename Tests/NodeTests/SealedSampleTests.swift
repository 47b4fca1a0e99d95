import ChainCore
import ComputingPlane
import Foundation
import PlaneCrypto
import PlaneProtocol
import TestSupport
import Testing

/// Sealed samples on the devnet (docs/explore.md, "Sealed samples"; docs/privacy-plane.md, "Sample keys"): the
/// provider registers the sample as a dataset of its own, seals it under that dataset's key and publishes it;
/// a Computing Plane admits an explore token only after the sealed bytes match the on-chain digest, with the key
/// the Privacy Plane releases for that token, and the files it mounts are the sample's. The Privacy Plane's rule
/// is then driven directly, as a Computing Plane would (development evidence): a secure token, an explore token
/// for another dataset, a locator naming another provider's dataset and the parent's own key are all refused.
/// Needs root and the explore runtime, like ExploreTests.
@Suite(.serialized) struct SealedSampleTests {
    static let sampleID = Keccak256.hash(utf8: "delong/test/sample-of-admissions").hex
    static let genomics = Keccak256.hash(utf8: "delong/demo/dataset/genomics").hex

    @Test func aSealedSampleIsCheckedBeforeItsKeyIsAskedForAndOnlyAnExploreTokenOfItsParentOpensIt() async throws {
        let w = try ComputeWorld()
        let sample = w.path("sample")
        try w.run([
            "dataset", "sample", w.path("plain"), "--policy", w.path("plain/delong-policy.json"), "--out", sample,
            "--rows", "120", "--k", "5", "--seed", "7",
        ])
        // The provider registers the sample as its own dataset and fetches that dataset's key.
        try w.call(
            as: "demoProviders:0",
            "DataMarket",
            "registerDataset",
            [Self.sampleID, Keccak256.hash(utf8: "sample manifest").hex, "1", "", "sample of admissions"]
        )
        try await mine(w, w.privacy)
        try w.run([
            "privacy", "provider-key", "--plane", w.privacy.url, "--allow-insecure-plane-evidence", "--session",
            w.path("provider.session"), "--dataset", Self.sampleID, "--out", w.path("sample.dek"),
        ])
        func publish(under: String, _ extra: [String] = []) throws -> DelongProcess.Result {
            try w.run(
                [
                    "dataset", "publish-sample", sample, "--dataset", w.dataset, "--da", w.da, "--rpc",
                    w.world.devnet.url, "--contracts", w.world.deploymentPath, "--wallet-key",
                    w.path("provider.key"), "--sealed-under", under, "--key-file", w.path("sample.dek"), "--json",
                ] + extra,
                allowFailure: true
            )
        }
        // Not under the dataset's own id (its key opens the full data), nor under another provider's dataset.
        let own = try publish(under: w.dataset)
        #expect(own.status == 2 && own.stderr.contains("own"), "\(own.stderr)")
        let foreign = try publish(under: Self.genomics)
        #expect(foreign.status == 1 && foreign.stderr.contains("belongs to"), "\(foreign.stderr)")
        let published = try publish(under: Self.sampleID)
        #expect(published.status == 0, "\(published.stderr)")
        let locator = try #require(published.json?["sampleLocator"] as? String, "\(published.stdout)")
        let digest = try #require(published.json?["sampleDigest"] as? String)
        #expect(locator == "sample:sealed:\(Self.sampleID):\(digest)", "\(locator)")
        let daPath = try #require(published.json?["daPath"] as? String)
        let sealed = try Data(contentsOf: URL(fileURLWithPath: daPath))
        #expect(sealed.prefix(8) == Data("DLSEALED".utf8), "the DA store holds the sealed bytes")
        let archive = try PublishedSample.packed(directory: sample).archive
        #expect(sealed.range(of: Data(archive.prefix(512))) == nil, "no plaintext tar header in the sealed bytes")
        try await mine(w, w.privacy)

        let plane = try w.startCompute("sealed", ["--explore-poll", "1", "--explore-idle", "600"])
        try await w.waitForHead(of: plane)
        let token = try #require(try await w.jobBody(for: plane, image: "", explore: true).body["token"])

        // Tampered sealed bytes are refused on their digest, before any key is asked for: the same token then
        // opens the session once the bytes are back (a key release would have spent it).
        var tampered = sealed
        tampered[200] ^= 1
        try tampered.write(to: URL(fileURLWithPath: daPath))
        let refused = try await PlaneWorld.call(plane.url, "/v1/explore", ["token": token])
        #expect(refused.0 == 502 && "\(refused.1)".contains("sample_mismatch"), "\(refused)")
        try sealed.write(to: URL(fileURLWithPath: daPath))
        let started = try await PlaneWorld.call(plane.url, "/v1/explore", ["token": token])
        #expect(started.0 == 201, "\(started)")
        #expect(started.1["sampleDigest"] as? String == digest, "\(started.1)")

        // The plane mounts exactly the sample's files.
        let mounted = w.path("sealed-state/samples") + "/" + String(digest.dropFirst("sha256:".count))
        let expected = try PublishedSample.packed(directory: sample).entries.filter { $0.contents != nil }
        #expect(!expected.isEmpty)
        for entry in expected {
            let path = String(decoding: entry.path, as: UTF8.self)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: mounted + "/" + path))
            #expect([UInt8](bytes) == entry.contents, "\(path) differs from the sample")
        }
        if let session = started.1["session"] as? String, let control = started.1["control"] as? String {
            _ = try await httpRequest(
                plane.url + "/v1/explore/\(session)/stop",
                method: "POST",
                headers: [("Authorization", "Bearer \(control)")]
            )
        }
        #expect(plane.terminate(within: 60) == 0, "the plane stopped on SIGTERM")

        // The Privacy Plane's rule, driven as a Computing Plane drives it.
        let keys = try sampleKeys(w)
        func refusal(_ dataset: String, _ token: SignedAccessToken) async throws -> String {
            let id = try Hash32(hex: dataset)
            do {
                _ = try await keys.key(for: id, keyVersion: 1, token: token)
                return "released"
            } catch { return error.reason }
        }
        // An explore token for the parent gets the sample dataset's key: the one the provider sealed with.
        let key = try await keys.key(for: try Hash32(hex: Self.sampleID), keyVersion: 1, token: try await tokenFor(w))
        let dek = try Data(contentsOf: URL(fileURLWithPath: w.path("sample.dek")))
        #expect(key.withUnsafeBytes { Array($0) } == [UInt8](dek))
        // Never the parent's own key, on this path or on the job path.
        let own2 = try await refusal(w.dataset, try await tokenFor(w))
        #expect(own2.contains("own key"), "\(own2)")
        let explore = try await tokenFor(w)
        let client = try privacyClient(w)
        let agent = try X25519PrivateKey()
        let attester = try DevelopmentAttester(measurements: try Hex.decode(w.measurements))
        let fullKeyRequest = KeyReleaseRequest(
            token: explore,
            evidence: try attester.evidence(
                reportData: KeyWrap.reportData(
                    recipientKey: agent.publicKey,
                    agentSigner: PlaneWorld.agentSigner,
                    tokenHash: try explore.token.signingHash(try domain(w)),
                    imageDigest: .zero
                )
            ),
            sandboxKey: agent.publicKey,
            agentSigner: PlaneWorld.agentSigner
        )
        do {
            _ = try await client.release(fullKeyRequest)
            Issue.record("an explore token got the full dataset's key")
        } catch {
            #expect(error.refusal?.envelope.code == "token_refused", "\(error)")
        }
        // A secure token never gets a sample key.
        let image = try await w.publish(try w.bundle("noop", "print(1)\n"))
        let secure = try await refusal(Self.sampleID, try await tokenFor(w, image: image))
        #expect(secure.contains("token_refused") && secure.contains("explore token"), "\(secure)")
        // An explore token for another dataset (the consumer rents genomics): its locator names no such sample.
        try ContribTool.run([
            "contrib/contracts/call", "--rpc", w.world.devnet.url, "--deployment", w.world.deploymentPath, "--as",
            "demoConsumers:0", "DataMarket", "rent", Self.genomics, "600", "--value", "\(600 * 2_000_000_000)",
        ])
        try await mine(w, w.privacy)
        let other = try await refusal(Self.sampleID, try await tokenFor(w, dataset: Self.genomics))
        #expect(other.contains("forbidden") && other.contains("names no sealed sample"), "\(other)")
        // The parent's locator names a dataset of another provider.
        let manifest = try Data(
            contentsOf: URL(fileURLWithPath: w.datasets + "/" + w.dataset.dropFirst(2) + "/manifest.dlsealed")
        )
        try w.call(
            as: "demoProviders:0",
            "DataMarket",
            "updateDataset",
            [
                w.dataset, Hex.encode(Digest.sha256([UInt8](manifest))), "1000000000",
                "sample:sealed:\(Self.genomics):\(digest)", "m",
            ]
        )
        try await mine(w, w.privacy)
        let stranger = try await refusal(Self.genomics, try await tokenFor(w))
        #expect(stranger.contains("belongs to"), "\(stranger)")
    }

    /// Two empty blocks (the devnet mines only on transactions; finality is one block), then `service` at the head.
    func mine(_ w: ComputeWorld, _ service: ReadyService) async throws {
        _ = try await w.world.devnet.call("anvil_mine", params: "[\"0x2\"]")
        try await w.waitForHead(of: service)
    }

    func domain(_ w: ComputeWorld) throws -> TokenDomain {
        let registry = (w.world.deployment["AlgorithmRegistry"] as? [String: Any])?["address"] as? String ?? ""
        return TokenDomain(chainID: w.world.chainID, verifyingContract: try Address(hex: registry))
    }

    func privacyClient(_ w: ComputeWorld) throws -> PrivacyPlaneClient {
        let pem = [UInt8](try Data(contentsOf: URL(fileURLWithPath: w.world.planeCertificate)))
        let pinned = try TLSKeyIdentity.sha256(of: try TLSKeyIdentity.certificate(pem: pem, what: "the plane"))
        return PrivacyPlaneClient(url: try PlaneURL(w.privacy.url), trust: .publicKey(sha256: pinned))
    }

    /// What `compute serve` asks sample keys with, on the demo runner's development evidence.
    func sampleKeys(_ w: ComputeWorld) throws -> AttestedSampleKeys {
        let client = try privacyClient(w)
        return AttestedSampleKeys(
            privacyPlane: { client },
            attester: try DevelopmentAttester(measurements: try Hex.decode(w.measurements)),
            tokenDomain: try domain(w)
        )
    }

    /// The consumer's token for `dataset` (the parent by default) naming the demo's Computing Plane operator:
    /// an explore token, or a secure one for `image`.
    func tokenFor(_ w: ComputeWorld, dataset: String? = nil, image: String? = nil) async throws -> SignedAccessToken {
        let session = try String(contentsOfFile: w.path("consumer.session"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var request: [String: Any] = [
            "dataset": dataset ?? w.dataset, "mode": image == nil ? "explore" : "secure",
            "audience": w.world.computingOperator,
        ]
        if let image {
            request["imageDigest"] = image
            request["jobId"] = Keccak256.hash(Array(UUID().uuidString.utf8)).hex
        }
        let (status, json) = try await PlaneWorld.call(w.privacy.url, "/v1/tokens", request, session: session)
        #expect(status == 200, "\(json)")
        return try SignedAccessToken(json: json)
    }
}
