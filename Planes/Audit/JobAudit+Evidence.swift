import Attestation
import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import PlaneCrypto
import PlaneProtocol

extension JobAudit {
    /// The evidence bundle, the attestation it carries, the allow-list and the REPORTDATA binding.
    mutating func evidenceChecks() {
        let index = inputs.index
        check(
            "evidenceBundle",
            "the evidence bundle re-hashes to JobRecorded.attestationDigest",
            expected: "a delong-evidence-bundle-v1 document whose sha256 is JobRecorded.attestationDigest",
            missing: recorded == nil
                ? "no JobRecorded"
                : inputs.evidenceBundle == nil && inputs.da == nil ? "no --da or --evidence given" : nil
        ) { (a) throws(Failure) -> String in
            let digest = a.recorded!.job.attestationDigest
            let bytes: [UInt8]
            var from = "--evidence file"
            if let given = a.inputs.evidenceBundle {
                bytes = given
            } else {
                from = "DA store"
                do { bytes = try a.inputs.da!.get(digest, limit: 64 << 20) } catch {
                    throw Self.fail(
                        Self.reason(error),
                        "the evidence bundle \(BundleDigest.text(digest)) in the DA store"
                    )
                }
            }
            let found = BundleDigest.of(bytes)
            guard found == digest else {
                throw Self.fail("the \(from) hashes to \(found.hex)", "JobRecorded.attestationDigest \(digest.hex)")
            }
            guard let bundle = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
                bundle["type"] as? String == "delong-evidence-bundle-v1"
            else { throw Self.fail("the \(from) is not a JSON evidence bundle", "type delong-evidence-bundle-v1") }
            a.bundle = bundle
            return "\(bytes.count) bytes from the \(from), sha256 \(found.hex)"
        }

        check(
            "attestation",
            "the attestation evidence verifies at the job's time",
            expected: chainID == InsecureDevelopmentEvidence.devnetChainID
                ? "a TDX quote verified with its collateral, or development evidence (accepted on the devnet only, reported INSECURE)"
                : "a TDX quote verified with its collateral (development evidence fails off the devnet, chain id \(InsecureDevelopmentEvidence.devnetChainID))",
            missing: bundle == nil ? "no evidence bundle" : nil
        ) { (a) throws(Failure) -> String in
            guard let evidence = a.bundle!["evidence"] as? [String: Any],
                let bytes = (evidence["bytes"] as? String).flatMap({ try? Hex.decode($0) })
            else { throw Self.fail("the bundle carries no evidence bytes", "evidence.bytes in hex") }
            if let development = try? InsecureDevelopmentEvidence(json: bytes) {
                guard a.chainID == InsecureDevelopmentEvidence.devnetChainID else {
                    throw Self.fail(
                        "INSECURE development evidence on chain id \(a.chainID)",
                        "a TDX quote: development evidence proves nothing and passes only on the devnet (\(InsecureDevelopmentEvidence.devnetChainID))"
                    )
                }
                a.quote = development.insecurelyAccept()
                a.insecure = true
                return
                    "INSECURE development evidence (no TEE measured the agent; accepted because chain id \(a.chainID) is the devnet)"
            }
            let quote: TDXQuote
            do { quote = try TDXQuote(bytes: bytes) } catch {
                throw Self.fail("neither development evidence nor a TDX quote: \(error)", "a TDX quote")
            }
            throw Self.fail(
                "a TDX quote (version \(quote.version)) whose collateral the bundle does not carry",
                "Intel PCS collateral for the quote's FMSPC at the job's time (not carried yet: docs/audit.md, limits)"
            )
        }

        check(
            "measurements",
            "its measurements were on the allow-list at the job's block",
            expected:
                "a MeasurementTrusted digest of the quote's MRTD‖RTMR0‖RTMR1‖RTMR2[‖RTMR3], trusted at or before the job's block and not revoked",
            missing: quote == nil ? "no verified evidence" : nil
        ) { (a) throws(Failure) -> String in
            let jobBlock = a.recorded!.recorded.blockNumber
            var seen: [String] = []
            for digest in a.quote!.allowListDigests {
                guard let m = try Self.read({ try index.measurement(digest) }, "measurements")
                else {
                    seen.append("\(digest.hex) not on the allow-list")
                    continue
                }
                guard m.trusted else {
                    throw Self.fail(
                        "measurement \(digest.hex) (\(m.label)) was revoked in block \(m.updated.blockNumber)",
                        "a measurement trusted at block \(jobBlock) (the index keeps no history: a revocation after the job fails too)"
                    )
                }
                guard m.updated.blockNumber <= jobBlock else {
                    throw Self.fail(
                        "measurement \(digest.hex) trusted from block \(m.updated.blockNumber), after the job's block \(jobBlock)",
                        "a measurement trusted at or before block \(jobBlock)"
                    )
                }
                return "measurement \(digest.hex) (\(m.label)) trusted since block \(m.updated.blockNumber)"
            }
            throw Self.fail(seen.joined(separator: "; "), "one of the quote's digests on the allow-list")
        }

        check(
            "reportData",
            "REPORTDATA binds the image digest and the agent's keys",
            expected:
                "REPORTDATA = SHA-512(\"delong/report-data/v2\" ‖ exchange key ‖ agent signer ‖ token hash ‖ image digest), the token signed by the on-chain privacy signer for this job and image",
            missing: quote == nil ? "no verified evidence" : nil
        ) { (a) throws(Failure) -> String in
            let bundle = a.bundle!
            guard let agent = bundle["agent"] as? [String: Any],
                let signer = (agent["signer"] as? String).flatMap({ try? Address(hex: $0) }),
                let exchangeKey = (agent["exchangeKey"] as? String).flatMap({ try? Hex.decode($0) })
            else {
                throw Self.fail("the bundle names no agent signer and exchange key", "agent.signer, agent.exchangeKey")
            }
            let token: SignedAccessToken
            do { token = try SignedAccessToken(json: bundle["token"] as Any) } catch {
                throw Self.fail("the bundle's token: \(Self.reason(error))", "a signed access token")
            }
            let privacy = try Self.read({ try index.privacySigner() }, "the privacy signer")
            guard let privacy else {
                throw Self.fail("no PrivacySignerSet in the index", "the on-chain privacy signer")
            }
            a.privacySigner = privacy.address
            let t = token.token
            let verdict = TokenVerifier(domain: a.tokenDomain, signer: privacy.address).verify(token, now: t.notBefore)
            guard case .verified(let verified) = verdict else {
                throw Self.fail("the token does not verify: \(verdict)", "signed by \(privacy.address.checksummed)")
            }
            let recorded = a.recorded!.job
            guard t.jobID == recorded.jobID, t.imageDigest == recorded.imageDigest, t.dataset == recorded.datasetID,
                t.consumer == recorded.consumer, t.mode == .secure
            else {
                throw Self.fail(
                    "the token is for job \(t.jobID.hex), image \(t.imageDigest.hex), dataset \(t.dataset.hex), consumer \(t.consumer.checksummed)",
                    "a secure token for the job, image, dataset and consumer JobRecorded names"
                )
            }
            let expected = KeyWrap.reportData(
                recipientKey: exchangeKey,
                agentSigner: signer,
                tokenHash: verified.signingHash,
                imageDigest: t.imageDigest
            )
            guard ConstantTime.equals(expected, a.quote!.reportData) else {
                throw Self.fail(
                    "the quote's REPORTDATA \(Hex.encode(a.quote!.reportData))",
                    "\(Hex.encode(expected)) (agent \(signer.checksummed), token \(verified.signingHash.hex))"
                )
            }
            a.token = token
            a.tokenHash = verified.signingHash
            a.agentSigner = signer
            return
                "REPORTDATA binds agent signer \(signer.checksummed), its exchange key, token \(verified.signingHash.hex) and image \(t.imageDigest.hex)"
        }
    }
}
