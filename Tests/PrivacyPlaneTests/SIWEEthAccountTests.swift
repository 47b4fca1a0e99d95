import ChainCore
import Foundation
import PrivacyPlane
import TestSupport
import Testing

/// Messages signed by eth-account (an independent implementation) are accepted, replays, wrong domains and
/// expired ones refused; and recovery agrees with eth-account's in both directions.
@Suite struct SIWEEthAccountTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    static func template(domain: String, nonce: String, issuedAt: String, expirationTime: String?) -> String {
        var text = """
            \(domain) wants you to sign in with your Ethereum account:
            {address}

            Sign in to the DeLong Privacy Plane

            URI: https://\(domain)/login
            Version: 1
            Chain ID: 1
            Nonce: \(nonce)
            Issued At: \(issuedAt)
            """
        if let expirationTime { text += "\nExpiration Time: \(expirationTime)" }
        return text
    }

    @Test func messagesSignedByEthAccountSignInOnceAndReplaysWrongDomainsAndExpiredOnesAreRefused() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let now = SIWEFixtures.time("2026-11-24T21:30:00Z")
        let store = try FileNonceStore(path: dir.appendingPathComponent("nonces.log").path)
        let service = SignInService(
            verifier: SIWEVerifier(policy: try SIWEPolicy(domain: "privacy.delong.example", chainIDs: [1])),
            nonces: store,
            sessions: SessionStore(),
            logger: nil
        )
        let good = try service.issueNonce(now: now).value
        let forWrongDomain = try service.issueNonce(now: now).value
        let forExpired = try service.issueNonce(now: now).value
        let reference = try EthAccountReference.run(
            sign: [
                Self.template(
                    domain: "privacy.delong.example",
                    nonce: good,
                    issuedAt: "2026-11-24T21:29:00Z",
                    expirationTime: "2026-11-24T21:40:00Z"
                ),
                Self.template(
                    domain: "evil.example",
                    nonce: forWrongDomain,
                    issuedAt: "2026-11-24T21:29:00Z",
                    expirationTime: nil
                ),
                Self.template(
                    domain: "privacy.delong.example",
                    nonce: forExpired,
                    issuedAt: "2026-11-24T21:00:00Z",
                    expirationTime: "2026-11-24T21:10:00Z"
                ),
            ],
            recover: []
        )
        let signed = reference.signed
        #expect(signed.count == 3)

        // Accepted, and the session is bound to the address eth-account signed with.
        guard
            case .signedIn(let session, let token) = service.signIn(
                message: Array(signed[0].message.utf8),
                signatureHex: signed[0].signature,
                now: now
            )
        else {
            Issue.record("eth-account message refused")
            return
        }
        #expect(session.address.checksummed == signed[0].address)
        #expect(service.sessions.lookup(token: token, now: now) == .valid(session))

        // The same message and signature again: refused as a replay.
        guard
            case .refused(let replay) = service.signIn(
                message: Array(signed[0].message.utf8),
                signatureHex: signed[0].signature,
                now: now
            )
        else {
            Issue.record("replay accepted")
            return
        }
        #expect(replay == .nonceAlreadyUsed(good))

        // Wrong domain and expired: refused for those reasons, and their nonces stay unused.
        guard
            case .refused(let wrongDomain) = service.signIn(
                message: Array(signed[1].message.utf8),
                signatureHex: signed[1].signature,
                now: now
            )
        else {
            Issue.record("wrong domain accepted")
            return
        }
        #expect(wrongDomain.code == "domainMismatch")
        guard
            case .refused(let expired) = service.signIn(
                message: Array(signed[2].message.utf8),
                signatureHex: signed[2].signature,
                now: now
            )
        else {
            Issue.record("expired message accepted")
            return
        }
        #expect(expired.code == "expired")
        #expect(try store.consume(forWrongDomain, now: now) == .consumed)
    }

    @Test func SIWERecoveryAgreesWithEthAccountBothWays() throws {
        // Swift signs with 12 keys; eth-account recovers. eth-account signs 12 messages; Swift recovers.
        var pairs: [(message: String, signature: String)] = []
        var swiftSigners: [Address] = []
        var rng = SystemRandomNumberGenerator()
        for i in 0..<12 {
            let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let address = try Secp256k1.shared.address(privateKey: key)
            let message = try SIWEMessage(
                domain: "host\(i).example:\(8000 + i)",
                address: address,
                statement: i % 2 == 0 ? "Statement number \(i)" : nil,
                uri: "https://host\(i).example/\(i)",
                chainID: UInt64(i + 1),
                nonce: NonceGenerator.make(),
                issuedAt: SIWEFixtures.time("2026-11-24T21:00:0\(i % 10)Z")
            )
            let signature = try Secp256k1.shared.sign(message.signingHash, privateKey: key)
            pairs.append((message.text, Hex.encode(signature.rsv)))
            swiftSigners.append(address)
        }
        let templates = (0..<12).map { i in
            Self.template(
                domain: "ref\(i).example",
                nonce: "reference\(i)nonce",
                issuedAt: "2026-11-24T21:00:00Z",
                expirationTime: nil
            )
        }
        let reference = try EthAccountReference.run(sign: templates, recover: pairs)
        #expect(reference.recovered == swiftSigners.map(\.checksummed))
        let verifier = SIWEVerifier(policy: try SIWEPolicy(domain: nil))
        for item in reference.signed {
            let verdict = verifier.verify(
                messageText: Array(item.message.utf8),
                signatureHex: item.signature,
                now: SIWEFixtures.time("2026-11-24T21:30:00Z")
            )
            #expect(verdict.verified?.address.checksummed == item.address, "\(verdict.failure?.reason ?? "")")
        }
    }
}
