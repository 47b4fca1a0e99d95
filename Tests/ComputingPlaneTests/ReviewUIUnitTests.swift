import ChainCore
import ComputingPlane
import Foundation
import Hummingbird
import PlaneProtocol
import PrivacyPlane
import Testing

@testable import ComputingPlaneHTTP

/// The review page's sign-in (SIWE through the Privacy Plane's verifier, the session cookie, the CSRF
/// token), its renderer of output files (data for textContent, never markup) and its static files.
@Suite struct ReviewUIUnitTests {
    static let key: [UInt8] = Array(repeating: 0, count: 31) + [0x2A]
    static let address = try! Secp256k1.shared.address(privateKey: key)
    static let domain = "127.0.0.1:8548"

    static func sessions() throws -> ReviewSessions {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("review-nonces-\(UUID().uuidString)")
        return try ReviewSessions(domain: domain, chainID: 31337, nonceLog: log.path)
    }

    static func now(_ offset: Int64 = 0) -> RFC3339Timestamp {
        RFC3339Timestamp(unixSeconds: Int64(Date().timeIntervalSince1970) + offset)
    }

    static func sign(_ text: String, key: [UInt8] = key) throws -> String {
        let hash = try SIWEMessage(parsing: text).signingHash
        return Hex.encode(try Secp256k1.shared.sign(hash, privateKey: key).rsv)
    }

    /// A message the server did not build: same fields as `message(for:)` with some replaced.
    static func forged(
        _ sessions: ReviewSessions,
        domain: String = domain,
        chainID: UInt64 = 31337,
        nonce: String? = nil,
        expires: RFC3339Timestamp?? = .none
    ) throws -> String {
        let issued = try sessions.message(for: address, now: now())
        return try SIWEMessage(
            scheme: "https",
            domain: domain,
            address: address,
            statement: issued.statement,
            uri: "https://\(domain)/review/",
            chainID: chainID,
            nonce: nonce ?? issued.nonce,
            issuedAt: issued.issuedAt,
            expirationTime: expires ?? issued.expirationTime
        ).text
    }

    func signedIn(_ sessions: ReviewSessions) throws -> (Session, String, String) {
        let text = try sessions.message(for: Self.address, now: Self.now()).text
        guard
            case .signedIn(let session, let token, let csrf) = sessions.signIn(
                message: text,
                signature: try Self.sign(text),
                now: Self.now()
            )
        else {
            Issue.record("sign-in refused")
            throw CancellationError()
        }
        return (session, token, csrf)
    }

    // MARK: Sign-in, session, CSRF

    @Test func aWalletSignsTheIssuedMessageAndGetsASessionBoundToItsAddress() throws {
        let sessions = try Self.sessions()
        let (session, token, csrf) = try signedIn(sessions)
        #expect(session.address == Self.address)
        #expect(session.expiresAt <= Self.now(900))
        #expect(sessions.session(token: token, now: Self.now()) == session)
        #expect(sessions.session(token: token, now: Self.now(901)) == nil, "the session ends within 15 minutes")
        #expect(sessions.session(token: nil, now: Self.now()) == nil)
        #expect(sessions.session(token: token + "0", now: Self.now()) == nil)
        #expect(csrf.utf8.count == 64)
        #expect(!token.contains(csrf), "the CSRF token is not derived from the cookie")
    }

    @Test func theCSRFTokenMustMatchExactly() throws {
        let sessions = try Self.sessions()
        let (session, _, csrf) = try signedIn(sessions)
        #expect(sessions.csrfMatches(session, csrf))
        #expect(!sessions.csrfMatches(session, nil))
        #expect(!sessions.csrfMatches(session, ""))
        #expect(!sessions.csrfMatches(session, String(csrf.dropLast())))
        #expect(!sessions.csrfMatches(session, String(csrf.dropLast()) + (csrf.hasSuffix("0") ? "1" : "0")))
        // Another session's token does not fit.
        let (other, _, otherCSRF) = try signedIn(sessions)
        #expect(!sessions.csrfMatches(session, otherCSRF))
        #expect(!sessions.csrfMatches(other, csrf))
    }

    @Test func signOutEndsTheSessionAndItsCSRFToken() throws {
        let sessions = try Self.sessions()
        let (session, token, csrf) = try signedIn(sessions)
        sessions.signOut(session)
        #expect(sessions.session(token: token, now: Self.now()) == nil)
        #expect(!sessions.csrfMatches(session, csrf))
    }

    @Test func aSignedMessageIsUsedOnce() throws {
        let sessions = try Self.sessions()
        let text = try sessions.message(for: Self.address, now: Self.now()).text
        let signature = try Self.sign(text)
        guard case .signedIn = sessions.signIn(message: text, signature: signature, now: Self.now()) else {
            Issue.record("first sign-in refused")
            return
        }
        guard case .refused(let why) = sessions.signIn(message: text, signature: signature, now: Self.now()) else {
            Issue.record("a replayed sign-in was accepted")
            return
        }
        #expect(why.contains("nonce"), "\(why)")
    }

    @Test func messagesForAnotherHostChainNonceOrWithoutExpiryAreRefused() throws {
        let sessions = try Self.sessions()
        let cases: [(String, String, String)] = [
            ("another host", try Self.forged(sessions, domain: "evil.example:8548"), "domain"),
            ("another chain", try Self.forged(sessions, chainID: 1), "chain id 1"),
            ("a nonce not issued here", try Self.forged(sessions, nonce: "abcdefgh12345678"), "not issued here"),
            ("no expiry", try Self.forged(sessions, expires: .some(nil)), "must expire"),
            ("an hour's expiry", try Self.forged(sessions, expires: .some(Self.now(3600))), "must expire"),
            ("an expired message", try Self.forged(sessions, expires: .some(Self.now(-120))), "expired"),
        ]
        for (what, text, expected) in cases {
            guard
                case .refused(let why) = sessions.signIn(message: text, signature: try Self.sign(text), now: Self.now())
            else {
                Issue.record("\(what): signed in")
                continue
            }
            #expect(why.contains(expected), "\(what): \(why)")
        }
        // Signed by another key than the message's address.
        let text = try sessions.message(for: Self.address, now: Self.now()).text
        let other = Array(repeating: UInt8(0), count: 31) + [0x2B]
        guard
            case .refused = sessions.signIn(message: text, signature: try Self.sign(text, key: other), now: Self.now())
        else {
            Issue.record("a signature by another key signed in")
            return
        }
    }

    @Test func theIssuedMessageNamesThePlaneHostChainAndAnExpiry() throws {
        let sessions = try Self.sessions()
        let message = try sessions.message(for: Self.address, now: Self.now())
        #expect(message.domain == Self.domain)
        #expect(message.uri == "https://\(Self.domain)/review/")
        #expect(message.chainID == 31337)
        #expect(message.expirationTime != nil)
        #expect(message.text.hasPrefix("https://\(Self.domain) wants you to sign in"))
    }

    // MARK: Rendering

    static func render(_ path: String, _ text: String, _ findings: [GateFinding] = []) -> [String: Any] {
        render(path, Array(text.utf8), findings)
    }

    static func render(_ path: String, _ bytes: [UInt8], _ findings: [GateFinding] = []) -> [String: Any] {
        let json = ReviewRendering.render(path: path, bytes: bytes, findings: findings, index: 0).rendered()
        return (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
    }

    static func finding(_ place: String) -> GateFinding {
        GateFinding(check: "pii-email", severity: .likely, where: place, detail: "an email address")
    }

    @Test func findingsPlacesAreParsedOutermostFirst() {
        #expect(ReviewRendering.place("row 12, column \"name\"") == .cell(row: 12, column: "name"))
        #expect(ReviewRendering.place("row 3") == .cell(row: 3, column: nil))
        #expect(ReviewRendering.place("line 3") == .line(3))
        #expect(ReviewRendering.place("line 7, byte 12") == .line(7))
        #expect(ReviewRendering.place("byte 4096") == .byte(4096))
        #expect(ReviewRendering.place("line 2: $.a[0] > base64 > line 5") == .line(2))
        #expect(ReviewRendering.place("header") == .header)
        #expect(ReviewRendering.place("the whole file") == nil)
    }

    @Test func aCSVBecomesATableWithTheFlaggedCellMarked() throws {
        let out = Self.render(
            "table.csv",
            "name,email,count\nann,\"ann@example.org\",12\n\"b, \"\"q\"\"\",x,3\n",
            [Self.finding("row 1, column \"email\""), Self.finding("row 2")]
        )
        #expect(out["kind"] as? String == "table")
        let rows = try #require(out["rows"] as? [[String]])
        #expect(rows == [["name", "email", "count"], ["ann", "ann@example.org", "12"], ["b, \"q\"", "x", "3"]])
        let flagged = try #require(out["flagged"] as? [[Int]])
        #expect(flagged == [[1, 1], [2, -1]])
        #expect(out["truncated"] as? Bool == false)
        #expect((out["findings"] as? [[String: Any]])?.first?["where"] as? String == "row 1, column \"email\"")
    }

    @Test func aLargeTableIsCappedAndSaysSo() throws {
        let header = (0..<60).map { "c\($0)" }.joined(separator: ",")
        let row = (0..<60).map { "\($0)" }.joined(separator: ",")
        let text = ([header] + Array(repeating: row, count: 500)).joined(separator: "\n")
        let out = Self.render("big.csv", text)
        let rows = try #require(out["rows"] as? [[String]])
        #expect(rows.count == ReviewRendering.maxRows + 1)
        #expect(rows.allSatisfy { $0.count == ReviewRendering.maxColumns })
        #expect(out["totalRows"] as? Int == 501)
        #expect(out["truncated"] as? Bool == true)
    }

    @Test func htmlSVGAndScriptOutputsComeBackAsTextNeverMarkup() throws {
        let payloads = [
            ("page.html", "<html><script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\"></html>"),
            ("drawing.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"window.pwned=3\"><text>x</text></svg>"),
            ("notes.txt", "fine\n</li><script>alert(1)</script>\nann@example.org"),
        ]
        for (name, text) in payloads {
            let out = Self.render(name, text, [Self.finding("line 3")])
            #expect(out["kind"] as? String == "text", "\(name)")
            let lines = try #require(out["lines"] as? [String])
            // The bytes come back as the same string data, which the page puts into textContent.
            #expect(lines.joined(separator: "\n") == text, "\(name)")
            #expect((out["flagged"] as? [Int]) == [3] || lines.count < 3, "\(name)")
        }
    }

    @Test func hostileFileNamesRoundTripAsStrings() throws {
        let names = ["<img src=x onerror=alert(1)>.txt", "a\"b\\c\n.csv", "../../etc/passwd", "\u{202E}gnp.exe"]
        for name in names {
            let json = ReviewRendering.render(path: name, bytes: Array("x".utf8), findings: [], index: 0).rendered()
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            #expect(parsed["path"] as? String == name)
        }
    }

    @Test func imagesAreOfferedOnlyAsAReencodedCopyAndOtherBytesAsAHexDump() throws {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array("<script>".utf8)
        let image = Self.render("plot.png", png)
        #expect(image["kind"] as? String == "image")
        #expect(image["preview"] as? Bool == false, "a PNG that does not decode has no preview")
        #expect(image["lines"] == nil && image["rows"] == nil, "the raw image bytes are not sent")
        // A real PNG with a text chunk: previewed from a re-encoded copy that keeps the pixels, not the text.
        let pixels = GateImagesTests.png(width: 2, height: 2, depth: 8, colorType: 0, raw: [0, 10, 20, 0, 30, 40])
        let withText =
            Array(pixels[0..<33]) + GateImagesTests.textChunk("Comment", "<script>alert(1)</script>")
            + Array(pixels[33...])
        #expect(Self.render("plot.png", withText)["preview"] as? Bool == true)
        let copy = try #require(ReviewRendering.reencodedImage(withText))
        #expect(copy.starts(with: pixels.prefix(8)) && !String(decoding: copy, as: UTF8.self).contains("script"))
        let binary = Self.render(
            "blob.bin",
            [0, 1, 2] + Array("<b>".utf8) + Array(repeating: 0xFF, count: 40),
            [
                Self.finding("byte 20")
            ]
        )
        #expect(binary["kind"] as? String == "binary")
        let lines = try #require(binary["lines"] as? [String])
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("00000000  00 01 02 3c 62 3e"))
        #expect(binary["flagged"] as? [Int] == [2])
    }

    // MARK: Static files and headers

    @Test func thePageHasNoInlineScriptOrStyleAndNeverBuildsMarkupFromData() {
        let html = ReviewAssets.html
        #expect(html.contains("<script src=\"/review/app.js\""))
        #expect(!html.contains("<style"))
        #expect(!html.contains("style="))
        #expect(html.components(separatedBy: "<script").count == 2, "one script element, with src")
        #expect(html.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil, "no inline handlers")
        #expect(!html.contains("http://") && !html.contains("https://"), "no third-party asset")
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            #expect(!ReviewAssets.js.contains(sink), "\(sink)")
        }
        #expect(!ReviewAssets.js.contains("http://") && !ReviewAssets.js.contains("https://"))
        #expect(!ReviewAssets.css.contains("url("), "no external style assets")
    }

    @Test func everyUIAnswerCarriesTheStrictHeaders() {
        let response = ReviewUI.secured(Response(status: .unauthorized))
        let csp = response.headers[.init("Content-Security-Policy")!] ?? ""
        for directive in [
            "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
            "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
        ] {
            #expect(csp.contains(directive), "\(directive)")
        }
        #expect(!csp.contains("unsafe"))
        #expect(response.headers[.init("X-Content-Type-Options")!] == "nosniff")
        #expect(response.headers[.init("Referrer-Policy")!] == "no-referrer")
        #expect(response.headers[.cacheControl] == "no-store")
        let cookie = ReviewUI.cookie("abc.def", maxAge: 900)
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/review", "Max-Age=900"] {
            #expect(cookie.contains(attribute), "\(attribute)")
        }
    }
}
