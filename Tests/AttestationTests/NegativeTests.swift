import Foundation
import PlaneCrypto
import TestSupport
import Testing

@testable import Attestation

/// Tampering, time and length attacks are rejected with the right code, and never crash.
@Suite struct NegativeTests {
    static let inWindow = "2025-07-04T10:16:31Z"

    func tdx() throws -> (quote: [UInt8], collateral: QuoteCollateral) {
        (try Fixtures.quote("dcap-qvl/tdx_quote"), try Fixtures.collateral(Fixtures.tdx))
    }

    func failure(
        _ quote: [UInt8],
        _ collateral: QuoteCollateral,
        at time: String = inWindow
    ) -> AttestationError? {
        do {
            _ = try DCAPVerifier.verify(quote: quote, collateral: collateral, at: Fixtures.time(time))
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("2025-06-19T10:16:02Z", "TCB Info"),  // one second before TCB Info issueDate
        ("2025-06-19T10:20:00Z", "QE Identity"),  // TCB Info issued, QE Identity (10:32:27) not yet
        ("2025-07-19T10:00:36Z", "PCK CRL"),  // one second after the PCK CRL's nextUpdate
        ("2025-07-19T10:16:04Z", "TCB Info"),  // after TCB Info nextUpdate
        ("2040-01-01T00:00:00Z", "TCB Info"),
    ])
    func timesOutsideAWindowAreRejectedNamingIt(_ time: String, _ window: String) throws {
        let (quote, collateral) = try tdx()
        let error = try #require(failure(quote, collateral, at: time))
        #expect(error.code == .outsideValidityWindow)
        #expect(error.reason.hasPrefix(window), "\(error)")
    }

    @Test func windowEdgesAreInclusive() throws {
        let (quote, collateral) = try tdx()
        #expect(failure(quote, collateral, at: "2025-06-19T10:32:27Z") == nil)  // QE Identity issueDate
        #expect(failure(quote, collateral, at: "2025-07-19T10:00:35Z") == nil)  // PCK CRL nextUpdate
        let prepared = try DCAPVerifier.prepare(collateral)
        #expect(prepared.validFrom == RFC3339.seconds("2025-06-19T10:32:27Z"))
        #expect(prepared.validUntil == RFC3339.seconds("2025-07-19T10:00:35Z"))
    }

    @Test func anExpiredTCBSigningCertificateIsOutsideItsWindow() throws {
        // go-tdx-guest's older TCB signing certificate expired 2025-05-21.
        let chain = try X509Certificate.pemChain(try Fixtures.bytes("go-tdx-guest/tcbinfo_issuer_chain.pem"))
        #expect(chain.count == 2)
        #expect(chain[0].isValid(at: RFC3339.seconds("2023-07-01T00:00:00Z")!))
        #expect(!chain[0].isValid(at: RFC3339.seconds("2025-05-22T00:00:00Z")!))
        let collateral = try Fixtures.collateral(Fixtures.spr)
        let prepared = try DCAPVerifier.prepare(collateral)
        #expect(prepared.windows.contains { $0.name.contains("TCB Signing") && $0.until == chain[0].notAfter })
    }

    @Test func aFlippedByteInTheTDReportBreaksTheQuoteSignature() throws {
        var (quote, collateral) = try tdx()
        quote[200] ^= 0x01  // inside MRTD
        #expect(failure(quote, collateral)?.code == .quoteSignatureInvalid)
    }

    @Test func aFlippedByteInTheHeaderBreaksTheQuoteSignature() throws {
        var (quote, collateral) = try tdx()
        quote[30] ^= 0x80  // user data
        #expect(failure(quote, collateral)?.code == .quoteSignatureInvalid)
    }

    @Test func settingTheDebugBitBreaksTheSignatureAndIsRejectedByTheAttributeCheck() throws {
        var (quote, collateral) = try tdx()
        quote[168] |= 0x01  // TDATTRIBUTES.DEBUG
        #expect(failure(quote, collateral)?.code == .quoteSignatureInvalid)
        let parsed = try TDXQuote(bytes: quote)
        #expect(parsed.body.isDebug)
        #expect(throws: AttestationError(.debugTD, "")) {
            try DCAPVerifier.checkTDAttributes(parsed.body, allowDebug: false)
        }
        try DCAPVerifier.checkTDAttributes(parsed.body, allowDebug: true)
    }

    @Test func clearingSEPTVEDisableOrSettingReservedBitsIsRejected() throws {
        var quote = try Fixtures.quote("dcap-qvl/tdx_quote")
        quote[171] &= ~0x10  // bit 28
        #expect(throws: AttestationError(.tdAttributesInvalid, "")) {
            try DCAPVerifier.checkTDAttributes(try TDXQuote(bytes: quote).body, allowDebug: false)
        }
        quote = try Fixtures.quote("dcap-qvl/tdx_quote")
        quote[172] |= 0x01  // bit 32, reserved
        #expect(throws: AttestationError(.tdAttributesInvalid, "")) {
            try DCAPVerifier.checkTDAttributes(try TDXQuote(bytes: quote).body, allowDebug: false)
        }
    }

    @Test func aFlippedByteInTheQEReportBreaksItsPCKSignature() throws {
        var (quote, collateral) = try tdx()
        quote[632 + 4 + 128 + 6 + 300] ^= 0x01  // QE report, reserved area
        #expect(failure(quote, collateral)?.code == .qeReportSignatureInvalid)
    }

    @Test func aFlippedByteInTheQEAuthDataBreaksTheQEReportData() throws {
        var (quote, collateral) = try tdx()
        quote[632 + 4 + 128 + 6 + 384 + 64 + 2 + 5] ^= 0x01
        #expect(failure(quote, collateral)?.code == .qeReportDataMismatch)
    }

    @Test func aFlippedAttestationKeyByteIsRejected() throws {
        var (quote, collateral) = try tdx()
        quote[632 + 4 + 64 + 10] ^= 0x01
        // The key is hashed into the QE report data, so the binding fails first.
        #expect(failure(quote, collateral)?.code == .qeReportDataMismatch)
    }

    func tamperedCollateral(_ key: String, _ edit: (String) -> String) throws -> QuoteCollateral {
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(try Fixtures.bytes(Fixtures.tdx))) as? [String: Any]
        )
        let text = try #require(object[key] as? String)
        object[key] = edit(text)
        return try QuoteCollateral(json: Array(try JSONSerialization.data(withJSONObject: object)))
    }

    @Test func aChangedTCBInfoOrQEIdentityFailsItsSignature() throws {
        let tcb = try tamperedCollateral("tcb_info") {
            $0.replacingOccurrences(of: "\"tcbEvaluationDataNumber\":17", with: "\"tcbEvaluationDataNumber\":18")
        }
        #expect(tcb.tcbInfo.tcbEvaluationDataNumber == 18)
        #expect(throws: AttestationError(.collateralSignatureInvalid, "")) { try DCAPVerifier.prepare(tcb) }
        let qe = try tamperedCollateral("qe_identity") { $0.replacingOccurrences(of: "UpToDate", with: "OutOfDate") }
        #expect(throws: AttestationError(.collateralSignatureInvalid, "")) { try DCAPVerifier.prepare(qe) }
        let sig = try tamperedCollateral("tcb_info_signature") { "00" + $0.dropFirst(2) }
        #expect(throws: AttestationError(.collateralSignatureInvalid, "")) { try DCAPVerifier.prepare(sig) }
    }

    @Test func aForeignRootOrSwappedCRLsAreRejected() throws {
        let collateral = try Fixtures.collateral(Fixtures.tdx)
        let other = try X509Certificate.pemChain(try Fixtures.bytes("go-tdx-guest/pckcrl_issuer_chain.pem"))[0]
        #expect(throws: AttestationError(.certificateChainInvalid, "")) {
            try DCAPVerifier.prepare(collateral, trustAnchor: other)
        }
        let swapped = try tamperedCollateral("root_ca_crl") { _ in
            let object = try? JSONSerialization.jsonObject(with: Data((try? Fixtures.bytes(Fixtures.tdx)) ?? []))
            return ((object as? [String: Any])?["pck_crl"] as? String) ?? ""
        }
        #expect(throws: AttestationError(.certificateChainInvalid, "")) { try DCAPVerifier.prepare(swapped) }
    }

    @Test func collateralForAnotherFMSPCIsRejected() throws {
        let quote = try Fixtures.quote("dcap-qvl/tdx_quote")  // FMSPC b0c06f000000
        let collateral = try Fixtures.collateral(Fixtures.outdated)  // FMSPC 90c06f000000
        let error = try #require(failure(quote, collateral, at: "2026-03-01T00:00:00Z"))
        #expect(error.code == .tcbInfoMismatch)
        #expect(error.reason.contains("b0c06f000000") && error.reason.contains("90c06f000000"))
    }

    @Test func everyTruncationIsMalformedAndNeverCrashes() throws {
        let quote = try Fixtures.quote("dcap-qvl/tdx_quote")
        let end = try TDXQuote(bytes: quote).quoteLength
        for length in stride(from: 0, to: end, by: 1) {
            #expect(throws: AttestationError(.malformedQuote, "")) { try TDXQuote(bytes: Array(quote[0..<length])) }
        }
        _ = try TDXQuote(bytes: Array(quote[0..<end]))
    }

    func patched(_ quote: [UInt8], at offset: Int, _ bytes: [UInt8]) -> [UInt8] {
        var q = quote
        q.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        return q
    }

    @Test func hostileLengthFieldsAreBoundsCheckedBeforeUse() throws {
        let quote = try Fixtures.quote("dcap-qvl/tdx_quote")
        let sig = 632
        let cert = sig + 4 + 128
        let auth = cert + 6 + 384 + 64
        let inner = auth + 2 + 32
        let cases: [(Int, [UInt8])] = [
            (sig, [0xFF, 0xFF, 0xFF, 0xFF]),  // signature data length 4 GiB
            (sig, [0x00, 0x00, 0x00, 0x00]),  // signature data length 0
            (cert + 2, [0xFF, 0xFF, 0xFF, 0x7F]),  // certification data size
            (cert, [0x05, 0x00]),  // certification data type 5 at the outer level
            (auth, [0xFF, 0xFF]),  // QE auth data size 65535
            (inner + 2, [0xFF, 0xFF, 0xFF, 0xFF]),  // PCK chain size
            (inner + 2, [0x00, 0x00, 0x00, 0x00]),  // PCK chain size 0
            (inner, [0x07, 0x00]),  // unknown inner certification data type
        ]
        for (offset, bytes) in cases {
            #expect(throws: AttestationError.self) { try TDXQuote(bytes: patched(quote, at: offset, bytes)) }
        }
        // Garbage instead of a PEM chain parses as a quote and fails verification cleanly.
        var garbage = quote
        for i in (inner + 6)..<(inner + 6 + 3678) { garbage[i] = UInt8(truncatingIfNeeded: i * 7) }
        let collateral = try Fixtures.collateral(Fixtures.tdx)
        let error = try #require(failure(garbage, collateral))
        #expect([.malformedQuote, .certificateChainInvalid].contains(error.code), "\(error)")
        // A v5 quote claiming a huge body.
        var v5 = try Fixtures.quote("go-tdx-guest/quote_v5_sample.dat")
        v5.replaceSubrange(50..<54, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: AttestationError(.malformedQuote, "")) { try TDXQuote(bytes: v5) }
    }

    @Test func trailingBytesAreNotPartOfTheQuoteHash() throws {
        let (quote, collateral) = try tdx()
        let prepared = try DCAPVerifier.prepare(collateral)
        let a = try DCAPVerifier.verify(quote: quote, collateral: prepared, at: Fixtures.time(Self.inWindow))
        let b = try DCAPVerifier.verify(
            quote: quote + Array("trailer".utf8),
            collateral: prepared,
            at: Fixtures.time(Self.inWindow)
        )
        #expect(a.quoteHash == b.quoteHash)
        #expect(a.quoteHash.count == 32)
    }
}
