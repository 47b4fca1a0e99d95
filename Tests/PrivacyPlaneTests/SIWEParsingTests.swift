import ChainCore
import Foundation
import PrivacyPlane
import TestSupport
import Testing

/// EIP-4361 grammar: the spruceid/siwe parsing vectors, round trips, and the strictness the node adds.
@Suite struct SIWEParsingTests {
    @Test func everyPositiveVectorParsesToItsFieldsAndRoundTrips() throws {
        let cases = try SIWEFixtures.vectors("parsing_positive.json")
        #expect(cases.count == 19)
        for (name, value) in cases {
            let entry = try #require(value as? [String: Any], "\(name)")
            let text = try #require(entry["message"] as? String)
            let fields = try #require(entry["fields"] as? [String: Any])
            let message: SIWEMessage
            do { message = try SIWEMessage(parsing: text) } catch {
                Issue.record("\(name): \(error)")
                continue
            }
            #expect(message.text == text, "\(name): serialising the parsed fields changes the message")
            #expect(message.domain == fields["domain"] as? String, "\(name)")
            #expect(message.scheme == fields["scheme"] as? String, "\(name)")
            #expect(message.address.checksummed == fields["address"] as? String, "\(name)")
            #expect(message.statement == fields["statement"] as? String, "\(name)")
            #expect(message.uri == fields["uri"] as? String, "\(name)")
            #expect(message.chainID == (fields["chainId"] as? NSNumber)?.uint64Value, "\(name)")
            #expect(message.nonce == fields["nonce"] as? String, "\(name)")
            #expect(message.issuedAt.text == fields["issuedAt"] as? String, "\(name)")
            #expect(message.resources == fields["resources"] as? [String], "\(name)")
        }
    }

    @Test func everyNegativeMessageVectorIsRejected() throws {
        let cases = try SIWEFixtures.vectors("parsing_negative.json")
        #expect(cases.count == 29)
        for (name, value) in cases {
            let text = try #require(value as? String)
            #expect(throws: PrivacyPlaneError.self, "\(name) was accepted") { try SIWEMessage(parsing: text) }
        }
    }

    @Test func everyNegativeObjectVectorIsRejected() throws {
        let cases = try SIWEFixtures.vectors("parsing_negative_objects.json")
        #expect(cases.count == 18)
        for (name, value) in cases {
            let fields = try #require(value as? [String: Any])
            let text = SIWEFixtures.messageText(fields)
            #expect(throws: PrivacyPlaneError.self, "\(name) was accepted") { try SIWEMessage(parsing: text) }
        }
    }

    @Test func rejectionsNameTheLineAndTheField() throws {
        let negatives = try SIWEFixtures.vectors("parsing_negative.json")
        let expectations = [
            "address not EIP-55": "line 2: address",
            "missing uri": "line 6: expected \"URI: …\"",
            "version not 1": "line 7: Version: expected 1",
            "nonce with less then 8 chars": "line 9: Nonce:",
            "out of order notBefore": "line 13: unexpected \"Not Before:",
            "statement has line break": "line 5: expected an empty line after the statement",
        ]
        for (name, fragment) in expectations {
            let text = try #require(negatives[name] as? String)
            do {
                _ = try SIWEMessage(parsing: text)
                Issue.record("\(name) was accepted")
            } catch {
                #expect(error.code == .malformedMessage)
                #expect(error.reason.contains(fragment), "\(name): \(error.reason)")
            }
        }
    }

    @Test func carriageReturnsAreRefusedNamingTheLine() throws {
        let text = try SIWEFixtures.message().text.replacingOccurrences(of: "\n", with: "\r\n")
        do {
            _ = try SIWEMessage(parsing: text)
            Issue.record("CRLF accepted")
        } catch {
            #expect(error.reason.contains("line 1: carriage return"))
        }
    }

    @Test func trailingGarbageAndTrailingLineBreaksAreRefused() throws {
        let text = try SIWEFixtures.message().text
        #expect(throws: PrivacyPlaneError.self) { try SIWEMessage(parsing: text + "\n") }
        #expect(throws: PrivacyPlaneError.self) { try SIWEMessage(parsing: text + "\nExtra: field") }
        #expect(throws: PrivacyPlaneError.self) { try SIWEMessage(parsing: text + " ") }
        do {
            _ = try SIWEMessage(parsing: text + "\n")
        } catch {
            #expect(error.reason.contains("ends with a line break"), "\(error.reason)")
        }
    }

    @Test func oversizeMessagesAreRefusedBeforeParsing() throws {
        let base = try SIWEFixtures.message().text
        let resources = (0..<800).map { "\n- https://example.com/\($0)" }.joined()
        let text = base + "\nResources:" + resources
        #expect(text.utf8.count > SIWEMessage.maxBytes)
        do {
            _ = try SIWEMessage(parsing: text)
            Issue.record("oversize message accepted")
        } catch {
            #expect(error.reason.contains("at most \(SIWEMessage.maxBytes)"))
        }
    }

    @Test func nonASCIIAndControlBytesAreRefused() throws {
        let text = try SIWEFixtures.message().text
        #expect(throws: PrivacyPlaneError.self) {
            try SIWEMessage(parsing: text.replacingOccurrences(of: "Sign in to", with: "Sign in tö"))
        }
        #expect(throws: PrivacyPlaneError.self) {
            try SIWEMessage(parsing: text.replacingOccurrences(of: "Sign in to", with: "Sign\tin to"))
        }
    }

    @Test func allOptionalFieldsRoundTrip() throws {
        let text = """
            https://example.com:8443 wants you to sign in with your Ethereum account:
            0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

            Access dataset #7 (read-only); terms: https://example.com/tos?v=2

            URI: https://example.com:8443/app/login?x=1#top
            Version: 1
            Chain ID: 31337
            Nonce: AbCdEf0123456789xyz
            Issued At: 2026-11-24T21:00:00.123456789Z
            Expiration Time: 2026-11-24T22:00:00+01:00
            Not Before: 2026-11-24t20:59:00z
            Request ID: req-42:%20ok@x
            Resources:
            - ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi
            - https://example.com/datasets/7
            """
        let message = try SIWEMessage(parsing: text)
        #expect(message.text == text)
        #expect(message.scheme == "https")
        #expect(message.domain == "example.com:8443")
        #expect(message.chainID == 31337)
        #expect(message.requestID == "req-42:%20ok@x")
        #expect(message.resources?.count == 2)
        #expect(message.expirationTime == SIWEFixtures.time("2026-11-24T21:00:00Z"))
    }

    @Test func anEmptyResourcesListAndAnEmptyStatementRoundTrip() throws {
        let base = try SIWEFixtures.message()
        let withEmpty = try SIWEMessage(
            domain: base.domain,
            address: base.address,
            statement: "",
            uri: base.uri,
            chainID: 1,
            nonce: base.nonce,
            issuedAt: base.issuedAt,
            resources: []
        )
        let parsed = try SIWEMessage(parsing: withEmpty.text)
        #expect(parsed.text == withEmpty.text)
        #expect(parsed.statement == "")
        #expect(parsed.resources == [])
    }

    @Test func fieldInitialiserAppliesTheSameGrammar() throws {
        let base = try SIWEFixtures.message()
        #expect(throws: PrivacyPlaneError.self) {
            try SIWEMessage(
                domain: "#bad",
                address: base.address,
                uri: base.uri,
                chainID: 1,
                nonce: base.nonce,
                issuedAt: base.issuedAt
            )
        }
        #expect(throws: PrivacyPlaneError.self) {
            try SIWEMessage(
                domain: "a.example",
                address: base.address,
                statement: "two\nlines",
                uri: base.uri,
                chainID: 1,
                nonce: base.nonce,
                issuedAt: base.issuedAt
            )
        }
        #expect(throws: PrivacyPlaneError.self) {
            try SIWEMessage(
                domain: "a.example",
                address: base.address,
                uri: "no scheme",
                chainID: 1,
                nonce: base.nonce,
                issuedAt: base.issuedAt
            )
        }
        #expect(throws: PrivacyPlaneError.self) {
            try SIWEMessage(
                domain: "a.example",
                address: base.address,
                uri: base.uri,
                chainID: 1,
                nonce: "short",
                issuedAt: base.issuedAt
            )
        }
    }

    @Test func chainIDsWithLeadingZerosOrBeyond64BitsAreRefused() throws {
        let text = try SIWEFixtures.message().text
        for bad in ["01", "18446744073709551616", "-1", "1.0", ""] {
            #expect(throws: PrivacyPlaneError.self, "\(bad)") {
                try SIWEMessage(parsing: text.replacingOccurrences(of: "Chain ID: 1", with: "Chain ID: \(bad)"))
            }
        }
    }

    @Test(arguments: [
        "https://[::cafe]", "https://[2001:db8::1]:8080/x", "https://[::ffff:192.0.2.1]", "urn:uuid:6e8bc430",
        "mailto:a@b.example", "ipfs://Qm1", "https://a.example/%7Euser?q=%20#f",
    ])
    func validURIsAreAccepted(uri: String) throws {
        let text = try SIWEFixtures.message().text.replacingOccurrences(
            of: "URI: https://privacy.delong.example/login",
            with: "URI: \(uri)"
        )
        #expect(try SIWEMessage(parsing: text).uri == uri)
    }

    @Test(arguments: [
        ":nope", "https://a b", "https://[::cafe", "https://[1:2:3:4:5:6:7:8:9]", "https://x/%zz", "1http://x",
        "https://a.example/<script>", "https://[::1::2]",
    ])
    func invalidURIsAreRefused(uri: String) throws {
        let text = try SIWEFixtures.message().text.replacingOccurrences(
            of: "URI: https://privacy.delong.example/login",
            with: "URI: \(uri)"
        )
        #expect(throws: PrivacyPlaneError.self) { try SIWEMessage(parsing: text) }
    }

    /// Any text the parser accepts must serialise back to exactly itself (no non-canonical form slips
    /// through), and no edit may crash the parser: 3000 random one-byte edits of a message with every field.
    @Test func everyAcceptedEditOfAMessageRoundTripsExactly() throws {
        let base = Array(
            try SIWEMessage(
                scheme: "https",
                domain: "u@example.com:8443",
                address: SIWEFixtures.signer,
                statement: "Sign in (dataset #7)",
                uri: "https://example.com/a?b=c#d",
                chainID: 31337,
                nonce: "AbCdEf0123456789",
                issuedAt: SIWEFixtures.time("2026-11-24T21:00:00.5+01:00"),
                expirationTime: SIWEFixtures.time("2026-11-24T22:00:00Z"),
                notBefore: SIWEFixtures.time("2026-11-24T20:00:00Z"),
                requestID: "r-1",
                resources: ["ipfs://x", "https://example.com/r"]
            ).text.utf8
        )
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("\n :/-.0aZ9@#?%[]x".utf8)
        var accepted = 0
        for _ in 0..<3000 {
            var edited = base
            let at = Int.random(in: 0..<edited.count, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: edited[at] = alphabet.randomElement(using: &rng)!
            case 1: edited.remove(at: at)
            default: edited.insert(alphabet.randomElement(using: &rng)!, at: at)
            }
            guard let message = try? SIWEMessage(parsing: edited) else { continue }
            accepted += 1
            #expect(
                message.bytes == edited,
                "accepted a non-canonical edit: \(String(decoding: edited, as: UTF8.self))"
            )
        }
        #expect(accepted > 0)
    }
}
