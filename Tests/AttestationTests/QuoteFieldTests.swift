import ChainCore
import Foundation
import PlaneCrypto
import TestSupport
import Testing

@testable import Attestation

/// Parsed field values equal the MANIFEST's "Expected field values" and dcap-qvl 0.7.0's recorded reports.
@Suite struct QuoteFieldTests {
    struct Expected: Sendable, CustomStringConvertible {
        let path: String
        let version: UInt16
        let teeTCBSVN: String
        let teeTCBSVN2: String?
        let mrSeam: String
        let tdAttributes: String
        let xfam: String
        let mrTD: String
        let rtmr: [String]
        let reportData: String
        let qeISVSVN: UInt16
        var description: String { path }
    }

    static let zero48 = String(repeating: "0", count: 96)

    static let expected: [Expected] = [
        Expected(
            path: "dcap-qvl/tdx_quote",
            version: 4,
            teeTCBSVN: "06010300000000000000000000000000",
            teeTCBSVN2: nil,
            mrSeam: "5b38e33a6487958b72c3c12a938eaa5e3fd4510c51aeeab58c7d5ecee41d7c436489d6c8e4f92f160b7cad34207b00c1",
            tdAttributes: "0000001000000000",
            xfam: "e702060000000000",
            mrTD: "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7",
            rtmr: [
                "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0",
                "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378",
                "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132",
                zero48,
            ],
            reportData:
                "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20",
            qeISVSVN: 6
        ),
        Expected(
            path: Fixtures.dstack,
            version: 4,
            teeTCBSVN: "0b010400000000000000000000000000",
            teeTCBSVN2: nil,
            mrSeam: "7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4df648657ba6d1189589feab1d5a3c9a9d",
            tdAttributes: "0000001000000000",
            xfam: "e702060000000000",
            mrTD: "b24d3b24e9e3c16012376b52362ca09856c4adecb709d5fac33addf1c47e193da075b125b6c364115771390a5461e217",
            rtmr: [
                "2e3843265f8ecdd4e2282694747f6f2f111605c33f2a8882f5734ee6f3a6ce63d8f34aeef06093dcda76fa5f9d33d8d6",
                "a1b79d76021970f57c45c4a7c395f780bab37011a4df27fe44e8559bd1abb4d6e52f12f866d1d08405448eb797a5970f",
                "1e31b59d605df7ee8160cf7966be9bafa6d0e1905de7e09695a24cd9748e71a603a51fae1297619fa0c30517addbcd07",
                "0f787c3877f3e95095d5a4d13dd0fe0233803b30120d8469866719dc28f519ce021fe1e53459121e7a5a4443147185a8",
            ],
            reportData: "1234" + String(repeating: "0", count: 124),
            qeISVSVN: 6
        ),
        Expected(
            path: "go-tdx-guest/quote_v5_sample.dat",
            version: 5,
            teeTCBSVN: "0b010400000000000000000000000000",
            teeTCBSVN2: "0d010400000000000000000000000000",
            mrSeam: "7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4df648657ba6d1189589feab1d5a3c9a9d",
            tdAttributes: "0000001000000000",
            xfam: "e702060000000000",
            mrTD: "7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f750c3bc8f876",
            rtmr: [
                "5c8daf76063a71ac8fcef4067564661fc682ed7944c7a5d21dbbced02f61ceff4ba0678c6aef3bdae8cbc614cec24619",
                "463acaace1b6e97c76e92e41fe312aa66f3fd4dad60ec7acf169859db0343e3d1e591646795cdc80fbc0ca5f7041d253",
                "6369b9c9a3b791ebcbdc5a0bb9536cfb57f50df2b393b33c8b29616d3568baa61f4b59dc6092e31ea8764bcbdfc69f20",
                zero48,
            ],
            reportData:
                "945eaacf5abc1f719d8666a942fda03d1edcb4490277396093dc5a5289ab9f1e094aed63060cd4a4933a4dd537ed1255c9c79ecb3ed82cd1b486233e31c25c3a",
            qeISVSVN: 7
        ),
        Expected(
            path: "dcap-qvl/tdx_quote_outdated",
            version: 5,
            teeTCBSVN: "07010300000000000000000000000000",
            teeTCBSVN2: "0d010300000000000000000000000000",
            mrSeam: "49b66faa451d19ebbdbe89371b8daf2b65aa3984ec90110343e9e2eec116af08850fa20e3b1aa9a874d77a65380ee7e6",
            tdAttributes: "0000001000000000",
            xfam: "e718060000000000",
            mrTD: "273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1ae451d382d5a9b1b4c0ed0e5ae9a3dbd",
            rtmr: [zero48, zero48, zero48, zero48],
            reportData: "d2142b643598eb5fae2bc8529dd79a558b29f868ccbb6531cb28dab9dce47728"
                + String(repeating: "0", count: 64),
            qeISVSVN: 7
        ),
    ]

    @Test(arguments: expected)
    func fieldsEqualTheManifest(_ e: Expected) throws {
        let bytes = try Fixtures.quoteBytes(e.path)
        let q = try TDXQuote(bytes: bytes)
        #expect(q.version == e.version)
        #expect(bytes.count == 5006)
        #expect(q.quoteLength == q.signedRegion.count + 4 + 4300)
        #expect(q.bodyType == (e.version == 5 ? 3 : 2))
        #expect(Hex.encode(q.body.teeTCBSVN, prefix: false) == e.teeTCBSVN)
        #expect(q.body.teeTCBSVN2.map { Hex.encode($0, prefix: false) } == e.teeTCBSVN2)
        #expect(Hex.encode(q.body.mrSeam, prefix: false) == e.mrSeam)
        #expect(Hex.encode(q.body.tdAttributes, prefix: false) == e.tdAttributes)
        #expect(Hex.encode(q.body.xfam, prefix: false) == e.xfam)
        #expect(Hex.encode(q.body.mrTD, prefix: false) == e.mrTD)
        #expect(Hex.encode(q.body.mrConfigID, prefix: false) == Self.zero48)
        #expect(q.body.rtmr.map { Hex.encode($0, prefix: false) } == e.rtmr)
        #expect(Hex.encode(q.body.reportData, prefix: false) == e.reportData)
        #expect(q.signature.qeReport.isvSVN == e.qeISVSVN)
        #expect(
            Hex.encode(q.signature.qeReport.mrSigner, prefix: false)
                == "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5"
        )
        #expect(q.body.isDebug == false)
    }

    static let references = [
        "tdx_quote", "dstack_quote-report_x_90C06F", "gotdx_quote_v5_x_90C06F",
    ]

    /// dcap-qvl 0.7.0's recorded outputs: same status, advisories and report fields at the recorded time.
    @Test(arguments: references)
    func agreesWithRecordedDcapQvlOutput(_ name: String) throws {
        let ref = try #require(
            try TestData.json("attestation/reference-outputs/\(name).dcapqvl-0.7.0.json") as? [String: Any]
        )
        let quotePath = try #require(ref["quote"] as? String)
        let collateral = try Fixtures.collateral(try #require(ref["collateral"] as? String))
        let now = try #require(ref["now_unix"] as? Int)
        let v = try DCAPVerifier.verify(
            quote: try Fixtures.quoteBytes(quotePath),
            collateral: collateral,
            at: Fixtures.time(unix: Int64(now))
        )
        #expect(v.status.rawValue == ref["status"] as? String)
        #expect(v.advisoryIDs == ref["advisory_ids"] as? [String])
        let verified = try #require(ref["verified_report"] as? [String: Any])
        #expect((verified["qe_status"] as? [String: Any])?["status"] as? String == v.qeStatus.rawValue)
        #expect((verified["platform_status"] as? [String: Any])?["status"] as? String == v.platformStatus.rawValue)
        let report = try #require(verified["report"] as? [String: Any])
        var td: [String: Any]
        if let td10 = report["TD10"] as? [String: Any] {
            td = td10
        } else {
            let td15 = try #require(report["TD15"] as? [String: Any])
            td = try #require(td15["base"] as? [String: Any])
            #expect(td15["tee_tcb_svn2"] as? String == v.report.teeTCBSVN2.map { Hex.encode($0, prefix: false) })
            #expect(td15["mr_service_td"] as? String == v.report.mrServiceTD.map { Hex.encode($0, prefix: false) })
        }
        let r = v.report
        let fields: [(String, [UInt8])] = [
            ("tee_tcb_svn", r.teeTCBSVN), ("mr_seam", r.mrSeam), ("mr_signer_seam", r.mrSignerSeam),
            ("seam_attributes", r.seamAttributes), ("td_attributes", r.tdAttributes), ("xfam", r.xfam),
            ("mr_td", r.mrTD), ("mr_config_id", r.mrConfigID), ("mr_owner", r.mrOwner),
            ("mr_owner_config", r.mrOwnerConfig), ("rt_mr0", r.rtmr[0]), ("rt_mr1", r.rtmr[1]),
            ("rt_mr2", r.rtmr[2]), ("rt_mr3", r.rtmr[3]), ("report_data", r.reportData),
        ]
        for (key, value) in fields {
            #expect(td[key] as? String == Hex.encode(value, prefix: false), "\(name): \(key)")
        }
    }

    @Test func theSGXQuoteIsRefusedAsNotTDX() throws {
        #expect {
            try TDXQuote(bytes: try Fixtures.bytes("dcap-qvl/sgx_quote"))
        } throws: { error in
            let e = error as? AttestationError
            return e?.code == .unsupportedQuote && e?.reason.contains("SGX") == true
        }
    }

    @Test func theGCPQuoteInItsZeroPaddedBufferParsesToItsSignedLength() throws {
        let bytes = try Fixtures.bytes("go-tdx-guest/ccel_cos-113-tdx-quote.dat")
        #expect(bytes.count == 8000)
        let q = try TDXQuote(bytes: bytes)
        #expect(q.quoteLength == 632 + 4 + 4299)
    }

    @Test func hexQuoteFilesWithAndWithoutPrefixParse() throws {
        let a = try TDXQuote(fileContents: try Fixtures.bytes("dcap-qvl/quote-from-tappd.hex"))
        let b = try TDXQuote(fileContents: try Fixtures.bytes("dcap-qvl/tdx-quote.hex"))
        // Two quotes from the same platform (MANIFEST): same module SVNs and TD attributes, different RTMRs.
        #expect(a.body.teeTCBSVN == b.body.teeTCBSVN)
        #expect(Hex.encode(a.body.teeTCBSVN, prefix: false).hasPrefix("050102"))
        #expect(a.body.tdAttributes == b.body.tdAttributes)
        #expect(Hex.encode(a.body.rtmr[0], prefix: false).hasPrefix("274c2344"))
        #expect(Hex.encode(a.body.rtmr[3], prefix: false).hasPrefix("a2d25bc8"))
    }

    @Test func theEmbeddedRootIsIntelsSGXRootCA() throws {
        let der = try Fixtures.bytes("dcap-qvl/TrustedRootCA.der")
        #expect(IntelRootCA.certificate.der == der)
        #expect(Hex.encode(Digest.sha256(der), prefix: false) == IntelRootCA.sha256Fingerprint)
        #expect(IntelRootCA.certificate.subject.contains("Intel SGX Root CA"))
    }
}

/// Without collateral: every TDX quote of the test data carries valid signatures (attestation key over the
/// quote, PCK key over the QE report) and a QE report that binds the attestation key.
@Suite struct QuoteSignatureTests {
    static let quotes = [
        "dcap-qvl/tdx_quote", "dcap-qvl/quote-from-tappd.hex", "dcap-qvl/tdx-quote.hex", "dcap-qvl/tdx_quote_outdated",
        "go-tdx-guest/quote_v5_sample.dat", "go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
        "go-tdx-guest/ccel_cos-113-tdx-quote.dat", Fixtures.dstack,
    ]

    @Test(arguments: quotes)
    func signaturesAndQEBindingHold(_ path: String) throws {
        let q = try TDXQuote(bytes: try Fixtures.quoteBytes(path))
        let s = q.signature
        let key = try P256PublicKey(uncompressedPoint: s.attestationKey)
        #expect(key.isValidSignature(rawRS: s.quoteSignature, for: q.signedRegion))
        let chain = try X509Certificate.pemChain(s.pckChainPEM)
        #expect(chain.count == 3)
        #expect(chain[2].der == IntelRootCA.certificate.der)
        #expect(chain[0].isSigned(by: chain[1]) && chain[1].isSigned(by: chain[2]))
        #expect(try #require(chain[0].p256PublicKey).isValidSignature(rawRS: s.qeReportSignature, for: s.qeReportBytes))
        #expect(Array(s.qeReport.reportData[0..<32]) == Digest.sha256(s.attestationKey + s.qeAuthData))
    }
}
