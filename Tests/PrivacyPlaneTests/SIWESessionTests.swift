import ChainCore
import Foundation
import PlaneCrypto
import PrivacyPlane
import TestSupport
import Testing

/// Sessions: bound to the signed-in address, expiring, with random tokens compared in constant time; and
/// the sign-in flow that creates them.
@Suite struct SIWESessionTests {
    let dir: URL
    let now = SIWEFixtures.time("2026-11-24T21:30:00Z")
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    func service(sessionLifetime: Duration = .seconds(3600)) throws -> SignInService {
        SignInService(
            verifier: SIWEVerifier(policy: try SIWEPolicy(domain: "privacy.delong.example")),
            nonces: try FileNonceStore(path: dir.appendingPathComponent("nonces.log").path),
            sessions: SessionStore(),
            sessionLifetime: sessionLifetime,
            logger: nil
        )
    }

    func signIn(
        _ service: SignInService,
        expirationTime: String? = "2026-11-24T22:00:00Z"
    ) throws
        -> SignInService.Outcome
    {
        let nonce = try service.issueNonce(now: now).value
        let message = try SIWEFixtures.message(nonce: nonce, expirationTime: expirationTime)
        return service.signIn(message: message.bytes, signatureHex: try SIWEFixtures.sign(message), now: now)
    }

    @Test func aSessionIsBoundToTheAddressAndEndsNoLaterThanTheMessage() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try service(sessionLifetime: .seconds(7200))
        guard case .signedIn(let session, let token) = try signIn(service) else {
            Issue.record("refused")
            return
        }
        #expect(session.address == SIWEFixtures.signer)
        #expect(session.expiresAt == SIWEFixtures.time("2026-11-24T22:00:00Z"))
        #expect(service.sessions.lookup(token: token, now: now) == .valid(session))
        #expect(service.sessions.lookup(token: token, now: SIWEFixtures.time("2026-11-24T22:00:00Z")) == .expired)
        service.sessions.revoke(id: session.id)
        #expect(service.sessions.lookup(token: token, now: now) == .unknown)
    }

    @Test func tamperedOrForeignTokensAreUnknown() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try service()
        guard case .signedIn(_, let token) = try signIn(service) else {
            Issue.record("refused")
            return
        }
        var tampered = Array(token)
        tampered[tampered.count - 1] = tampered.last == "0" ? "1" : "0"
        #expect(service.sessions.lookup(token: String(tampered), now: now) == .unknown)
        #expect(service.sessions.lookup(token: "", now: now) == .unknown)
        #expect(service.sessions.lookup(token: token + "00", now: now) == .unknown)
        #expect(SessionStore().lookup(token: token, now: now) == .unknown)
        guard case .signedIn(_, let second) = try signIn(service) else { return }
        #expect(second != token)
    }

    @Test func aSignInWithANonceNotIssuedHereIsRefused() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try service()
        let message = try SIWEFixtures.message(nonce: "NotIssuedHere123")
        let outcome = service.signIn(message: message.bytes, signatureHex: try SIWEFixtures.sign(message), now: now)
        guard case .refused(let failure) = outcome else {
            Issue.record("accepted")
            return
        }
        #expect(failure == .nonceUnknown("NotIssuedHere123"))
    }

    @Test func aForgedSignatureDoesNotBurnTheNonce() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try service()
        let nonce = try service.issueNonce(now: now).value
        let message = try SIWEFixtures.message(nonce: nonce)
        let forged = try SIWEFixtures.sign(
            try SIWEFixtures.message(nonce: nonce, uri: "https://privacy.delong.example/x")
        )
        guard case .refused = service.signIn(message: message.bytes, signatureHex: forged, now: now) else {
            Issue.record("forged signature accepted")
            return
        }
        let outcome = service.signIn(message: message.bytes, signatureHex: try SIWEFixtures.sign(message), now: now)
        guard case .signedIn = outcome else {
            Issue.record("genuine sign-in refused after a forged attempt")
            return
        }
    }

    @Test func constantTimeCompareAgreesWithEquality() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equals([], []))
    }
}
