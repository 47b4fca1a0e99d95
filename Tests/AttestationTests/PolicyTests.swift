import ChainCore
import Foundation
import PlaneCrypto
import TestSupport
import Testing

@testable import Attestation

/// AttestationPolicy, the measurement digest, collateral reuse and the insecure development evidence.
@Suite struct PolicyTests {
    func verified() throws -> VerifiedQuote {
        try DCAPVerifier.verify(
            quote: try Fixtures.dstackQuote(),
            collateral: try Fixtures.collateral(Fixtures.outdated),
            at: Fixtures.time("2026-03-01T00:00:00Z")
        )
    }

    @Test func reportDataBindingIsCheckedExactly() throws {
        let v = try verified()
        let policy = AttestationPolicy()
        try policy.check(v, expectedReportData: [0x12, 0x34])  // prefix, rest zero
        try policy.check(v, expectedReportData: [0x12, 0x34] + [UInt8](repeating: 0, count: 62))
        try policy.check(v, expectedReportData: nil)
        #expect(throws: AttestationError(.reportDataMismatch, "")) {
            try policy.check(v, expectedReportData: [0x12, 0x35])
        }
        #expect(throws: AttestationError(.reportDataMismatch, "")) {
            try policy.check(v, expectedReportData: [UInt8](repeating: 0, count: 65))
        }
    }

    @Test func statusesOutsideThePolicyAreRejected() throws {
        let v = try verified()
        #expect(throws: AttestationError(.tcbStatusRejected, "")) {
            try AttestationPolicy(acceptableStatuses: [.swHardeningNeeded]).check(v, expectedReportData: nil)
        }
        try AttestationPolicy(acceptableStatuses: [.upToDate, .swHardeningNeeded]).check(v, expectedReportData: nil)
    }

    @Test func measurementDigestIsSHA256OfMRTDAndRTMRs() throws {
        let v = try verified()
        let r = v.report
        #expect(v.measurementDigest(includingRTMR3: false) == Digest.sha256(r.mrTD + r.rtmr[0] + r.rtmr[1] + r.rtmr[2]))
        #expect(
            v.measurementDigest(includingRTMR3: true)
                == Digest.sha256(r.mrTD + r.rtmr[0] + r.rtmr[1] + r.rtmr[2] + r.rtmr[3])
        )
        #expect(v.fmspc == Hex.decode(lenient: "90c06f000000"))
        let bytes = try Fixtures.dstackQuote()
        #expect(bytes.count == 5006)  // 70 bytes of zero padding after the 4936-byte quote
        #expect(v.quoteHash == Digest.sha256(Array(bytes[0..<4936])))
        #expect(v.kind == .intelTDX)
    }

    @Test func developmentEvidenceIsRefusedUnlessExplicitlyAllowed() throws {
        let v = try verified()
        let evidence = try InsecureDevelopmentEvidence(mrTD: v.mrTD, rtmr: v.rtmr, reportData: v.reportData)
        let parsed = try InsecureDevelopmentEvidence(json: evidence.json())
        #expect(parsed == evidence)
        #expect(String(decoding: evidence.json(), as: UTF8.self).contains("delong-dev-insecure-v1"))
        let dev = parsed.insecurelyAccept()
        #expect(dev.kind == .insecureDevelopment)
        #expect(dev.advisoryIDs == [InsecureDevelopmentEvidence.advisoryID])
        // Development evidence claiming production values gets the development digest, never the production one.
        for rtmr3 in [false, true] {
            #expect(dev.measurementDigest(includingRTMR3: rtmr3) != v.measurementDigest(includingRTMR3: rtmr3))
        }
        #expect(throws: AttestationError(.developmentEvidence, "")) {
            try AttestationPolicy().check(dev, expectedReportData: v.reportData)
        }
        try AttestationPolicy(allowInsecureDevelopment: true).check(dev, expectedReportData: v.reportData)
        #expect(throws: AttestationError(.developmentEvidence, "")) {
            try InsecureDevelopmentEvidence(json: Array("{\"type\":\"tdx\"}".utf8))
        }
    }

    @Test func developmentEvidenceClaimingAProductionDigestGetsOnlyItsOwnDomainsDigest() throws {
        let v = try verified()
        let r = v.report
        let dev = try InsecureDevelopmentEvidence(mrTD: r.mrTD, rtmr: r.rtmr, reportData: r.reportData)
            .insecurelyAccept()
        let domain = Array("delong/dev-measurements/v1".utf8)
        #expect(InsecureDevelopmentEvidence.digestDomain == domain)
        #expect(
            dev.measurementDigest(includingRTMR3: false)
                == Digest.sha256(domain + r.mrTD + r.rtmr[0] + r.rtmr[1] + r.rtmr[2])
        )
        #expect(
            dev.measurementDigest(includingRTMR3: true)
                == Digest.sha256(domain + r.mrTD + r.rtmr[0] + r.rtmr[1] + r.rtmr[2] + r.rtmr[3])
        )
        let production = [false, true].map { v.measurementDigest(includingRTMR3: $0) }
        #expect(!production.contains(dev.measurementDigest(includingRTMR3: false)))
        #expect(!production.contains(dev.measurementDigest(includingRTMR3: true)))
        // An independent SHA-256 (Python hashlib) of the domain and the values gives the same digest.
        let python = try ContribTool.python(
            "import hashlib,sys; print(hashlib.sha256(b'delong/dev-measurements/v1' + bytes.fromhex(sys.argv[1])).hexdigest())",
            [Hex.encode(r.mrTD + r.rtmr[0] + r.rtmr[1] + r.rtmr[2], prefix: false)]
        )
        #expect(
            Hex.encode(dev.measurementDigest(includingRTMR3: false), prefix: false)
                == python.trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }

    @Test func preparedCollateralVerifiesManyQuotes() throws {
        let prepared = try DCAPVerifier.prepare(try Fixtures.collateral(Fixtures.outdated))
        let at = Fixtures.time("2026-03-01T00:00:00Z")
        let dstack = try DCAPVerifier.verify(quote: try Fixtures.dstackQuote(), collateral: prepared, at: at)
        let v5 = try DCAPVerifier.verify(
            quote: try Fixtures.quote("go-tdx-guest/quote_v5_sample.dat"),
            collateral: prepared,
            at: at
        )
        #expect(dstack.status == .upToDate && v5.status == .upToDate)
        #expect(v5.version == 5 && dstack.version == 4)
    }

    /// Single-quote cost with cached collateral (printed; the floor only catches pathological regressions).
    @Test func cachedCollateralVerificationRate() throws {
        let prepared = try DCAPVerifier.prepare(try Fixtures.collateral(Fixtures.outdated))
        let quote = try Fixtures.dstackQuote()
        let at = Fixtures.time("2026-03-01T00:00:00Z")
        let n = 300
        let start = ContinuousClock.now
        for _ in 0..<n { _ = try DCAPVerifier.verify(quote: quote, collateral: prepared, at: at) }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "attestation.bench: \(n) verifications with cached collateral: \(Int(Double(n) / seconds))/s, "
                + "\(Int(seconds / Double(n) * 1e6)) µs each (one core, this build configuration)"
        )
        #expect(Double(n) / seconds > 50)
    }
}

/// PlaneCrypto's P-256 key construction refuses what is not a curve point.
@Suite struct P256KeyTests {
    @Test func pointsOffTheCurveOrOfTheWrongLengthAreRefused() throws {
        #expect(throws: PlaneCryptoError.self) {
            try P256PublicKey(uncompressedPoint: [UInt8](repeating: 0, count: 64))
        }
        #expect(throws: PlaneCryptoError.self) {
            try P256PublicKey(uncompressedPoint: [UInt8](repeating: 1, count: 63))
        }
        let quote = try TDXQuote(bytes: try Fixtures.quote("dcap-qvl/tdx_quote"))
        var key = quote.signature.attestationKey
        let valid = try P256PublicKey(uncompressedPoint: key)
        #expect(valid.isValidSignature(rawRS: quote.signature.quoteSignature, for: quote.signedRegion))
        #expect(!valid.isValidSignature(rawRS: quote.signature.quoteSignature, for: quote.signedRegion + [0]))
        #expect(!valid.isValidSignature(rawRS: [UInt8](repeating: 0, count: 64), for: quote.signedRegion))
        key[63] ^= 1
        #expect(throws: PlaneCryptoError.self) { try P256PublicKey(uncompressedPoint: key) }
    }
}
