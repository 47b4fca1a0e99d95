import Attestation
import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import PlaneCrypto
import PlaneProtocol

extension JobAudit {
    /// The signed result record, the release decision, the key-release receipt and its published head, and
    /// the consumer's ciphertext.
    mutating func releaseChecks() {
        let index = inputs.index
        check(
            "resultRecord",
            "the result record is signed by the key the quote binds",
            expected:
                "a result record signed by the attested agent signer, naming the job, dataset, consumer and image JobRecorded names, outcome released, and image = sha256(\"delong/image/v1\" ‖ runtime ‖ bundle)",
            missing: agentSigner == nil ? "no agent key bound by the evidence" : nil
        ) { (a) throws(Failure) -> String in
            let record: SignedResultRecord
            let signer: Address
            do {
                record = try SignedResultRecord(json: a.bundle!["result"] as Any)
                signer = try record.signer(a.jobDomain)
            } catch { throw Self.fail("the bundle's result record: \(Self.reason(error))", "a signed result record") }
            guard signer == a.agentSigner! else {
                throw Self.fail(
                    "signed by \(signer.checksummed)",
                    "signed by the attested agent \(a.agentSigner!.checksummed)"
                )
            }
            let r = record.record
            let j = a.recorded!.job
            let pairs: [(String, String, String)] = [
                ("job", r.jobID.hex, j.jobID.hex), ("dataset", r.dataset.hex, j.datasetID.hex),
                ("consumer", r.consumer.checksummed, j.consumer.checksummed),
                ("image digest", r.imageDigest.hex, j.imageDigest.hex), ("outcome", r.outcome, "released"),
                ("ciphertext sha256", r.cipherSha256.hex, j.outputDigest.hex),
            ]
            for (what, inRecord, onChain) in pairs where inRecord != onChain {
                throw Self.fail("the record names \(what) \(inRecord)", "\(what) \(onChain)")
            }
            if let algorithm = a.algorithm {
                let image = ImageDigest.of(runtime: r.runtimeDigest, bundle: algorithm.bundleDigest)
                guard image == j.imageDigest else {
                    throw Self.fail(
                        "runtime \(r.runtimeDigest.hex) with bundle \(algorithm.bundleDigest.hex) makes image \(image.hex)",
                        "image \(j.imageDigest.hex)"
                    )
                }
            }
            a.record = record
            return
                "signed by \(signer.checksummed): runtime \(r.runtimeDigest.hex), output tar sha256 \(r.outputSha256.hex), finished at \(r.finishedAt)"
        }

        check(
            "release",
            "the release was automatic (the gate verdict it names) or carries the required reviewers' signatures",
            expected:
                "the gate document hashing to the record's gateDigest with verdict release, or verdict review with enough EIP-712 approvals by distinct reviewers under the provider's signed reviewer list, the decision log entries chaining to the record's reviewDigest",
            missing: record == nil ? "no verified result record" : nil
        ) { (a) throws(Failure) -> String in
            let r = a.record!.record
            let provider = try Self.read({ try index.dataset(r.dataset) }, "the dataset")?
                .provider
            guard let provider else {
                throw Self.fail("dataset \(r.dataset.hex) is not in the index", "a registered dataset")
            }
            let decisions: (verdict: String, reviewers: [Address])
            do {
                decisions = try ReleaseDecisions.verify(
                    a.bundle!,
                    record: r,
                    provider: provider,
                    jobDomain: a.jobDomain
                )
            } catch { throw Self.fail(Self.reason(error), "an automatic release or the required approvals") }
            if decisions.verdict == "release" {
                return "automatic: the gate's verdict release (gate document sha256 \(r.gateDigest.hex))"
            }
            return
                "reviewed: gate verdict review (gate document \(r.gateDigest.hex)), approved by \(decisions.reviewers.map(\.checksummed).joined(separator: ", ")) under provider \(provider.checksummed)'s list; decision log head \(r.reviewDigest.hex)"
        }

        check(
            "receipt",
            "the key-release receipt is signed by the Privacy Plane's on-chain signer",
            expected:
                "a sandbox receipt signed by the on-chain privacy signer for this job's token, evidence, dataset and image",
            missing: tokenHash == nil ? "no verified token" : quote == nil ? "no verified evidence" : nil
        ) { (a) throws(Failure) -> String in
            let receipt: SignedReceipt
            do { receipt = try SignedReceipt(json: a.bundle!["receipt"]) } catch {
                throw Self.fail("the bundle's receipt: \(Self.reason(error))", "a signed key-release receipt")
            }
            let signer = a.privacySigner!
            guard receipt.verify(domain: a.tokenDomain, signer: signer) else {
                let recovered = (try? Secp256k1.shared.recoverAddress(receipt.hash, receipt.signature))?.checksummed
                throw Self.fail(
                    "a receipt whose hash or signature does not verify (recovers \(recovered ?? "nothing"))",
                    "signed by the on-chain privacy signer \(signer.checksummed)"
                )
            }
            let x = receipt.receipt
            let j = a.recorded!.job
            let evidenceHash = (try? Hash32(a.quote!.quoteHash)) ?? .zero
            let pairs: [(String, String, String)] = [
                ("kind", "\(x.kind)", "sandbox"), ("job", x.jobID.hex, j.jobID.hex),
                ("dataset", x.dataset.hex, j.datasetID.hex),
                ("recipient", x.recipient.checksummed, j.consumer.checksummed),
                ("image", x.imageDigest.hex, j.imageDigest.hex), ("token", x.token.hex, a.tokenHash!.hex),
                ("evidence", x.evidence.hex, evidenceHash.hex),
            ]
            for (what, inReceipt, expected) in pairs where inReceipt != expected {
                throw Self.fail("the receipt names \(what) \(inReceipt)", "\(what) \(expected)")
            }
            a.receipt = receipt
            return
                "receipt \(x.sequence) signed by \(signer.checksummed), released at \(x.releasedAt) at block \(x.blockNumber)"
        }

        check(
            "receiptPublished",
            "the receipt is included under a receipt-log head the Privacy Plane published to the DA store",
            expected:
                "a signed receipt head (by the on-chain privacy signer) in the DA store whose covered, hash-chained receipts hold this receipt",
            missing: receipt == nil ? "no verified receipt" : inputs.da == nil ? "no --da store given" : nil
        ) { (a) throws(Failure) -> String in
            try a.receiptInclusion()
        }

        check(
            "output",
            "the output digest matches the consumer's ciphertext",
            expected: "sha256 of --output equal to JobRecorded.outputDigest",
            missing: inputs.output == nil ? "no --output given (optional)" : recorded == nil ? "no JobRecorded" : nil
        ) { (a) throws(Failure) -> String in
            let digest = BundleDigest.of(a.inputs.output!)
            let expected = a.recorded!.job.outputDigest
            guard digest == expected else {
                throw Self.fail("the ciphertext hashes to \(digest.hex)", "JobRecorded.outputDigest \(expected.hex)")
            }
            return "\(a.inputs.output!.count) bytes, sha256 \(digest.hex)"
        }
    }

    /// Follows the Privacy Plane's published heads from the latest back to the one covering the receipt's
    /// sequence, and checks that head's signature and its receipts' chain.
    func receiptInclusion() throws(Failure) -> String {
        let store = inputs.da!
        let receipt = self.receipt!
        let sequence = receipt.receipt.sequence
        let pointer = store.root + "/" + ReceiptHead.latestPointer
        guard let text = try? String(contentsOfFile: pointer, encoding: .utf8),
            var digest = try? Hash32(hex: text.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw Self.fail(
                "no receipt head published (\(ReceiptHead.latestPointer) is missing or unreadable)",
                "a published head covering receipt \(sequence)"
            )
        }
        var latestCount: UInt64?
        var steps = 0
        while true {
            steps += 1
            let head: SignedReceiptHead
            do { head = try SignedReceiptHead(document: try store.get(digest, limit: 64 << 20)) } catch {
                throw Self.fail("receipt head \(digest.hex): \(Self.reason(error))", "a receipt head document")
            }
            let signer: Address
            do { signer = try head.signer(tokenDomain) } catch {
                throw Self.fail(Self.reason(error), "a head signed by \(privacySigner!.checksummed)")
            }
            guard signer == privacySigner! else {
                throw Self.fail(
                    "receipt head \(digest.hex) is signed by \(signer.checksummed)",
                    "signed by the on-chain privacy signer \(privacySigner!.checksummed)"
                )
            }
            let h = head.head
            if latestCount == nil { latestCount = h.count }
            if sequence >= h.count {
                throw Self.fail(
                    "receipt \(sequence) is not under the published head, which covers receipts 0..<\(h.count)",
                    "a published head covering receipt \(sequence)"
                )
            }
            if sequence >= h.from {
                let covered: [SignedReceipt]
                do { covered = try head.verifiedReceipts(tokenDomain) } catch {
                    throw Self.fail(
                        "receipt head \(digest.hex): \(Self.reason(error))",
                        "a hash-chained run of receipts"
                    )
                }
                let inLog = covered[Int(sequence - h.from)]
                guard inLog.hash == receipt.hash else {
                    throw Self.fail(
                        "the published log's receipt \(sequence) is \(inLog.hash.hex); the bundle's is \(receipt.hash.hex)",
                        "the bundle's receipt in the published log"
                    )
                }
                return
                    "receipt \(sequence) is in head \(digest.hex) (receipts \(h.from)..<\(h.count), \(steps) head(s) back from the latest, which covers \(latestCount!))"
            }
            guard h.previous != .zero, steps < 1_000_000 else {
                throw Self.fail("the chain of heads ends before receipt \(sequence)", "a head covering it")
            }
            digest = h.previous
        }
    }
}
