import ChainCore
import Foundation
import PrivacyPlane
import TestSupport
import Testing

/// SIWEVerifier against the spruceid/siwe verification and EIP-1271 vectors, and the node's own policy rules.
@Suite struct SIWEVerificationTests {
    /// The vectors' policy: bound to the vector's domain (or `domainBinding`), at the vector's `time`.
    func verify(_ entry: [String: Any], rejectsFutureIssuedAt: Bool) throws -> SIWEVerdict {
        let domain = (entry["domainBinding"] as? String) ?? (entry["domain"] as? String)
        let policy = try SIWEPolicy(domain: domain, rejectsFutureIssuedAt: rejectsFutureIssuedAt)
        let now = try (entry["time"] as? String).map { try RFC3339Timestamp(parsing: $0) } ?? SIWEFixtures.defaultNow
        return SIWEVerifier(policy: policy).verify(
            messageText: Array(SIWEFixtures.messageText(entry).utf8),
            signatureHex: try #require(entry["signature"] as? String),
            now: now,
            expectedNonce: entry["matchNonce"] as? String
        )
    }

    @Test func everyPositiveVectorVerifies() throws {
        let cases = try SIWEFixtures.vectors("verification_positive.json")
        #expect(cases.count == 4)
        for (name, value) in cases {
            let entry = try #require(value as? [String: Any])
            // spruceid/siwe does not check Issued At; its "expired message" vector verifies at a time before it.
            let verdict = try verify(entry, rejectsFutureIssuedAt: false)
            #expect(verdict.failure == nil, "\(name): \(verdict.failure?.reason ?? "")")
            #expect(verdict.verified?.address.checksummed == entry["address"] as? String, "\(name)")
        }
    }

    @Test func theVectorSignedWithVZeroVerifies() throws {
        let entry = try #require(
            try SIWEFixtures.vectors("verification_positive.json")["recovery byte starting at 0"] as? [String: Any]
        )
        #expect((entry["signature"] as? String)?.hasSuffix("01") == true)
        #expect(try verify(entry, rejectsFutureIssuedAt: true).verified != nil)
    }

    @Test func everyNegativeVectorFailsForItsNamedReason() throws {
        let expected = [
            "expired message": "expired",
            "domain binding": "domainMismatch",
            "custom time": "expired",
            "custom nonce": "nonceMismatch",
            "malformed signature": "malformedSignature",
            "wrong signature": "signatureMismatch",
            "not yet valid": "notYetValid",
            "invalid issuedAt": "malformedMessage",
            "invalid notBefore": "malformedMessage",
            "invalid expirationTime": "malformedMessage",
        ]
        let cases = try SIWEFixtures.vectors("verification_negative.json")
        #expect(Set(cases.keys) == Set(expected.keys))
        for (name, value) in cases {
            let entry = try #require(value as? [String: Any])
            for strict in [false, true] {
                let failure = try verify(entry, rejectsFutureIssuedAt: strict).failure
                #expect(failure?.code == expected[name], "\(name): \(failure?.reason ?? "verified")")
            }
        }
        let invalidDate = try #require(cases["invalid issuedAt"] as? [String: Any])
        #expect(try verify(invalidDate, rejectsFutureIssuedAt: true).failure?.reason.contains("Issued At") == true)
    }

    @Test func contractWalletSignaturesAreAnsweredAsNotSupportedYet() throws {
        let cases = try SIWEFixtures.vectors("eip1271.json")
        #expect(cases.count == 2)
        for (name, value) in cases {
            let entry = try #require(value as? [String: Any])
            let text = try #require(entry["message"] as? String)
            let signature = try #require(entry["signature"] as? String)
            // The messages themselves are well-formed and round-trip.
            #expect(try SIWEMessage(parsing: text).text == text)
            let verdict = SIWEVerifier(policy: try SIWEPolicy(domain: "localhost:4361", scheme: "https"))
                .verify(messageText: Array(text.utf8), signatureHex: signature, now: SIWEFixtures.defaultNow)
            let failure = try #require(verdict.failure, "\(name) verified")
            #expect(
                ["contractWalletUnsupported", "signatureMismatch", "invalidSignature"].contains(failure.code),
                "\(name)"
            )
            #expect(failure.reason.contains(SIWEFailure.contractWalletsNotSupported), "\(name): \(failure.reason)")
            #expect(!failure.isMalformed)
        }
        // Loopring's signature is 66 bytes: not an EOA's, whatever it recovers to.
        let loopring = try #require(cases["loopring"] as? [String: Any])
        let verdict = SIWEVerifier(policy: try SIWEPolicy(domain: nil)).verify(
            messageText: Array(try #require(loopring["message"] as? String).utf8),
            signatureHex: try #require(loopring["signature"] as? String),
            now: SIWEFixtures.defaultNow
        )
        #expect(verdict.failure == .contractWalletUnsupported(signatureLength: 66))
    }

    // MARK: The node's policy

    let now = SIWEFixtures.time("2026-11-24T21:30:00Z")

    func verdict(_ message: SIWEMessage, policy: SIWEPolicy, now: RFC3339Timestamp? = nil) throws -> SIWEVerdict {
        SIWEVerifier(policy: policy).verify(
            messageText: message.bytes,
            signatureHex: try SIWEFixtures.sign(message),
            now: now ?? self.now
        )
    }

    @Test func aMessageSignedHereVerifiesAndBindsTheAddress() throws {
        let message = try SIWEFixtures.message()
        let verified = try #require(
            try verdict(message, policy: SIWEPolicy(domain: "privacy.delong.example")).verified
        )
        #expect(verified.address == SIWEFixtures.signer)
        #expect(verified.message == message)
    }

    @Test func wrongDomainSchemeURIAndChainAreRefused() throws {
        let message = try SIWEFixtures.message()
        #expect(try verdict(message, policy: SIWEPolicy(domain: "evil.example")).failure?.code == "domainMismatch")
        #expect(
            try verdict(message, policy: SIWEPolicy(domain: "privacy.delong.example", scheme: "http")).failure?.code
                == "schemeMismatch"
        )
        let origin = try SIWEPolicy(domain: "privacy.delong.example", uri: .origin("https://other.example"))
        #expect(try verdict(message, policy: origin).failure?.code == "uriNotAllowed")
        let sameOrigin = try SIWEPolicy(
            domain: "privacy.delong.example",
            uri: .origin("HTTPS://privacy.delong.example/")
        )
        #expect(try verdict(message, policy: sameOrigin).failure == nil)
        let prefix = try SIWEPolicy(
            domain: "privacy.delong.example",
            uri: .prefix("https://privacy.delong.example/log")
        )
        #expect(try verdict(message, policy: prefix).failure?.code == "uriNotAllowed")
        let pathPrefix = try SIWEPolicy(
            domain: "privacy.delong.example",
            uri: .prefix("https://privacy.delong.example")
        )
        #expect(try verdict(message, policy: pathPrefix).failure == nil)
        let chains = try SIWEPolicy(domain: "privacy.delong.example", chainIDs: [31337])
        #expect(try verdict(message, policy: chains).failure == .chainNotAllowed(1))
    }

    @Test func expiryNotBeforeAndIssuedAtHonourABoundedClockSkew() throws {
        let policy = try SIWEPolicy(domain: "privacy.delong.example", clockSkew: .seconds(30))
        let message = try SIWEFixtures.message(
            issuedAt: "2026-11-24T21:00:00Z",
            expirationTime: "2026-11-24T22:00:00Z",
            notBefore: "2026-11-24T21:05:00Z"
        )
        func code(at time: String) throws -> String? {
            try verdict(message, policy: policy, now: SIWEFixtures.time(time)).failure?.code
        }
        #expect(try code(at: "2026-11-24T21:04:29Z") == "notYetValid")
        #expect(try code(at: "2026-11-24T21:04:31Z") == nil)
        #expect(try code(at: "2026-11-24T22:00:29Z") == nil)
        #expect(try code(at: "2026-11-24T22:00:30Z") == "expired")
        let future = try SIWEFixtures.message(issuedAt: "2026-11-24T21:31:00Z", expirationTime: nil)
        #expect(try verdict(future, policy: policy).failure?.code == "issuedInFuture")
        let slightlyAhead = try SIWEFixtures.message(issuedAt: "2026-11-24T21:30:20Z", expirationTime: nil)
        #expect(try verdict(slightlyAhead, policy: policy).failure == nil)
        let aged = try SIWEPolicy(domain: "privacy.delong.example", maxAge: .seconds(600))
        #expect(
            try verdict(message, policy: aged, now: SIWEFixtures.time("2026-11-24T21:20:00Z")).failure?.code == "tooOld"
        )
        #expect(throws: PrivacyPlaneError.self) { try SIWEPolicy(domain: nil, clockSkew: .seconds(301)) }
        #expect(throws: PrivacyPlaneError.self) { try SIWEPolicy(domain: nil, clockSkew: .seconds(-1)) }
    }

    @Test func aSignatureOverOtherBytesIsRefusedAsAMismatch() throws {
        let message = try SIWEFixtures.message()
        let other = try SIWEFixtures.message(nonce: "zzzzzzzz99999999")
        let verdict = SIWEVerifier(policy: try SIWEPolicy(domain: "privacy.delong.example")).verify(
            messageText: message.bytes,
            signatureHex: try SIWEFixtures.sign(other),
            now: now
        )
        #expect(verdict.failure?.code == "signatureMismatch")
    }

    @Test func highSAndBadRecoveryBytesAreInvalidSignaturesNotMalformedInput() throws {
        let message = try SIWEFixtures.message()
        var bytes = try Hex.decode(try SIWEFixtures.sign(message))
        bytes[64] = 29
        let policy = try SIWEPolicy(domain: "privacy.delong.example")
        let badV = SIWEVerifier(policy: policy).verify(message, signature: bytes, now: now)
        #expect(badV.failure?.code == "invalidSignature")
        // s' = n - s is the malleable twin (EIP-2): refused.
        let sig = try Secp256k1.shared.sign(message.signingHash, privateKey: SIWEFixtures.privateKey)
        let n = try Hex.decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
        var highS = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for i in stride(from: 31, through: 0, by: -1) {
            let d = Int(n[i]) - Int(sig.s[i]) - borrow
            highS[i] = UInt8((d + 256) % 256)
            borrow = d < 0 ? 1 : 0
        }
        let twin = SIWEVerifier(policy: policy).verify(
            message,
            signature: sig.r + highS + [28 - sig.recoveryID],
            now: now
        )
        #expect(twin.failure?.code == "invalidSignature")
    }
}
