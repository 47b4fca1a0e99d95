import ComputeEngine
import ComputeEngineFake
import Foundation
import NIOHTTP1
import Synchronization
import Testing

/// The service-account JWT exchanged for an access token, against the fake token endpoint, which checks the
/// assertion's RS256 signature and claims itself.
@Suite struct AccessTokenTests {
    @Test func aSignedAssertionIsExchangedOnceAndTheTokenReused() async throws {
        try await ComputeEngineHarness.with { h in
            let before = Date().timeIntervalSince1970
            let first = try await h.tokens.token()
            let after = Date().timeIntervalSince1970
            let second = try await h.tokens.token()
            #expect(first == second)
            #expect(first.hasPrefix("ya29.fake-"))
            #expect(await h.fake.tokensIssued() == 1)
            #expect(await h.tokens.exchanges == 1)

            // What the endpoint received, read here without the client's JWT library.
            let requests = await h.fake.received().filter { $0.path == "/token" }
            let request = try #require(requests.first)
            #expect(requests.count == 1)
            #expect(request.method == "POST")
            #expect(request.contentType == "application/x-www-form-urlencoded")
            let form = Dictionary(
                uniqueKeysWithValues: String(decoding: request.body, as: UTF8.self).split(separator: "&").map {
                    let kv = $0.split(separator: "=", maxSplits: 1).map(String.init)
                    return (kv[0], kv[1].removingPercentEncoding ?? kv[1])
                }
            )
            #expect(form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer")
            let parts = try #require(form["assertion"]).split(separator: ".")
            #expect(parts.count == 3)
            let header = try Self.json(parts[0])
            let claims = try Self.json(parts[1])
            #expect(header["alg"] as? String == "RS256")
            #expect(header["typ"] as? String == "JWT")
            #expect(header["kid"] as? String == h.account.keyID)
            #expect(claims["iss"] as? String == h.account.email)
            #expect(claims["aud"] as? String == h.fake.tokenURI)
            #expect(claims["scope"] as? String == "https://www.googleapis.com/auth/compute")
            let iat = try #require(claims["iat"] as? Int)
            let exp = try #require(claims["exp"] as? Int)
            #expect(exp - iat == 3600)
            // Issued at signing, in whole seconds, while token() ran.
            #expect(Double(iat) >= before.rounded(.down) && Double(iat) <= after, "\(before) ≤ \(iat) ≤ \(after)")
        }
    }

    /// A token with `expires_in` 63 s is reused for 3 s only (it is renewed 60 s before it expires). The token
    /// source's clock is the test's, so a loaded machine cannot stretch the 3 s.
    @Test func aTokenIsRenewedSixtySecondsBeforeItExpires() async throws {
        let clock = Mutex(Date())
        let now: @Sendable () -> Date = { clock.withLock { $0 } }
        try await ComputeEngineHarness.with(tokenLifetime: 63, now: now) { h in
            let first = try await h.tokens.token()
            clock.withLock { $0 += 2.9 }
            #expect(try await h.tokens.token() == first)
            clock.withLock { $0 += 0.4 }
            let renewed = try await h.tokens.token()
            #expect(renewed != first)
            #expect(await h.fake.tokensIssued() == 2)
        }
    }

    @Test func transientRefusalsAreRetriedABoundedNumberOfTimes() async throws {
        try await ComputeEngineHarness.with { h in
            await h.fake.failNextTokenRequests(2)
            _ = try await h.tokens.token()  // third attempt succeeds
            #expect(await h.fake.tokensIssued() == 1)

            let bounded = GoogleAccessTokens(key: h.key, maxAttempts: 3, retryDelay: .milliseconds(10))
            await h.fake.failNextTokenRequests(3, error: "server_error")
            let error = await #expect(throws: ComputeEngineError.self) { try await bounded.token() }
            #expect(error?.code == .tokenRefused)
            #expect(error?.apiReason == "server_error")
            #expect(error?.httpStatus == 503)
            #expect(await bounded.exchanges == 3)
        }
    }

    /// The fake's check can fail: a key that is not the account's, a stale assertion, one from the future.
    @Test func forgedExpiredAndFutureAssertionsAreRefused() async throws {
        try await ComputeEngineHarness.with { h in
            // Same account name and key id, another RSA key: the signature does not verify.
            let impostor = try TestServiceAccount(email: h.account.email, projectID: h.account.projectID)
            var json =
                try JSONSerialization.jsonObject(with: impostor.keyJSON(tokenURI: h.fake.tokenURI)) as! [String: Any]
            json["private_key_id"] = h.account.keyID
            let forgedKey = try ServiceAccountKey(json: JSONSerialization.data(withJSONObject: json))
            let forged = await #expect(throws: ComputeEngineError.self) {
                try await GoogleAccessTokens(key: forgedKey, maxAttempts: 1).token()
            }
            #expect(forged?.code == .tokenRefused)
            #expect(forged?.apiReason == "invalid_grant")
            #expect(forged?.apiMessage == "Invalid JWT Signature.")

            let stale = await #expect(throws: ComputeEngineError.self) {
                try await GoogleAccessTokens(key: h.key, maxAttempts: 1, now: { Date().addingTimeInterval(-7200) })
                    .token()
            }
            #expect(stale?.apiReason == "invalid_grant")
            #expect(stale?.apiMessage?.contains("short-lived") == true)

            let future = await #expect(throws: ComputeEngineError.self) {
                try await GoogleAccessTokens(key: h.key, maxAttempts: 1, now: { Date().addingTimeInterval(600) })
                    .token()
            }
            #expect(future?.apiReason == "invalid_grant")
            #expect(await h.fake.tokensIssued() == 0)
        }
    }

    /// Every compute call needs a token the endpoint issued: none, or one it never issued, is a 401 in
    /// Google's error shape, which the client turns into a typed error.
    @Test func computeCallsWithoutAnIssuedTokenAre401() async throws {
        try await ComputeEngineHarness.with { h in
            let path = "/projects/\(h.key.projectID)/zones/\(h.fake.zone)/instances"
            let none = try await h.raw(.GET, path)
            #expect(none.status == 401)
            let error = try #require(none.json["error"] as? [String: Any])
            #expect(error["code"] as? Int == 401)
            #expect((error["errors"] as? [[String: Any]])?.first?["reason"] as? String == "required")

            let client = ComputeEngineClient(
                project: h.key.projectID,
                zone: h.fake.zone,
                tokens: FixedToken(value: "ya29.never-issued"),
                baseURL: h.fake.baseURL,
                timeout: .seconds(180)
            )
            let refused = await #expect(throws: ComputeEngineError.self) { try await client.list() }
            #expect(refused?.code == .api)
            #expect(refused?.httpStatus == 401)
            #expect(refused?.apiReason == "authError")

            _ = try await h.client.list()  // the real token passes
        }
    }

    static func json(_ part: Substring) throws -> [String: Any] {
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        let data = try #require(Data(base64Encoded: text))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
