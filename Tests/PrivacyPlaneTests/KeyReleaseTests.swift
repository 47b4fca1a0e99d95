import ChainCore
import ChainRecords
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import Synchronization
import TestSupport
import Testing

extension InMemoryRecords {
    /// A chain at head 100 with block 96 final.
    static func empty() -> InMemoryRecords {
        InMemoryRecords(.init(head: IndexHead(number: 100, hash: Keccak256.hash(utf8: "head 100")), final: 96))
    }

    static func origin(_ block: UInt64) -> RecordOrigin {
        RecordOrigin(blockNumber: block, blockHash: Keccak256.hash(utf8: "block \(block)"), logIndex: 0)
    }
}

/// A test double for attestation: evidence is JSON {kind, reportData, measurement} taken at face value. The
/// real verifiers (TDX DCAP, development evidence) are tested in AttestationTests; here only the key
/// release's own checks are under test.
struct FaceValueEvidence: EvidenceVerifier {
    func verify(_ evidence: [UInt8], now: UInt64) throws(PrivacyPlaneError) -> AttestedSandbox {
        guard let o = try? JSONSerialization.jsonObject(with: Data(evidence)) as? [String: String],
            let kind = o["kind"], let reportData = try? Hex.decode(o["reportData"] ?? ""),
            let measurement = try? Hash32(hex: o["measurement"] ?? "")
        else { throw PrivacyPlaneError(.attestationRefused, "unparsable test evidence") }
        return AttestedSandbox(
            kind: kind == "dev" ? .developmentInsecure : .tdx,
            evidenceHash: Hash32(unchecked: Digest.sha256(evidence)),
            reportData: reportData,
            measurementDigests: [measurement],
            tcbStatus: "UpToDate"
        )
    }

    static func make(kind: String = "tdx", reportData: [UInt8], measurement: Hash32) -> [UInt8] {
        Array(
            try! JSONSerialization.data(
                withJSONObject: ["kind": kind, "reportData": Hex.encode(reportData), "measurement": measurement.hex]
            )
        )
    }
}

extension Hash32 {
    init(unchecked bytes: [UInt8]) { self = try! Hash32(bytes) }
}

@Suite struct KeyReleaseTests {
    static let planeKey = Keccak256.hash(utf8: "delong privacy plane test key").bytes
    static let domain = TokenDomain(
        chainID: 31337,
        verifyingContract: try! Address(hex: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
    )
    static let consumer = try! Address(hex: "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc")
    static let provider = try! Address(hex: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    static let dataset = Keccak256.hash(utf8: "admissions")
    /// A consistent published pair: the image digest of this runtime and bundle, and the locator naming both.
    static let locator = DALocator(bundle: Keccak256.hash(utf8: "bundle"), runtime: Keccak256.hash(utf8: "runtime"))
    static let image = locator.imageDigest
    static let job = Keccak256.hash(utf8: "job 1")
    static let measurement = Keccak256.hash(utf8: "runner measurement")
    static let now: UInt64 = 1_800_000_000
    static let rentalKey = DeLongEvent.RentalKey(datasetID: dataset, consumer: consumer)
    /// The Computing Plane secure tokens are for: an operator authorized in a final block.
    static let computingOperator = try! Address(hex: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
    /// The sandbox agent's ephemeral secp256k1 key (signs lease renewals).
    static let agentKey = Keccak256.hash(utf8: "sandbox agent key").bytes
    static let agent = try! Secp256k1.shared.address(privateKey: agentKey)

    let index = InMemoryRecords.empty()
    let dir: URL
    let root = SecretBytes(copying: Keccak256.hash(utf8: "root secret").bytes)
    static let dataMarket = try! Address(hex: "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    static let deployment = DatasetKeys.Deployment(chainID: domain.chainID, dataMarket: dataMarket)
    var keys: DatasetKeys { DatasetKeys(root: root, deployment: Self.deployment) }

    init() throws {
        dir = try DelongProcess.temporaryDirectory()
        index.content.withLock { c in
            c.datasets[Self.dataset] = DatasetRecord(
                id: Self.dataset,
                provider: Self.provider,
                manifestDigest: Keccak256.hash(utf8: "manifest"),
                pricePerSecond: U256(1),
                sampleLocator: "s3://sample",
                metadataURI: "ipfs://meta",
                retired: false,
                registered: InMemoryRecords.origin(10),
                updated: InMemoryRecords.origin(10)
            )
            c.rentals[Self.rentalKey] = RentalRecord(
                datasetID: Self.dataset,
                consumer: Self.consumer,
                provider: Self.provider,
                startedAt: Self.now - 100,
                expiresAt: Self.now + 86_400,
                paid: U256(86_500),
                status: .active,
                refund: U256(0),
                updated: InMemoryRecords.origin(20)
            )
            c.algorithms[Self.image] = AlgorithmRecord(
                imageDigest: Self.image,
                publisher: Self.consumer,
                bundleDigest: Self.locator.bundle,
                daLocator: ChainText(Self.locator.description),
                published: InMemoryRecords.origin(30)
            )
            c.measurements[Self.measurement] = MeasurementRecord(
                digest: Self.measurement,
                measurements: [],
                label: "runner v1",
                trusted: true,
                updated: InMemoryRecords.origin(5)
            )
            c.operators[Self.computingOperator] = OperatorRecord(
                address: Self.computingOperator,
                authorized: true,
                updated: InMemoryRecords.origin(3)
            )
        }
    }

    func issuer() throws -> TokenIssuer {
        try TokenIssuer(reader: index, domain: Self.domain, signingKey: SecretBytes(copying: Self.planeKey))
    }

    func release(
        allowDevelopment: Bool = false,
        log: ReceiptLog? = nil,
        keys: DatasetKeys? = nil,
        leases: KeyLeases? = nil
    ) throws -> KeyRelease {
        let issuer = try issuer()
        return KeyRelease(
            reader: index,
            tokens: TokenVerifier(domain: Self.domain, signer: issuer.signer),
            evidence: FaceValueEvidence(),
            receipts: try log ?? receiptLog(),
            keys: keys ?? self.keys,
            allowDevelopmentEvidence: allowDevelopment,
            leases: leases,
            logger: nil
        )
    }

    func receiptLog(_ name: String = "receipts.log") throws -> ReceiptLog {
        try ReceiptLog(
            path: dir.appendingPathComponent(name).path,
            domain: Self.domain,
            signingKey: SecretBytes(copying: Self.planeKey)
        )
    }

    func secureToken() throws -> SignedAccessToken {
        try issuer().issue(
            for: Self.consumer,
            TokenRequest(
                dataset: Self.dataset,
                mode: .secure,
                imageDigest: Self.image,
                jobID: Self.job,
                audience: Self.computingOperator
            ),
            now: Self.now
        )
    }

    /// A request whose evidence binds `sandbox`'s key, the agent signer, the token and the image digest, as a
    /// sandbox must.
    func request(
        _ token: SignedAccessToken,
        sandbox: X25519PrivateKey,
        kind: String = "tdx",
        measurement: Hash32 = measurement,
        agent: Address = agent
    ) throws -> KeyReleaseRequest {
        let reportData = KeyWrap.reportData(
            recipientKey: sandbox.publicKey,
            agentSigner: agent,
            tokenHash: try token.token.signingHash(Self.domain),
            imageDigest: token.token.imageDigest
        )
        return KeyReleaseRequest(
            token: token,
            evidence: FaceValueEvidence.make(kind: kind, reportData: reportData, measurement: measurement),
            sandboxKey: sandbox.publicKey,
            agentSigner: agent
        )
    }

    func expectRefusal(
        _ code: PrivacyPlaneError.Code,
        _ body: () async throws -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        do {
            try await body()
            Issue.record("expected \(code), but it succeeded", sourceLocation: sourceLocation)
        } catch let error as PrivacyPlaneError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected \(code), found \(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Token issuance

    @Test func tokensFollowTheRentalAndTheAlgorithmOnChain() throws {
        let issuer = try issuer()
        let explore = try issuer.issue(
            for: Self.consumer,
            TokenRequest(dataset: Self.dataset, mode: .explore, audience: Self.computingOperator),
            now: Self.now
        )
        #expect(explore.token.expiry == Self.now + issuer.exploreLifetime)
        let secure = try secureToken()
        #expect(secure.token.expiry == Self.now + issuer.maxJobDuration)
        #expect(secure.token.nonce != explore.token.nonce)
        let verifier = TokenVerifier(domain: Self.domain, signer: issuer.signer)
        guard case .verified = verifier.verify(secure, now: Self.now) else {
            Issue.record("issued token does not verify")
            return
        }
        // The token is for the signed-in address only: the provider has no rental of its own dataset.
        #expect(throws: PrivacyPlaneError(.rentalInactive, "")) {
            _ = try issuer.issue(
                for: Self.provider,
                TokenRequest(dataset: Self.dataset, mode: .explore, audience: Self.computingOperator),
                now: Self.now
            )
        }
    }

    @Test(arguments: [
        "no rental", "revoked", "expired", "unknown dataset", "retired", "pending rental", "too short",
        "unpublished", "pending algorithm", "inconsistent algorithm",
    ])
    func tokensAreRefusedWhenTheChainSaysNo(_ case: String) throws {
        let key = Self.rentalKey
        var mode = AccessToken.Mode.secure
        let expected: PrivacyPlaneError.Code
        index.content.withLock { c in
            switch `case` {
            case "no rental": c.rentals[key] = nil
            case "revoked": c.rentals[key]?.status = .revoked
            case "expired": c.rentals[key]?.expiresAt = Self.now
            case "unknown dataset": c.datasets[Self.dataset] = nil
            case "retired": c.datasets[Self.dataset]?.retired = true
            case "pending rental": c.rentals[key]?.updated = InMemoryRecords.origin(99)
            case "too short": c.rentals[key]?.expiresAt = Self.now + 600
            case "unpublished": c.algorithms[Self.image] = nil
            case "inconsistent algorithm": c.algorithms[Self.image]?.bundleDigest = Keccak256.hash(utf8: "other")
            default: c.algorithms[Self.image]?.published = InMemoryRecords.origin(98)
            }
        }
        switch `case` {
        case "unknown dataset", "retired": expected = .unknownDataset
        case "unpublished", "pending algorithm", "inconsistent algorithm": expected = .algorithmNotPublished
        default: expected = .rentalInactive
        }
        do {
            _ = try secureToken()
            Issue.record("\(`case`): a token was issued")
        } catch {
            #expect((error as? PrivacyPlaneError)?.code == expected, "\(`case`): \(error)")
        }
        // Explore tokens need a final active rental, but neither a long one nor a published algorithm.
        mode = .explore
        let exploring = Result { () throws in
            try issuer().issue(
                for: Self.consumer,
                TokenRequest(dataset: Self.dataset, mode: mode, audience: Self.computingOperator),
                now: Self.now
            )
        }
        if ["too short", "unpublished", "pending algorithm", "inconsistent algorithm"].contains(`case`) {
            #expect(throws: Never.self) { _ = try exploring.get() }
        } else {
            #expect(throws: PrivacyPlaneError.self, "\(`case`): an explore token was issued") {
                _ = try exploring.get()
            }
        }
    }

    // MARK: Key release

    /// The sandbox opens the wrapped key to exactly the DEK the provider sealed with; so does an independent
    /// X25519 + HKDF + AES-GCM written with Python's `cryptography`.
    @Test func aSandboxGetsTheDatasetKeyAndAReceipt() async throws {
        let plane = try release()
        let sandbox = try X25519PrivateKey()
        let token = try secureToken()
        let response = try await plane.release(try request(token, sandbox: sandbox), now: Self.now + 1)
        let dek = try keys.dek(datasetID: Self.dataset, keyVersion: 1)
        let opened = try #require(try KeyWrap.unwrap(response.wrapped, recipient: sandbox, chainID: 31337))
        #expect(opened.constantTimeEquals(dek))
        // The wrap binds the chain id: the same wrapped key does not open for a recipient expecting another chain.
        for chain: UInt64 in [1, 31336, 31337 + (1 << 32)] {
            #expect(try KeyWrap.unwrap(response.wrapped, recipient: sandbox, chainID: chain) == nil)
        }

        let w = response.wrapped
        let script = """
            import sys, hashlib
            from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            sk, plane, token, evidence, nonce, sealed, dataset, version, chain = sys.argv[1:10]
            me = X25519PrivateKey.from_private_bytes(bytes.fromhex(sk))
            mine = me.public_key().public_bytes_raw()
            label = b"delong/key-release/v2"
            transcript = hashlib.sha256(label + bytes.fromhex(token) + bytes.fromhex(evidence) + mine
                                        + bytes.fromhex(plane)).digest()
            shared = me.exchange(X25519PublicKey.from_public_bytes(bytes.fromhex(plane)))
            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=label, info=transcript).derive(shared)
            aad = transcript + int(chain).to_bytes(8, "big") + bytes.fromhex(dataset) + int(version).to_bytes(4, "big")
            print(AESGCM(key).decrypt(bytes.fromhex(nonce), bytes.fromhex(sealed), aad).hex())
            """
        let sandboxSecret = Keccak256.hash(utf8: "sandbox key").bytes
        let fixedSandbox = try X25519PrivateKey(secret: SecretBytes(copying: sandboxSecret))
        let second = try await plane.release(try request(try secureToken(), sandbox: fixedSandbox), now: Self.now + 2)
        let s = second.wrapped
        let reference = try ContribTool.systemPython(
            script,
            [
                Hex.encode(sandboxSecret, prefix: false), Hex.encode(s.planeKey, prefix: false),
                Hex.encode(s.tokenHash.bytes, prefix: false), Hex.encode(s.evidenceHash.bytes, prefix: false),
                Hex.encode(s.nonce, prefix: false), Hex.encode(s.sealed, prefix: false),
                Hex.encode(s.dataset.bytes, prefix: false), "\(s.keyVersion)", "31337",
            ]
        )
        #expect(
            reference.trimmingCharacters(in: .whitespacesAndNewlines)
                == dek.withUnsafeBytes { Hex.encode(Array($0), prefix: false) }
        )
        #expect(w.planeKey != s.planeKey, "each release uses a fresh plane key")

        // The receipts: chained, signed by the plane, naming token, evidence and the verified head.
        #expect(response.receipt.receipt.sequence == 0 && second.receipt.receipt.sequence == 1)
        #expect(second.receipt.receipt.previous == response.receipt.hash)
        #expect(response.receipt.receipt.token == (try token.token.signingHash(Self.domain)))
        #expect(response.receipt.receipt.blockNumber == 100)
        let signer = try Secp256k1.shared.recoverAddress(response.receipt.hash, response.receipt.signature)
        #expect(signer == (try issuer().signer))
    }

    /// eth-account computes the same EIP-712 hash for the receipt and recovers the plane's signer from it.
    @Test func receiptsVerifyWithEthAccount() async throws {
        let plane = try release()
        let response = try await plane.release(
            try request(try secureToken(), sandbox: X25519PrivateKey()),
            now: Self.now
        )
        let line = try String(contentsOf: dir.appendingPathComponent("receipts.log"), encoding: .utf8)
            .split(separator: "\n")[1]
        let script = """
            import json, sys
            from eth_account import Account
            from eth_account.messages import encode_typed_data
            entry = json.loads(sys.argv[1])
            r = entry["receipt"]
            ints = {"sequence", "kind", "blockNumber", "evidenceKind", "keyVersion", "releasedAt"}
            types = [("sequence", "uint64"), ("previous", "bytes32"), ("kind", "uint8"), ("rental", "bytes32"),
                     ("dataset", "bytes32"), ("recipient", "address"), ("blockNumber", "uint64"),
                     ("blockHash", "bytes32"), ("token", "bytes32"), ("evidence", "bytes32"),
                     ("evidenceKind", "uint8"), ("imageDigest", "bytes32"), ("jobId", "bytes32"),
                     ("keyVersion", "uint32"), ("releasedAt", "uint64")]
            message = {k: (int(r[k]) if k in ints else r[k]) for k, _ in types}
            doc = {"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                              {"name": "chainId", "type": "uint256"},
                                              {"name": "verifyingContract", "type": "address"}],
                             "DeLongKeyRelease": [{"name": n, "type": t} for n, t in types]},
                   "primaryType": "DeLongKeyRelease",
                   "domain": {"name": "DeLong Privacy Plane", "version": "1", "chainId": 31337,
                              "verifyingContract": sys.argv[2]},
                   "message": message}
            from eth_utils import to_checksum_address
            message["recipient"] = to_checksum_address(message["recipient"])
            print(Account.recover_message(encode_typed_data(full_message=doc), signature=entry["signature"]))
            """
        let recovered = try ContribTool.python(script, [String(line), Self.domain.verifyingContract.checksummed])
        #expect(recovered.trimmingCharacters(in: .whitespacesAndNewlines) == (try issuer().signer).checksummed)
        #expect(response.receipt.receipt.kind == .sandbox)
    }

    @Test func aTokenReleasesAKeyOnceEvenAcrossRestarts() async throws {
        let token = try secureToken()
        do {
            let plane = try release()
            _ = try await plane.release(try request(token, sandbox: X25519PrivateKey()), now: Self.now)
            await expectRefusal(.tokenAlreadyUsed) {
                _ = try await plane.release(try request(token, sandbox: X25519PrivateKey()), now: Self.now)
            }
        }
        // A new process replays the log: the token is still used.
        let reopened = try release()
        await expectRefusal(.tokenAlreadyUsed) {
            _ = try await reopened.release(try request(token, sandbox: X25519PrivateKey()), now: Self.now)
        }
        #expect(reopened.receipts.count == 1)
    }

    @Test func everyCheckRefusesOnItsOwn() async throws {
        let plane = try release()
        let sandbox = try X25519PrivateKey()
        let token = try secureToken()
        // Evidence bound to another key.
        var wrongBinding = try request(token, sandbox: sandbox)
        wrongBinding.sandboxKey = try X25519PrivateKey().publicKey
        await expectRefusal(.bindingMismatch) { _ = try await plane.release(wrongBinding, now: Self.now) }
        // Measurements not on the allow-list; trusted only in a pending block; revoked.
        let other = Keccak256.hash(utf8: "unknown runner")
        await expectRefusal(.attestationRefused) {
            _ = try await plane.release(try request(token, sandbox: sandbox, measurement: other), now: Self.now)
        }
        index.content.withLock { $0.measurements[Self.measurement]?.updated = InMemoryRecords.origin(99) }
        await expectRefusal(.attestationRefused) {
            _ = try await plane.release(try request(token, sandbox: sandbox), now: Self.now)
        }
        index.content.withLock {
            $0.measurements[Self.measurement]?.updated = InMemoryRecords.origin(6)
            $0.measurements[Self.measurement]?.trusted = false
        }
        await expectRefusal(.attestationRefused) {
            _ = try await plane.release(try request(token, sandbox: sandbox), now: Self.now)
        }
        index.content.withLock { $0.measurements[Self.measurement]?.trusted = true }
        // Development evidence without the flag.
        await expectRefusal(.attestationRefused) {
            _ = try await plane.release(try request(token, sandbox: sandbox, kind: "dev"), now: Self.now)
        }
        // An explore token; a token signed by someone else; an expired token.
        let explore = try issuer().issue(
            for: Self.consumer,
            TokenRequest(dataset: Self.dataset, mode: .explore, audience: Self.computingOperator),
            now: Self.now
        )
        await expectRefusal(.tokenRefused) {
            _ = try await plane.release(try request(explore, sandbox: sandbox), now: Self.now)
        }
        let forged = try SignedAccessToken(
            signing: token.token,
            domain: Self.domain,
            privateKey: Keccak256.hash(utf8: "x").bytes
        )
        await expectRefusal(.tokenRefused) {
            _ = try await plane.release(try request(forged, sandbox: sandbox), now: Self.now)
        }
        await expectRefusal(.tokenRefused) {
            _ = try await plane.release(try request(token, sandbox: sandbox), now: token.token.expiry)
        }
        // A low-order sandbox key (all zeros) and a short one.
        var zero = try request(token, sandbox: sandbox)
        zero.sandboxKey = [UInt8](repeating: 0, count: 32)
        zero.evidence = FaceValueEvidence.make(
            reportData: KeyWrap.reportData(
                recipientKey: zero.sandboxKey,
                agentSigner: Self.agent,
                tokenHash: try token.token.signingHash(Self.domain),
                imageDigest: Self.image
            ),
            measurement: Self.measurement
        )
        await expectRefusal(.badRequest) { _ = try await plane.release(zero, now: Self.now) }
        var short = try request(token, sandbox: sandbox)
        short.sandboxKey = [1, 2, 3]
        await expectRefusal(.badRequest) { _ = try await plane.release(short, now: Self.now) }
        // The provider revoked the rental after the token was issued: checked again at release.
        index.content.withLock {
            $0.rentals[Self.rentalKey]?.status = .revoked
        }
        await expectRefusal(.rentalInactive) {
            _ = try await plane.release(try request(token, sandbox: sandbox), now: Self.now)
        }
        #expect(plane.receipts.count == 0, "no refused request left a receipt")
        #expect(
            !plane.receipts.isUsed(token: try token.token.signingHash(Self.domain)),
            "refusals do not burn the token"
        )
    }

    @Test func developmentEvidenceIsAcceptedOnlyWithTheFlagAndIsRecordedAsSuch() async throws {
        let plane = try release(allowDevelopment: true)
        let response = try await plane.release(
            try request(try secureToken(), sandbox: X25519PrivateKey(), kind: "dev"),
            now: Self.now
        )
        #expect(response.receipt.receipt.evidenceKind == .developmentInsecure)
    }

    @Test func inMigrationModeTheProviderGetsTheV1KeyAndSandboxesStillGetV2() async throws {
        let migrating = DatasetKeys(root: root, deployment: Self.deployment, servesV1ToProviders: true)
        let plane = try release(keys: migrating)
        let recipient = try X25519PrivateKey()
        let provider = try await plane.providerKey(
            for: Self.provider,
            dataset: Self.dataset,
            keyVersion: 1,
            recipientKey: recipient.publicKey,
            now: Self.now
        )
        let v1 = try #require(try KeyWrap.unwrap(provider.wrapped, recipient: recipient, chainID: 31337))
        #expect(v1.constantTimeEquals(try DatasetKeys.dekV1(root: root, datasetID: Self.dataset, keyVersion: 1)))
        #expect(!v1.constantTimeEquals(try keys.dek(datasetID: Self.dataset, keyVersion: 1)))
        let sandbox = try X25519PrivateKey()
        let released = try await plane.release(try request(try secureToken(), sandbox: sandbox), now: Self.now)
        let v2 = try #require(try KeyWrap.unwrap(released.wrapped, recipient: sandbox, chainID: 31337))
        #expect(v2.constantTimeEquals(try keys.dek(datasetID: Self.dataset, keyVersion: 1)))
        // Without migration mode the provider gets the v2 key.
        let normalPlane = try release(log: try receiptLog("normal.log"))
        let normal = try await normalPlane.providerKey(
            for: Self.provider,
            dataset: Self.dataset,
            keyVersion: 1,
            recipientKey: recipient.publicKey,
            now: Self.now
        )
        let current = try #require(try KeyWrap.unwrap(normal.wrapped, recipient: recipient, chainID: 31337))
        #expect(current.constantTimeEquals(v2))
    }

    @Test func theProviderAloneGetsItsDatasetKey() async throws {
        let plane = try release()
        let recipient = try X25519PrivateKey()
        let response = try await plane.providerKey(
            for: Self.provider,
            dataset: Self.dataset,
            keyVersion: 1,
            recipientKey: recipient.publicKey,
            now: Self.now
        )
        let opened = try #require(try KeyWrap.unwrap(response.wrapped, recipient: recipient, chainID: 31337))
        #expect(opened.constantTimeEquals(try keys.dek(datasetID: Self.dataset, keyVersion: 1)))
        #expect(response.receipt.receipt.kind == .provider)
        await expectRefusal(.forbidden) {
            _ = try await plane.providerKey(
                for: Self.consumer,
                dataset: Self.dataset,
                keyVersion: 1,
                recipientKey: recipient.publicKey,
                now: Self.now
            )
        }
    }

    // MARK: Receipt log

    @Test func concurrentReleasesShareFlushesAndKeepTheChain() async throws {
        let plane = try release()
        let tokens = try (0..<64).map { _ in try secureToken() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for token in tokens {
                group.addTask {
                    _ = try await plane.release(try request(token, sandbox: X25519PrivateKey()), now: Self.now)
                }
            }
            try await group.waitForAll()
        }
        #expect(plane.receipts.count == 64)
        // Reopening replays and checks the whole chain.
        let log = try receiptLogReopened(plane)
        #expect(log.count == 64)
    }

    /// 64 sandboxes present one token at once: exactly one gets a key (and a receipt); every other one is
    /// refused as a reuse, before any key leaves the plane.
    @Test func sixtyFourConcurrentReleasesOfOneTokenYieldExactlyOneKey() async throws {
        let plane = try release()
        let token = try secureToken()
        let requests = try (0..<64).map { _ in try request(token, sandbox: X25519PrivateKey()) }
        let outcomes = await withTaskGroup(of: Result<KeyReleaseResponse, PrivacyPlaneError>.self) { group in
            for request in requests {
                group.addTask {
                    do throws(PrivacyPlaneError) {
                        return .success(try await plane.release(request, now: Self.now))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var all: [Result<KeyReleaseResponse, PrivacyPlaneError>] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let keys = outcomes.compactMap { try? $0.get() }
        #expect(keys.count == 1)
        let refusals = outcomes.compactMap { if case .failure(let e) = $0 { e.code } else { nil } }
        #expect(refusals.count == 63 && refusals.allSatisfy { $0 == .tokenAlreadyUsed }, "\(refusals)")
        #expect(plane.receipts.count == 1)
        #expect(keys.first?.receipt.receipt.token == (try token.token.signingHash(Self.domain)))
        #expect(try receiptLogReopened(plane).count == 1)
    }

    func receiptLogReopened(_ plane: KeyRelease) throws -> ReceiptLog {
        let path = plane.receipts.path
        return try withExtendedLifetime(plane) { () throws -> ReceiptLog in
            // The plane holds the lock; copy the file to reopen it independently.
            let copy = dir.appendingPathComponent("copy.log").path
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            return try ReceiptLog(path: copy, domain: Self.domain, signingKey: SecretBytes(copying: Self.planeKey))
        }
    }

    @Test func anEditedRemovedOrTornReceiptIsDetected() async throws {
        let plane = try release()
        for _ in 0..<3 {
            _ = try await plane.release(try request(try secureToken(), sandbox: X25519PrivateKey()), now: Self.now)
        }
        let original = try String(contentsOf: URL(fileURLWithPath: plane.receipts.path), encoding: .utf8)
        var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func reopen(_ text: String) throws -> ReceiptLog {
            let path = dir.appendingPathComponent("t-\(UUID().uuidString).log")
            try text.write(to: path, atomically: false, encoding: .utf8)
            return try ReceiptLog(path: path.path, domain: Self.domain, signingKey: SecretBytes(copying: Self.planeKey))
        }
        #expect(try reopen(original).count == 3)
        // Torn last line (a crash mid-write): cut, the rest stands.
        #expect(try reopen(original + "{\"receipt\":").count == 3)
        // An edited field no longer matches its hash.
        let edited = lines[2].replacingOccurrences(of: "\"keyVersion\":\"1\"", with: "\"keyVersion\":\"2\"")
        #expect(edited != lines[2])
        var tampered = lines
        tampered[2] = edited
        #expect(throws: PrivacyPlaneError(.corruptStore, "")) { _ = try reopen(tampered.joined(separator: "\n")) }
        // A removed receipt breaks the chain.
        lines.remove(at: 2)
        #expect(throws: PrivacyPlaneError(.corruptStore, "")) { _ = try reopen(lines.joined(separator: "\n")) }
    }
}

extension KeyReleaseTests {
    /// The plane owns the token decision and asks the caller's admission at the two points it knows who is
    /// asking: a forged token (counted as anonymous) and a verified one (counted against its consumer). A
    /// refusal by either is `rateLimited` and uses nothing: the token still releases once admitted.
    @Test func keyReleaseAsksAdmissionForForgeriesAndForTheVerifiedConsumer() async throws {
        let plane = try release()
        let token = try secureToken()
        let asked = Mutex<[String]>([])
        let closed = ReleaseAdmission(
            forged: {
                asked.withLock { $0.append("forged") }
                return false
            },
            consumer: { consumer in
                asked.withLock { $0.append(consumer.checksummed) }
                return false
            }
        )
        // A token signed by someone else: the forgery limit decides between 429 and 401.
        let forger = Keccak256.hash(utf8: "not the plane").bytes
        let forged = try SignedAccessToken(signing: token.token, domain: Self.domain, privateKey: forger)
        await expectRefusal(.rateLimited) {
            _ = try await plane.release(
                try request(forged, sandbox: X25519PrivateKey()),
                now: Self.now,
                admission: closed
            )
        }
        await expectRefusal(.tokenRefused) {
            _ = try await plane.release(try request(forged, sandbox: X25519PrivateKey()), now: Self.now)
        }
        // A good token: the consumer's limit is asked with the token's consumer, and a refusal uses nothing.
        await expectRefusal(.rateLimited) {
            _ = try await plane.release(
                try request(token, sandbox: X25519PrivateKey()),
                now: Self.now,
                admission: closed
            )
        }
        #expect(asked.withLock { $0 } == ["forged", Self.consumer.checksummed])
        #expect(plane.receipts.count == 0)
        _ = try await plane.release(try request(token, sandbox: X25519PrivateKey()), now: Self.now)
        #expect(plane.receipts.count == 1)
    }

    /// Token issuing and key release read the chain through one `AccessChecks`: a rental revoked after a
    /// token was issued refuses the release with the same code the issuer would give.
    @Test func issuerAndReleaseShareOneSetOfChecks() async throws {
        let plane = try release()
        let issuer = try issuer()
        #expect(plane.checks.signer == issuer.checks.signer)
        let token = try secureToken()
        index.content.withLock { $0.rentals[Self.rentalKey]?.status = .revoked }
        await expectRefusal(.rentalInactive) {
            _ = try await plane.release(try request(token, sandbox: X25519PrivateKey()), now: Self.now)
        }
        await expectRefusal(.rentalInactive) { _ = try secureToken() }
    }
}
