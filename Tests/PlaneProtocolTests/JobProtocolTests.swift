import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol
import TestSupport
import Testing

@Suite struct JobProtocolTests {
    static let registry = try! Address(hex: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
    static let domain = JobDomain(chainID: 31337, verifyingContract: registry)
    static let consumerKey = Keccak256.hash(utf8: "delong job test consumer").bytes
    static let providerKey = Keccak256.hash(utf8: "delong job test provider").bytes
    static let agentKey = Keccak256.hash(utf8: "delong job test agent").bytes
    static let recipient = try! AgeRecipient(publicKey: Keccak256.hash(utf8: "recipient").bytes)

    static let request = JobRequest(
        jobID: Keccak256.hash(utf8: "job"),
        dataset: Keccak256.hash(utf8: "admissions"),
        imageDigest: Keccak256.hash(utf8: "image"),
        tokenHash: Keccak256.hash(utf8: "token"),
        plane: try! Address(hex: "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"),
        outputRecipient: recipient,
        limits: JobLimits(cpus: 4, memoryBytes: 17_179_869_184, timeoutSeconds: 3600)
    )
    static let review = try! ReviewDecision(
        jobID: Keccak256.hash(utf8: "job"),
        outputDigest: Keccak256.hash(utf8: "output tar"),
        approve: true,
        reason: "Aggregates only — k ≥ 10 ✓",
        decidedAt: 1_800_000_123
    )
    static let result = try! ResultRecord(
        jobID: Keccak256.hash(utf8: "job"),
        dataset: Keccak256.hash(utf8: "admissions"),
        consumer: try! Address(hex: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        imageDigest: Keccak256.hash(utf8: "image"),
        runtimeDigest: Keccak256.hash(utf8: "runtime"),
        outcome: "released",
        gateDigest: Keccak256.hash(utf8: "gate"),
        reviewDigest: Keccak256.hash(utf8: "decision log head"),
        outputSha256: Keccak256.hash(utf8: "output"),
        cipherSha256: Keccak256.hash(utf8: "cipher"),
        finishedAt: 1_800_000_999
    )

    static func document(_ primary: String, _ members: [(String, String)], _ message: [String: Any]) -> [String: Any] {
        [
            "types": [
                "EIP712Domain": [
                    ["name": "name", "type": "string"], ["name": "version", "type": "string"],
                    ["name": "chainId", "type": "uint256"], ["name": "verifyingContract", "type": "address"],
                ],
                primary: members.map { ["name": $0.0, "type": $0.1] },
            ],
            "primaryType": primary,
            "domain": [
                "name": "DeLong Computing Plane", "version": "1", "chainId": 31337,
                "verifyingContract": registry.checksummed,
            ],
            "message": message,
        ]
    }

    /// The three documents as eth-account reads them, spelled out here (not derived from the Swift types).
    static var documents: [[String: Any]] {
        let q = request
        let d = review
        let r = result
        return [
            document(
                "DeLongJobRequest",
                [
                    ("jobId", "bytes32"), ("dataset", "bytes32"), ("imageDigest", "bytes32"), ("tokenHash", "bytes32"),
                    ("plane", "address"), ("outputRecipient", "string"), ("cpus", "uint32"),
                    ("memoryBytes", "uint64"), ("timeoutSeconds", "uint32"),
                ],
                [
                    "jobId": q.jobID.hex, "dataset": q.dataset.hex, "imageDigest": q.imageDigest.hex,
                    "tokenHash": q.tokenHash.hex, "plane": q.plane.checksummed,
                    "outputRecipient": q.outputRecipient.description, "cpus": 4, "memoryBytes": 17_179_869_184,
                    "timeoutSeconds": 3600,
                ]
            ),
            document(
                "DeLongReview",
                [
                    ("jobId", "bytes32"), ("outputDigest", "bytes32"), ("approve", "bool"), ("reason", "string"),
                    ("decidedAt", "uint64"),
                ],
                [
                    "jobId": d.jobID.hex, "outputDigest": d.outputDigest.hex, "approve": true,
                    "reason": "Aggregates only — k ≥ 10 ✓", "decidedAt": 1_800_000_123,
                ]
            ),
            document(
                "DeLongJobResult",
                [
                    ("jobId", "bytes32"), ("dataset", "bytes32"), ("consumer", "address"), ("imageDigest", "bytes32"),
                    ("runtimeDigest", "bytes32"), ("outcome", "string"), ("gateDigest", "bytes32"),
                    ("reviewDigest", "bytes32"), ("outputSha256", "bytes32"), ("cipherSha256", "bytes32"),
                    ("finishedAt", "uint64"),
                ],
                [
                    "jobId": r.jobID.hex, "dataset": r.dataset.hex, "consumer": r.consumer.checksummed,
                    "imageDigest": r.imageDigest.hex, "runtimeDigest": r.runtimeDigest.hex, "outcome": "released",
                    "gateDigest": r.gateDigest.hex, "reviewDigest": r.reviewDigest.hex,
                    "outputSha256": r.outputSha256.hex, "cipherSha256": r.cipherSha256.hex,
                    "finishedAt": 1_800_000_999,
                ]
            ),
        ]
    }

    /// For each record: eth-account's digest equals both Swift forms; eth-account's signature recovers in Swift
    /// to `Account.from_key(k).address`, and the Swift signature recovers in eth-account to the same address.
    @Test func signingHashesAndSignaturesAgreeWithEthAccount() throws {
        let signedRequest = try SignedJobRequest(
            signing: Self.request,
            domain: Self.domain,
            privateKey: Self.consumerKey
        )
        let signedReview = try SignedReviewDecision(
            signing: Self.review,
            domain: Self.domain,
            privateKey: Self.providerKey
        )
        let signedResult = try SignedResultRecord(signing: Self.result, domain: Self.domain, privateKey: Self.agentKey)
        let hashes = [
            Self.request.signingHash(Self.domain), Self.review.signingHash(Self.domain),
            Self.result.signingHash(Self.domain),
        ]
        #expect(hashes[0] == (try Self.request.typedData(Self.domain).signingHash()))
        #expect(hashes[1] == (try Self.review.typedData(Self.domain).signingHash()))
        #expect(hashes[2] == (try Self.result.typedData(Self.domain).signingHash()))
        let keys = [Self.consumerKey, Self.providerKey, Self.agentKey]
        let swiftSignatures = [signedRequest.signature, signedReview.signature, signedResult.signature]
        let cases: [[String: Any]] = (0..<3).map { i in
            ["doc": Self.documents[i], "key": keys[i].hex, "swiftSignature": Hex.encode(swiftSignatures[i].rsv)]
        }
        let script = """
            import json, sys
            from eth_account import Account
            from eth_account.messages import encode_typed_data
            out = []
            for case in json.loads(sys.argv[1]):
                msg = encode_typed_data(full_message=case["doc"])
                signed = Account.sign_message(msg, private_key=case["key"])
                out.append({
                    "digest": "0x" + bytes(signed.message_hash).hex().removeprefix("0x"),
                    "signature": "0x" + bytes(signed.signature).hex().removeprefix("0x"),
                    "address": Account.from_key(case["key"]).address,
                    "recoveredSwift": Account.recover_message(msg, signature=case["swiftSignature"]),
                })
            print(json.dumps({"cases": out}))
            """
        let json = String(decoding: try JSONSerialization.data(withJSONObject: cases), as: UTF8.self)
        let output = try ContribTool.python(script, [json])
        let reference = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let references = try #require(reference["cases"] as? [[String: String]])
        try #require(references.count == 3)

        for i in 0..<3 {
            let expectedAddress = try Address(hex: try #require(references[i]["address"]))
            #expect(hashes[i].hex == references[i]["digest"], "record \(i)")
            #expect(try Address(hex: try #require(references[i]["recoveredSwift"])) == expectedAddress)
            #expect(try Secp256k1.shared.address(privateKey: keys[i]) == expectedAddress)
            // RFC 6979 on both sides: the same bytes.
            #expect(Hex.encode(swiftSignatures[i].rsv) == references[i]["signature"], "record \(i)")
        }
        let ethSignatures = try references.map { try Signature(rsv: Hex.decode(try #require($0["signature"]))) }
        #expect(
            try SignedJobRequest(request: Self.request, signature: ethSignatures[0]).signer(Self.domain)
                == Address(hex: references[0]["address"]!)
        )
        #expect(
            try SignedReviewDecision(decision: Self.review, signature: ethSignatures[1]).signer(Self.domain)
                == Address(hex: references[1]["address"]!)
        )
        #expect(
            try SignedResultRecord(record: Self.result, signature: ethSignatures[2]).signer(Self.domain)
                == Address(hex: references[2]["address"]!)
        )
    }

    /// A changed field, another chain or another registry: the same signature recovers someone else.
    @Test func anEditedRecordOrAnotherDomainRecoversAnotherSigner() throws {
        let consumer = try Secp256k1.shared.address(privateKey: Self.consumerKey)
        let signed = try SignedJobRequest(signing: Self.request, domain: Self.domain, privateKey: Self.consumerKey)
        #expect(try signed.signer(Self.domain) == consumer)
        var edited = signed
        edited.request.limits.memoryBytes += 1
        #expect(try edited.signer(Self.domain) != consumer)
        var otherPlane = signed
        otherPlane.request.plane = try Address(hex: "0x0000000000000000000000000000000000000001")
        #expect(try otherPlane.signer(Self.domain) != consumer)
        #expect(try signed.signer(JobDomain(chainID: 1, verifyingContract: Self.registry)) != consumer)
        #expect(try signed.signer(JobDomain(chainID: 31337, verifyingContract: consumer)) != consumer)

        let provider = try Secp256k1.shared.address(privateKey: Self.providerKey)
        let review = try SignedReviewDecision(signing: Self.review, domain: Self.domain, privateKey: Self.providerKey)
        #expect(try review.signer(Self.domain) == provider)
        let flipped = SignedReviewDecision(
            decision: try ReviewDecision(
                jobID: Self.review.jobID,
                outputDigest: Self.review.outputDigest,
                approve: false,
                reason: Self.review.reason,
                decidedAt: Self.review.decidedAt
            ),
            signature: review.signature
        )
        #expect(try flipped.signer(Self.domain) != provider)

        // The Privacy Plane's token domain differs only by name: its separator must differ.
        let tokenDomain = TokenDomain(chainID: 31337, verifyingContract: Self.registry)
        #expect(tokenDomain.separator != Self.domain.separator)
    }

    /// The JSON forms, through bytes and back, give the same signed records and the same signers.
    @Test func wireFormsRoundTrip() throws {
        func reparse(_ object: [String: Any]) throws -> Any {
            try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: object))
        }
        let request = try SignedJobRequest(signing: Self.request, domain: Self.domain, privateKey: Self.consumerKey)
        let review = try SignedReviewDecision(signing: Self.review, domain: Self.domain, privateKey: Self.providerKey)
        let result = try SignedResultRecord(signing: Self.result, domain: Self.domain, privateKey: Self.agentKey)
        #expect(try SignedJobRequest(json: reparse(request.json)) == request)
        #expect(try SignedReviewDecision(json: reparse(review.json)) == review)
        #expect(try SignedResultRecord(json: reparse(result.json)) == result)
        #expect(try SignedJobRequest(json: request.json) == request)
        #expect(try SignedReviewDecision(json: review.json) == review)
        #expect(
            try SignedResultRecord(json: reparse(result.json)).signer(Self.domain)
                == Secp256k1.shared.address(privateKey: Self.agentKey)
        )
        // Extremes of every number survive.
        var big = Self.request
        big.limits = JobLimits(cpus: .max, memoryBytes: .max, timeoutSeconds: .max)
        let signedBig = try SignedJobRequest(signing: big, domain: Self.domain, privateKey: Self.consumerKey)
        #expect(try SignedJobRequest(json: reparse(signedBig.json)) == signedBig)
    }

    /// The signature with s replaced by n − s (and v flipped): the same signer for a lax verifier, refused here.
    static func highS(_ signature: Signature) -> String {
        let n = try! Hex.decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
        var out = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for i in (0..<32).reversed() {
            let d = Int(n[i]) - Int(signature.s[i]) - borrow
            out[i] = UInt8((d + 256) % 256)
            borrow = d < 0 ? 1 : 0
        }
        return Hex.encode(signature.r + out + [signature.recoveryID == 0 ? 28 : 27])
    }

    static func reason(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as PlaneProtocolError {
            #expect(error.code == .malformed)
            return error.reason
        } catch { return "unexpected \(error)" }
    }

    static func edited(_ json: [String: Any], _ record: String, _ edit: (inout [String: Any]) -> Void) -> [String: Any]
    {
        var copy = json
        var body = copy[record] as! [String: Any]
        edit(&body)
        copy[record] = body
        return copy
    }

    @Test func hostileRequestsAreRefusedNamingTheField() throws {
        let signed = try SignedJobRequest(signing: Self.request, domain: Self.domain, privateKey: Self.consumerKey)
        let good = signed.json
        let cases: [(String, [String: Any], String)] = [
            ("missing jobId", Self.edited(good, "request") { $0["jobId"] = nil }, "request.jobId: expected 0x + 64"),
            ("short dataset", Self.edited(good, "request") { $0["dataset"] = "0x1234" }, "request.dataset"),
            ("cpus as text", Self.edited(good, "request") { $0["cpus"] = "4" }, "request.cpus: expected an integer"),
            ("cpus as boolean", Self.edited(good, "request") { $0["cpus"] = true }, "request.cpus"),
            ("cpus negative", Self.edited(good, "request") { $0["cpus"] = -1 }, "request.cpus"),
            ("cpus too large", Self.edited(good, "request") { $0["cpus"] = 4_294_967_296 }, "request.cpus"),
            ("timeout fraction", Self.edited(good, "request") { $0["timeoutSeconds"] = 1.5 }, "request.timeoutSeconds"),
            ("memory as number", Self.edited(good, "request") { $0["memoryBytes"] = 1024 }, "request.memoryBytes"),
            ("memory signed", Self.edited(good, "request") { $0["memoryBytes"] = "+1024" }, "request.memoryBytes"),
            (
                "memory overflow", Self.edited(good, "request") { $0["memoryBytes"] = "18446744073709551616" },
                "request.memoryBytes"
            ),
            (
                "plane bad checksum",
                Self.edited(good, "request") { $0["plane"] = "0x9965507D1A55bcC2695C58ba16FB37d819B0A4dc" },
                "request.plane"
            ),
            (
                "recipient garbage", Self.edited(good, "request") { $0["outputRecipient"] = "age1notakey" },
                "request.outputRecipient: age recipient"
            ),
            (
                "recipient uppercase",
                Self.edited(good, "request") { $0["outputRecipient"] = Self.recipient.description.uppercased() },
                "request.outputRecipient"
            ),
            (
                "recipient identity", Self.edited(good, "request") { $0["outputRecipient"] = "AGE-SECRET-KEY-1QQQQ" },
                "request.outputRecipient"
            ),
            (
                "recipient oversized",
                Self.edited(good, "request") {
                    $0["outputRecipient"] = "age1" + String(repeating: "q", count: 100_000)
                }, "request.outputRecipient: expected at most 128"
            ),
            (
                "recipient number", Self.edited(good, "request") { $0["outputRecipient"] = 7 },
                "request.outputRecipient: expected a string, found a number"
            ),
            (
                "unsigned extra field", Self.edited(good, "request") { $0["priority"] = "high" },
                "request: unexpected field \"priority\""
            ),
            ("extra envelope field", good.merging(["note": "x"]) { a, _ in a }, "request: unexpected field \"note\""),
            (
                "body not an object", good.merging(["request": "x"]) { _, b in b },
                "request.request: expected a JSON object, found a string"
            ),
            (
                "no signature", good.filter { $0.key != "signature" },
                "request.signature: expected 0x + 130 hex digits, found nothing"
            ),
            (
                "short signature", good.merging(["signature": "0x" + String(repeating: "11", count: 64)]) { _, b in b },
                "request.signature: expected 0x + 130"
            ),
            (
                "long signature", good.merging(["signature": Hex.encode(signed.signature.rsv + [0])]) { _, b in b },
                "request.signature"
            ),
            (
                "high-s signature", good.merging(["signature": Self.highS(signed.signature)]) { _, b in b },
                "request.signature: s is above n/2"
            ),
            (
                "bad v",
                good.merging(["signature": Hex.encode(signed.signature.r + signed.signature.s + [29])]) { _, b in b },
                "request.signature"
            ),
        ]
        for (name, json, expected) in cases {
            let reason = Self.reason { _ = try SignedJobRequest(json: json) }
            #expect(reason?.contains(expected) == true, "\(name): \(reason ?? "accepted")")
        }
        #expect(Self.reason { _ = try SignedJobRequest(json: [1, 2]) }?.contains("request: expected {") == true)
        #expect(Self.reason { _ = try SignedJobRequest(json: nil) }?.contains("found nothing") == true)
        // The high-s twin of a good signature is the same signer to a lax verifier: refusing it keeps one
        // encoding per signed request.
        #expect(throws: Never.self) { try SignedJobRequest(json: good) }
    }

    @Test func hostileReviewDecisionsAreRefusedNamingTheField() throws {
        let signed = try SignedReviewDecision(signing: Self.review, domain: Self.domain, privateKey: Self.providerKey)
        let good = signed.json
        let cases: [(String, [String: Any], String)] = [
            (
                "approve as 1", Self.edited(good, "review") { $0["approve"] = 1 },
                "review.approve: expected true or false, found a number"
            ),
            ("approve as text", Self.edited(good, "review") { $0["approve"] = "true" }, "review.approve"),
            (
                "approve missing", Self.edited(good, "review") { $0["approve"] = nil },
                "review.approve: expected true or false, found nothing"
            ),
            (
                "empty reason", Self.edited(good, "review") { $0["reason"] = "" },
                "review.reason: expected 1…1000 UTF-8 bytes, found 0"
            ),
            (
                "reason 1001 bytes", Self.edited(good, "review") { $0["reason"] = String(repeating: "x", count: 1001) },
                "review.reason: expected at most 1000 UTF-8 bytes, found 1001"
            ),
            (
                "reason 1002 bytes in 334 scalars",
                Self.edited(good, "review") { $0["reason"] = String(repeating: "✓", count: 334) },
                "review.reason: expected at most 1000"
            ),
            (
                "reason newline", Self.edited(good, "review") { $0["reason"] = "ok\nApproved by admin" },
                "review.reason: expected no control characters, found U+000A"
            ),
            ("reason escape", Self.edited(good, "review") { $0["reason"] = "ok \u{1B}[2J" }, "found U+001B"),
            ("reason C1", Self.edited(good, "review") { $0["reason"] = "ok\u{85}" }, "found U+0085"),
            ("reason DEL", Self.edited(good, "review") { $0["reason"] = "ok\u{7F}" }, "found U+007F"),
            ("reason number", Self.edited(good, "review") { $0["reason"] = 5 }, "review.reason: expected a string"),
            (
                "decidedAt number", Self.edited(good, "review") { $0["decidedAt"] = 1_800_000_123 },
                "review.decidedAt: expected a decimal string"
            ),
            ("decidedAt hex", Self.edited(good, "review") { $0["decidedAt"] = "0x10" }, "review.decidedAt"),
            ("outputDigest missing", Self.edited(good, "review") { $0["outputDigest"] = nil }, "review.outputDigest"),
            (
                "extra field", Self.edited(good, "review") { $0["approvedBy"] = "admin" },
                "review: unexpected field \"approvedBy\""
            ),
            (
                "high-s signature", good.merging(["signature": Self.highS(signed.signature)]) { _, b in b },
                "review.signature: s is above n/2"
            ),
        ]
        for (name, json, expected) in cases {
            let reason = Self.reason { _ = try SignedReviewDecision(json: json) }
            #expect(reason?.contains(expected) == true, "\(name): \(reason ?? "accepted")")
        }
        // The limits are bytes, not characters: 1000 bytes of three-byte scalars plus one byte is accepted.
        let longest = String(repeating: "✓", count: 333) + "."
        #expect(longest.utf8.count == 1000)
        let decision = try ReviewDecision(
            jobID: Self.review.jobID,
            outputDigest: Self.review.outputDigest,
            approve: false,
            reason: longest,
            decidedAt: 0
        )
        let longSigned = try SignedReviewDecision(signing: decision, domain: Self.domain, privateKey: Self.providerKey)
        #expect(try SignedReviewDecision(json: longSigned.json) == longSigned)
        // The constructor refuses what the parser refuses.
        #expect(
            Self.reason {
                _ = try ReviewDecision(jobID: .zero, outputDigest: .zero, approve: true, reason: "a\tb", decidedAt: 0)
            }?.contains("review.reason: expected no control characters, found U+0009") == true
        )
    }

    @Test func hostileResultRecordsAreRefusedNamingTheField() throws {
        let signed = try SignedResultRecord(signing: Self.result, domain: Self.domain, privateKey: Self.agentKey)
        let good = signed.json
        let cases: [(String, [String: Any], String)] = [
            (
                "outcome newline", Self.edited(good, "result") { $0["outcome"] = "released\n" },
                "result.outcome: expected ASCII letters"
            ),
            ("outcome space", Self.edited(good, "result") { $0["outcome"] = "killed (timeout)" }, "result.outcome"),
            (
                "outcome empty", Self.edited(good, "result") { $0["outcome"] = "" },
                "result.outcome: expected 1…64 bytes, found 0"
            ),
            (
                "outcome oversized", Self.edited(good, "result") { $0["outcome"] = String(repeating: "a", count: 65) },
                "result.outcome: expected at most 64"
            ),
            ("outcome unicode", Self.edited(good, "result") { $0["outcome"] = "releasеd" }, "result.outcome"),
            (
                "consumer short", Self.edited(good, "result") { $0["consumer"] = "0x1234" },
                "result.consumer: expected 0x + 40 hex digits"
            ),
            ("consumer missing", Self.edited(good, "result") { $0["consumer"] = nil }, "result.consumer"),
            (
                "runtimeDigest number", Self.edited(good, "result") { $0["runtimeDigest"] = 0 },
                "result.runtimeDigest: expected 0x + 64 hex digits, found a number"
            ),
            (
                "cipherSha256 array", Self.edited(good, "result") { $0["cipherSha256"] = [1] },
                "result.cipherSha256: expected 0x + 64 hex digits, found an array"
            ),
            (
                "finishedAt missing", Self.edited(good, "result") { $0["finishedAt"] = nil },
                "result.finishedAt: expected a decimal string"
            ),
            ("finishedAt empty", Self.edited(good, "result") { $0["finishedAt"] = "" }, "result.finishedAt"),
            (
                "extra field", Self.edited(good, "result") { $0["verified"] = true },
                "result: unexpected field \"verified\""
            ),
            (
                "signature not hex",
                good.merging(["signature": "0x" + String(repeating: "zz", count: 65)]) { _, b in b },
                "result.signature: expected 0x + 130"
            ),
            (
                "high-s signature", good.merging(["signature": Self.highS(signed.signature)]) { _, b in b },
                "result.signature: s is above n/2"
            ),
        ]
        for (name, json, expected) in cases {
            let reason = Self.reason { _ = try SignedResultRecord(json: json) }
            #expect(reason?.contains(expected) == true, "\(name): \(reason ?? "accepted")")
        }
        for outcome in ["released", "gateBlocked", "killed(timeout)", "exited(-1)", "refused(imageDigest)"] {
            #expect(throws: Never.self, "\(outcome)") {
                _ = try ResultRecord(
                    jobID: .zero,
                    dataset: .zero,
                    consumer: Self.result.consumer,
                    imageDigest: .zero,
                    runtimeDigest: .zero,
                    outcome: outcome,
                    gateDigest: .zero,
                    reviewDigest: .zero,
                    outputSha256: .zero,
                    cipherSha256: .zero,
                    finishedAt: 0
                )
            }
        }
    }

    /// The provider's reviewer list (an address[] member): eth-account's digest equals both Swift forms, and
    /// each side recovers the other's signature; a list without the provider's signature, a repeat or a
    /// count other than 1 or 2 are refused by name.
    @Test func reviewerListsAgreeWithEthAccountAndRefuseBadShapes() throws {
        let reviewers = [
            try Address(hex: "0x00000000000000000000000000000000000000a1"),
            try Address(hex: "0x00000000000000000000000000000000000000b2"),
        ]
        let list = try ReviewerList(dataset: Self.request.dataset, version: 7, reviewers: reviewers, required: 2)
        let signed = try SignedReviewerList(signing: list, domain: Self.domain, privateKey: Self.providerKey)
        #expect(list.signingHash(Self.domain) == (try list.typedData(Self.domain).signingHash()))
        let doc = Self.document(
            "DeLongReviewers",
            [("dataset", "bytes32"), ("version", "uint64"), ("reviewers", "address[]"), ("required", "uint8")],
            ["dataset": list.dataset.hex, "version": 7, "reviewers": reviewers.map(\.checksummed), "required": 2]
        )
        let script = """
            import json, sys
            from eth_account import Account
            from eth_account.messages import encode_typed_data
            case = json.loads(sys.argv[1])
            msg = encode_typed_data(full_message=case["doc"])
            signed = Account.sign_message(msg, private_key=case["key"])
            print(json.dumps({
                "digest": "0x" + bytes(signed.message_hash).hex().removeprefix("0x"),
                "signature": "0x" + bytes(signed.signature).hex().removeprefix("0x"),
                "recoveredSwift": Account.recover_message(msg, signature=case["swiftSignature"]),
            }))
            """
        let input: [String: Any] = [
            "doc": doc, "key": Self.providerKey.hex, "swiftSignature": Hex.encode(signed.signature.rsv),
        ]
        let output = try ContribTool.python(
            script,
            [String(decoding: try JSONSerialization.data(withJSONObject: input), as: UTF8.self)]
        )
        let reference = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: String])
        let provider = try Secp256k1.shared.address(privateKey: Self.providerKey)
        #expect(list.signingHash(Self.domain).hex == reference["digest"])
        #expect(try Address(hex: try #require(reference["recoveredSwift"])) == provider)
        let theirs = try Signature(rsv: Hex.decode(try #require(reference["signature"])))
        #expect(try SignedReviewerList(list: list, signature: theirs).signer(Self.domain) == provider)
        // The JSON form round-trips; a different order of reviewers is another list.
        #expect(try SignedReviewerList(json: signed.json) == signed)
        let reordered = try ReviewerList(
            dataset: list.dataset,
            version: 7,
            reviewers: reviewers.reversed(),
            required: 2
        )
        #expect(reordered.signingHash(Self.domain) != list.signingHash(Self.domain))

        #expect(throws: PlaneProtocolError.self) {
            try ReviewerList(dataset: list.dataset, version: 1, reviewers: [reviewers[0], reviewers[0]], required: 1)
        }
        #expect(throws: PlaneProtocolError.self) {
            try ReviewerList(dataset: list.dataset, version: 1, reviewers: reviewers, required: 3)
        }
        var json = signed.json
        var body = json["reviewers"] as! [String: Any]
        body["extra"] = 1
        json["reviewers"] = body
        do {
            _ = try SignedReviewerList(json: json)
            Issue.record("an extra field was accepted")
        } catch { #expect(error.reason.contains("unexpected field \"extra\""), "\(error)") }
        body["extra"] = nil
        body["reviewers"] = ["0x12"]
        json["reviewers"] = body
        do {
            _ = try SignedReviewerList(json: json)
            Issue.record("a short address was accepted")
        } catch { #expect(error.reason.contains("reviewers.reviewers[0]"), "\(error)") }
    }
}
