import Audit
import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import PlaneCrypto
import PlaneProtocol
import TestSupport
import Testing

/// `delong audit job` on the devnet (issue #17): a real Secure job, released after review, audits clean from
/// public data (the auditor's light-client index, the DA store, the consumer's ciphertext); then each link
/// is broken in turn and fails with its own message.
@Suite(.serialized) struct AuditTests {
    static let checkNames = [
        "jobRecorded", "algorithmPublished", "algorithmBundle", "rebuild", "evidenceBundle", "attestation",
        "measurements", "reportData", "resultRecord", "release", "receipt", "receiptPublished", "output",
    ]

    /// The checks of a verdict by name: (status, found).
    static func checks(_ verdict: [String: Any]?) -> [String: (status: String, found: String)] {
        var out: [String: (String, String)] = [:]
        for check in verdict?["checks"] as? [[String: Any]] ?? [] {
            out[check["name"] as? String ?? "?"] = (check["status"] as? String ?? "?", check["found"] as? String ?? "")
        }
        return out
    }

    static func failed(_ verdict: [String: Any]?) -> [String] {
        (verdict?["checks"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "failed" }.compactMap {
            $0["name"] as? String
        }
    }

    static func failed(_ verdict: AuditVerdict) -> [String] {
        verdict.checks.filter { $0.status == .failed }.map(\.name)
    }

    static func found(_ verdict: AuditVerdict, _ name: String) -> String {
        verdict.checks.first { $0.name == name }?.found ?? ""
    }

    /// The JobRecorded view a test gives the audit: the real index, except that the job names `recorded`
    /// (what an operator that recorded a tampered evidence bundle would have put on chain) or the chain id
    /// is another.
    struct Recorded: AuditRecords {
        let index: ChainIndex
        var recorded: JobRecord?
        var chainID: UInt64?
        var config: IndexConfig {
            var config = index.config
            if let chainID { config.chainID = chainID }
            return config
        }
        func finalNumber() throws -> UInt64 { try index.finalNumber() }
        func job(_ id: Hash32) throws -> JobRecord? { try recorded ?? index.job(id) }
        func algorithm(_ imageDigest: Hash32) throws -> AlgorithmRecord? { try index.algorithm(imageDigest) }
        func measurement(_ digest: Hash32) throws -> MeasurementRecord? { try index.measurement(digest) }
        func dataset(_ id: Hash32) throws -> DatasetRecord? { try index.dataset(id) }
        func privacySigner() throws -> SignerRecord? { try index.privacySigner() }
    }

    @Test func aReleasedJobAuditsCleanAndEachBrokenLinkFailsWithItsOwnMessage() async throws {
        let w = try ComputeWorld(receiptHeadEvery: 1)
        let plane = try w.startCompute()
        let bundle = try w.bundle("mean", ComputeJobTests.meanAge)
        _ = try await w.publish(bundle)
        let job = try w.submit(to: plane, bundle: bundle)
        let waiting = try w.waitForPhase(job, "inReview")
        #expect(waiting["phase"] as? String == "inReview", "\(waiting)")
        try w.setReviewers(on: plane, ["reviewer.key"], required: 2)
        try w.review("approve", job, on: plane)
        try w.review("approve", job, on: plane, key: "reviewer.key")
        let done = try w.waitForEnd(job)
        #expect(done["outcome"] as? String == "released", "\(done)")
        // Two more blocks make JobRecorded final at depth 1; the auditor syncs its own light client.
        _ = try await w.world.devnet.call("anvil_mine", params: "[\"0x2\"]")
        try w.syncConsumerIndex()
        let sealed = w.path("compute-state/results/\(job.dropFirst(2))/output.age")

        func audit(_ extra: [String], index: String = "consumer-index") throws -> DelongProcess.Result {
            try w.run(
                ["audit", "job", job, "--data-dir", w.path(index), "--da", w.da, "--json"] + extra,
                allowFailure: true
            )
        }

        // Clean: every check passed, in order, through the real binary.
        let clean = try audit(["--source", bundle, "--output", sealed])
        #expect(clean.status == 0, "\(clean.stdout)\n\(clean.stderr)")
        let cleanChecks = clean.json?["checks"] as? [[String: Any]] ?? []
        #expect(cleanChecks.compactMap { $0["name"] as? String } == Self.checkNames, "\(clean.stdout)")
        #expect(cleanChecks.allSatisfy { $0["status"] as? String == "passed" }, "\(clean.stdout)")
        #expect(clean.json?["insecure"] as? Bool == true)
        let byName = Self.checks(clean.json)
        #expect(byName["attestation"]?.found.contains("INSECURE development evidence") == true)
        #expect(byName["release"]?.found.hasPrefix("reviewed: gate verdict review") == true, "\(clean.stdout)")
        // The text verdict names every check, and --rpc syncs its own temporary index.
        let text = try w.run(["audit", "job", job, "--data-dir", w.path("consumer-index"), "--da", w.da])
        #expect(
            text.stdout.contains("[passed] receiptPublished") && text.stdout.contains("verdict: every check passed")
        )
        let viaRPC = try w.run(
            [
                "audit", "job", job, "--rpc", w.world.devnet.url, "--contracts", w.world.deploymentPath,
                "--checkpoint", "0:\(w.world.genesis)", "--da", w.da, "--json",
            ],
            allowFailure: true
        )
        #expect(viaRPC.status == 0, "\(viaRPC.stdout)\n\(viaRPC.stderr)")
        // Without the optional inputs, their checks are skipped and the audit still passes.
        let bare = try audit([])
        #expect(bare.status == 0 && Self.checks(bare.json)["rebuild"]?.status == "skipped", "\(bare.stdout)")

        // Another evidence bundle: one byte changed.
        let evidenceDigest = try #require(byName["evidenceBundle"]?.found.split(separator: " ").last?.dropFirst(2))
        var evidence = try [UInt8](Data(contentsOf: URL(fileURLWithPath: w.da + "/sha256/" + String(evidenceDigest))))
        #expect(Hex.encode(Digest.sha256(evidence), prefix: false) == String(evidenceDigest))
        evidence[evidence.count / 2] ^= 0x01
        try Data(evidence).write(to: URL(fileURLWithPath: w.path("other-evidence.json")))
        let otherBundle = try audit(["--evidence", w.path("other-evidence.json")])
        #expect(otherBundle.status == 1 && Self.failed(otherBundle.json) == ["evidenceBundle"], "\(otherBundle.stdout)")
        #expect(Self.checks(otherBundle.json)["evidenceBundle"]?.found.contains("hashes to") == true)
        // Another algorithm source.
        let otherSource = try w.bundle("other", ComputeJobTests.cleanMean)
        let rebuilt = try audit(["--source", otherSource])
        #expect(rebuilt.status == 1 && Self.failed(rebuilt.json) == ["rebuild"], "\(rebuilt.stdout)")
        #expect(Self.checks(rebuilt.json)["rebuild"]?.found.contains("packs to") == true)
        // A swapped output.
        let swapped = try audit(["--output", w.path("consumer-age.txt")])
        #expect(swapped.status == 1 && Self.failed(swapped.json) == ["output"], "\(swapped.stdout)")
        #expect(Self.checks(swapped.json)["output"]?.found.contains("the ciphertext hashes to") == true)

        // A receipt missing from the published head: the pointer names the head just before it.
        let sequenceText = byName["receipt"]?.found.split(separator: " ").dropFirst().first
        let sequence = try #require(sequenceText.flatMap { UInt64($0) }, "\(byName["receipt"]?.found ?? "")")
        let pointer = w.da + "/" + ReceiptHead.latestPointer
        let latest = try String(contentsOfFile: pointer, encoding: .utf8)
        var digest = try Hash32(hex: latest.trimmingCharacters(in: .whitespacesAndNewlines))
        let store = DAStore(root: w.da)
        while try SignedReceiptHead(document: store.get(digest)).head.count > sequence {
            digest = try SignedReceiptHead(document: store.get(digest)).head.previous
        }
        try (digest.hex + "\n").write(toFile: pointer, atomically: true, encoding: .utf8)
        let unpublished = try audit([])
        try latest.write(toFile: pointer, atomically: true, encoding: .utf8)
        #expect(
            unpublished.status == 1 && Self.failed(unpublished.json) == ["receiptPublished"],
            "\(unpublished.stdout)"
        )
        #expect(
            Self.checks(unpublished.json)["receiptPublished"]?.found
                == "receipt \(sequence) is not under the published head, which covers receipts 0..<\(sequence)"
        )

        // Malformed input: exit 2.
        for arguments in [
            ["audit", "job", "0x1234", "--data-dir", w.path("consumer-index")], ["audit", "job", job],
            ["audit", "job", job, "--data-dir", w.path("consumer-index"), "--evidence", w.path("missing.json")],
            ["audit", "job", job, "--data-dir", w.path("no-index")],
        ] {
            let r = try w.run(arguments, allowFailure: true)
            #expect(r.status == 2, "\(arguments): \(r.status) \(r.stderr)")
        }

        try tamperedBundles(w, job: try Hash32(hex: job))

        // A revoked measurement: governance revokes the runner's measurement after the job.
        let measurement = try #require(byName["measurements"]?.found.split(separator: " ").dropFirst().first)
        try w.call(as: "governance", "AlgorithmRegistry", "revokeMeasurement", [String(measurement)])
        _ = try await w.world.devnet.call("anvil_mine", params: "[\"0x2\"]")
        try w.syncConsumerIndex()
        let revoked = try audit([])
        #expect(revoked.status == 1 && Self.failed(revoked.json) == ["measurements"], "\(revoked.stdout)")
        #expect(Self.checks(revoked.json)["measurements"]?.found.contains("was revoked in block") == true)
    }

    /// Links inside the evidence bundle, each broken in a copy that an operator recorded on chain (the audit
    /// reads the real index but a JobRecorded naming the copy), and development evidence off the devnet.
    func tamperedBundles(_ w: ComputeWorld, job: Hash32) throws {
        let index = try ChainIndex(existingAt: w.path("consumer-index"))
        let real = try #require(try index.job(job))
        let store = DAStore(root: w.da)
        let original = try #require(
            try JSONSerialization.jsonObject(with: Data(store.get(real.job.attestationDigest))) as? [String: Any]
        )
        let domain = TokenDomain(
            chainID: index.config.chainID,
            verifyingContract: index.config.contracts.algorithmRegistry
        )

        func auditCopy(_ change: (inout [String: Any]) throws -> Void) throws -> AuditVerdict {
            var copy = original
            try change(&copy)
            var recorded = real
            recorded.job.attestationDigest = try store.put(
                [UInt8](try JSONSerialization.data(withJSONObject: copy, options: [.sortedKeys]))
            )
            return JobAudit.run(
                JobAuditInputs(job: job, index: Recorded(index: index, recorded: recorded), da: store)
            )
        }

        // The copy with nothing changed passes: what fails below is the change.
        #expect(Self.failed(try auditCopy { _ in }) == [])

        // A forged receipt: changed and signed by a key that is not the privacy signer's.
        let stranger = try Secp256k1.shared.address(privateKey: Hex.decode(PlaneWorld.strangerKey))
        let forged = try auditCopy { bundle in
            var receipt = try SignedReceipt(json: bundle["receipt"]).receipt
            receipt.releasedAt += 1
            bundle["receipt"] =
                try SignedReceipt(signing: receipt, domain: domain, privateKey: Hex.decode(PlaneWorld.strangerKey)).json
        }
        #expect(Self.failed(forged) == ["receipt"], "\(forged.text)")
        #expect(Self.found(forged, "receipt").contains("recovers \(stranger.checksummed)"), "\(forged.text)")

        // A release without its reviewers: the approvals dropped, or the provider's list.
        let unreviewed = try auditCopy { $0["reviews"] = [Any]() }
        #expect(Self.failed(unreviewed) == ["release"], "\(unreviewed.text)")
        #expect(Self.found(unreviewed, "release").contains("the reviews do not match the decision log"))
        let unlisted = try auditCopy { $0["reviewerList"] = NSNull() }
        #expect(Self.failed(unlisted) == ["release"], "\(unlisted.text)")
        #expect(Self.found(unlisted, "release").contains("is not a distinct reviewer the provider named"))

        // Development evidence passes only on the devnet's chain id.
        let elsewhere = JobAudit.run(
            JobAuditInputs(job: job, index: Recorded(index: index, chainID: 1), da: store)
        )
        #expect(Self.failed(elsewhere).first == "attestation", "\(elsewhere.text)")
        #expect(Self.found(elsewhere, "attestation") == "INSECURE development evidence on chain id 1")
    }

    /// Receipts past the last head due are published when the plane stops gracefully.
    @Test func aPlaneStoppedGracefullyPublishesTheReceiptsLeft() throws {
        // The world's provider key release is receipt 0; with a head due every 1000 receipts none is published.
        let w = try ComputeWorld(receiptHeadEvery: 1000)
        let pointer = w.da + "/" + ReceiptHead.latestPointer
        #expect(!FileManager.default.fileExists(atPath: pointer))
        #expect(w.privacy.terminate(within: 20) == 0)
        let latest = try String(contentsOfFile: pointer, encoding: .utf8)
        let head = try SignedReceiptHead(
            document: DAStore(root: w.da).get(Hash32(hex: latest.trimmingCharacters(in: .whitespacesAndNewlines)))
        )
        #expect(head.head.count == 1 && head.head.from == 0 && head.receipts.count == 1, "\(head.head)")
    }
}
