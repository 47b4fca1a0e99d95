import Attestation
import ChainCore
import Foundation
import PlaneCrypto
import PrivacyPlane
import TestSupport
import Testing

/// The FAKE Intel PCS / PCCS of contrib/devnet/fake_pcs.py (v4 paths and issuer-chain headers), serving a
/// copy of a dcap-qvl collateral JSON file that tests may rewrite or remove; it logs every request line.
final class FakePCS: @unchecked Sendable {
    let service: ReadyService
    let collateral: URL
    let log: URL
    var url: String { service.url }

    /// Serves a copy of `collateral` (kept in `directory`) for PCK CA `ca`.
    init(serving collateral: Data, ca: String, directory: URL) throws {
        self.collateral = directory.appendingPathComponent("pcs-collateral.json")
        self.log = directory.appendingPathComponent("pcs-requests.log")
        try collateral.write(to: self.collateral)
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        service = try ReadyService(
            "contrib/.venv/bin/python",
            [
                TestData.packageRoot.appendingPathComponent("contrib/devnet/fake_pcs.py").path, self.collateral.path,
                ca, log.path,
            ]
        )
    }

    var requests: [String] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

/// DCAP collateral that refreshes: from a file or a (fake) PCS, swapped atomically on reload, the last good
/// one kept when a reload fails, and expired collateral refused as the plane's fault (collateralExpired).
@Suite struct CollateralStoreTests {
    /// Inside every window of tdx_quote_collateral.json (MANIFEST: 2025-06-19T10:32:27Z … 2025-07-19T10:00:35Z).
    static let quoteTime: Int64 = 1_752_000_000
    /// 2025-07-19T10:16:04Z: one second after the TCB Info's nextUpdate (the PCK CRL ended 10:00:35Z).
    static let afterTCBInfo: Int64 = 1_752_920_164

    let quote: [UInt8]
    let collateralJSON: Data
    let fileCollateral: VerifiedCollateral
    let dir: URL

    init() throws {
        quote = [UInt8](try TestData.data("attestation/dcap-qvl/tdx_quote"))
        collateralJSON = try TestData.data("attestation/dcap-qvl/tdx_quote_collateral.json")
        fileCollateral = try DCAPVerifier.prepare(QuoteCollateral(json: [UInt8](collateralJSON)))
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("delong-collateral-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    @Test func theQuotesPlatformKeyIsItsPCKCertificatesFMSPCAndCA() throws {
        let key = try PCKCollateralKey.of(try TDXQuote(bytes: quote))
        #expect(key.fmspcHex == "B0C06F000000")
        #expect(key.ca == "platform", "the testdata PCK chain is issued by the Intel SGX PCK Platform CA")
    }

    @Test func aPCSSourceYieldsCollateralThatVerifiesTheQuoteExactlyLikeTheFile() async throws {
        let pcs = try FakePCS(serving: collateralJSON, ca: "platform", directory: dir)
        let store = DCAPCollateralStore(source: .pcs(try PCSCollateralClient(url: pcs.url + "/sgx/certification/v4/")))
        let fetched = try await store.collateral(for: try TDXQuote(bytes: quote), now: Self.quoteTime)
        // The exact signed bytes, signatures, CRLs and chains of the file.
        let (a, b) = (fetched.collateral, fileCollateral.collateral)
        #expect(a.tcbInfoJSON == b.tcbInfoJSON && a.tcbInfoSignature == b.tcbInfoSignature)
        #expect(a.qeIdentityJSON == b.qeIdentityJSON && a.qeIdentitySignature == b.qeIdentitySignature)
        #expect(a.pckCRL.der == b.pckCRL.der && a.rootCACRL.der == b.rootCACRL.der)
        #expect(a.pckCRLIssuerChain.map(\.der) == b.pckCRLIssuerChain.map(\.der))
        #expect(a.tcbInfoIssuerChain.map(\.der) == b.tcbInfoIssuerChain.map(\.der))
        #expect(a.qeIdentityIssuerChain.map(\.der) == b.qeIdentityIssuerChain.map(\.der))
        #expect(fetched.validFrom == fileCollateral.validFrom && fetched.validUntil == fileCollateral.validUntil)
        // The same verdict through the plane's verifier.
        let policy = AttestationPolicy()
        let viaPCS = try await AttestationEvidenceVerifier(store: store, policy: policy)
            .verify(quote, now: UInt64(Self.quoteTime))
        let viaFile = try await AttestationEvidenceVerifier(collateral: fileCollateral, policy: policy)
            .verify(quote, now: UInt64(Self.quoteTime))
        #expect(viaPCS.tcbStatus == "UpToDate" && viaPCS.tcbStatus == viaFile.tcbStatus)
        #expect(viaPCS.evidenceHash == viaFile.evidenceHash && viaPCS.measurementDigests == viaFile.measurementDigests)
        // The v4 paths, with the CA and FMSPC read from the quote's PCK certificate.
        let requests = pcs.requests
        #expect(requests.contains("/sgx/certification/v4/pckcrl?ca=platform&encoding=der"), "\(requests)")
        #expect(requests.contains("/tdx/certification/v4/tcb?fmspc=B0C06F000000"), "\(requests)")
        #expect(requests.contains("/tdx/certification/v4/qe/identity"), "\(requests)")
        #expect(requests.contains("/sgx/certification/v4/rootcacrl"), "\(requests)")
        // Cached per FMSPC: a second quote asks the PCS nothing.
        _ = try await store.collateral(for: try TDXQuote(bytes: quote), now: Self.quoteTime)
        #expect(pcs.requests.count == requests.count)
        #expect(store.status.entries.map { $0.key?.fmspcHex } == ["B0C06F000000"])
    }

    @Test func aFailedPCSFetchKeepsTheLastGoodCollateralAndCountsIt() async throws {
        let pcs = try FakePCS(serving: collateralJSON, ca: "platform", directory: dir)
        let store = DCAPCollateralStore(source: .pcs(try PCSCollateralClient(url: pcs.url)))
        let parsed = try TDXQuote(bytes: quote)
        let first = try await store.collateral(for: parsed, now: Self.quoteTime)
        try FileManager.default.removeItem(at: pcs.collateral)  // the PCS now answers 503
        #expect(await store.refresh(now: Self.quoteTime + 60) == false)
        let status = store.status
        #expect(status.failures == 1 && status.refreshes == 0)
        #expect(status.lastFailure?.reason.contains("503") == true, "\(String(describing: status.lastFailure))")
        #expect(status.lastFailure?.at == Self.quoteTime + 60)
        let kept = try await store.collateral(for: parsed, now: Self.quoteTime + 61)
        #expect(kept.collateral.tcbInfoJSON == first.collateral.tcbInfoJSON)
        let verdict = try await AttestationEvidenceVerifier(store: store, policy: AttestationPolicy())
            .verify(quote, now: UInt64(Self.quoteTime + 61))
        #expect(verdict.tcbStatus == "UpToDate", "the last good collateral still verifies")
        // Back again: the next reload succeeds and is counted.
        try collateralJSON.write(to: pcs.collateral)
        #expect(await store.refresh(now: Self.quoteTime + 120))
        #expect(store.status.refreshes == 1 && store.status.lastRefresh == Self.quoteTime + 120)
    }

    @Test func aPCSThatCannotServeTheFMSPCIsCollateralUnavailableNotARefusedQuote() async throws {
        // The fake serves the 90C06F collateral only: the quote's B0C06F is a 404.
        let other = try TestData.data("attestation/dcap-qvl/tdx_quote_outdated_collateral.json")
        let pcs = try FakePCS(serving: other, ca: "platform", directory: dir)
        let store = DCAPCollateralStore(source: .pcs(try PCSCollateralClient(url: pcs.url)))
        do {
            _ = try await AttestationEvidenceVerifier(store: store, policy: AttestationPolicy())
                .verify(quote, now: UInt64(Self.quoteTime))
            Issue.record("expected collateralUnavailable")
        } catch {
            #expect(error.code == .collateralUnavailable, "\(error)")
            #expect(error.reason.contains("404") && error.reason.contains("B0C06F000000"), "\(error.reason)")
        }
        #expect(store.status.failures == 1)
        // Not asked again for every quote: within 30 s the refusal comes without a request.
        let asked = pcs.requests.count
        await #expect(throws: PrivacyPlaneError.self) {
            _ = try await store.collateral(for: try TDXQuote(bytes: quote), now: Self.quoteTime + 10)
        }
        #expect(pcs.requests.count == asked && store.status.failures == 1)
    }

    @Test func concurrentFirstQuotesOfAPlatformShareOneFetch() async throws {
        let pcs = try FakePCS(serving: collateralJSON, ca: "platform", directory: dir)
        let store = DCAPCollateralStore(source: .pcs(try PCSCollateralClient(url: pcs.url)))
        let parsed = try TDXQuote(bytes: quote)
        let fmspcs = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let c = try await store.collateral(for: parsed, now: Self.quoteTime)
                    return Hex.encode(c.collateral.tcbInfo.fmspc, prefix: false)
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(fmspcs == Array(repeating: "b0c06f000000", count: 8))
        #expect(pcs.requests.filter { $0.hasPrefix("/tdx/certification/v4/tcb") }.count == 1, "\(pcs.requests)")
    }

    @Test func aReloadSwapsTheFileCollateralAndABadFileKeepsTheLastGood() async throws {
        let path = dir.appendingPathComponent("collateral.json")
        try collateralJSON.write(to: path)
        let store = DCAPCollateralStore(source: .file(path.path), initial: fileCollateral)
        try TestData.data("attestation/dcap-qvl/tdx_quote_outdated_collateral.json").write(to: path)
        #expect(await store.refresh(now: 100))
        #expect(store.current.map { Hex.encode($0.collateral.tcbInfo.fmspc, prefix: false) } == "90c06f000000")
        #expect(store.status.refreshes == 1 && store.status.lastRefresh == 100)
        try Data("{not collateral".utf8).write(to: path)
        #expect(await store.refresh(now: 200) == false)
        #expect(store.current.map { Hex.encode($0.collateral.tcbInfo.fmspc, prefix: false) } == "90c06f000000")
        #expect(store.status.failures == 1 && store.status.lastFailure?.at == 200)
        #expect(store.status.lastFailure?.reason.contains("collateral") == true)
    }

    @Test func aReloadRefusesAnOlderIssueForTheSamePlatform() async throws {
        // The 90C06F collateral (TCB Info issued 2026-02-18) and an earlier issue of that TCB Info (2026-02-01,
        // signed by the same Intel key): a rollback the store must not swap in.
        let current = try TestData.data("attestation/dcap-qvl/tdx_quote_outdated_collateral.json")
        let response = String(
            decoding: try TestData.data("attestation/go-tdx-guest/sample_tcbinfo_response_v5"),
            as: UTF8.self
        )
        let start = try #require(response.range(of: "{\"tcbInfo\":")).upperBound
        let end = try #require(response.range(of: ",\"signature\":\"", options: .backwards))
        var older = try #require(try JSONSerialization.jsonObject(with: current) as? [String: Any])
        older["tcb_info"] = String(response[start..<end.lowerBound])
        older["tcb_info_signature"] = String(response[end.upperBound...].prefix(128))
        let olderPrepared = try DCAPVerifier.prepare(
            QuoteCollateral(json: [UInt8](try JSONSerialization.data(withJSONObject: older)))
        )
        #expect(olderPrepared.collateral.tcbInfo.issueDate < Int64(1_771_412_331))  // before 2026-02-18T10:58:51Z

        let path = dir.appendingPathComponent("collateral.json")
        let store = DCAPCollateralStore(
            source: .file(path.path),
            initial: try DCAPVerifier.prepare(QuoteCollateral(json: [UInt8](current)))
        )
        try JSONSerialization.data(withJSONObject: older).write(to: path)
        #expect(await store.refresh(now: 100) == false)
        #expect(store.current?.collateral.tcbInfo.issueDate == 1_771_412_331, "the newer issue stays")
        #expect(store.status.lastFailure?.reason.contains("expected an issue at least as new") == true)
        // The same issue again is fine (a timer reload of an unchanged file).
        try current.write(to: path)
        #expect(await store.refresh(now: 200))
    }

    @Test func expiredCollateralNamesEachItemAndWhenItEnded() throws {
        let store = DCAPCollateralStore(initial: fileCollateral)
        try store.checkNotExpired(fileCollateral, at: Self.quoteTime)
        #expect(DCAPCollateralStore.expired(fileCollateral, at: Self.quoteTime).isEmpty)
        // The PCK CRL ends first (10:00:35Z), then the TCB Info (10:16:03Z).
        let afterCRL = DCAPCollateralStore.expired(fileCollateral, at: 1_752_919_236)
        #expect(afterCRL.map(\.name) == ["PCK CRL (thisUpdate…nextUpdate)"], "\(afterCRL)")
        let both = DCAPCollateralStore.expired(fileCollateral, at: Self.afterTCBInfo)
        #expect(both.map(\.name).first == "TCB Info (issueDate…nextUpdate)", "\(both)")
        do {
            try store.checkNotExpired(fileCollateral, at: Self.afterTCBInfo)
            Issue.record("expected collateralExpired")
        } catch {
            #expect(error.code == .collateralExpired)
            #expect(
                error.reason.contains("TCB Info (issueDate…nextUpdate) ended 2025-07-19T10:16:03Z"),
                "\(error.reason)"
            )
            #expect(
                error.reason.contains("PCK CRL (thisUpdate…nextUpdate) ended 2025-07-19T10:00:35Z"),
                "\(error.reason)"
            )
        }
    }

    @Test func aTDXQuoteAgainstExpiredCollateralIsTheplanesFaultNotAnAttestationRefusal() async throws {
        let verifier = AttestationEvidenceVerifier(collateral: fileCollateral, policy: AttestationPolicy())
        do {
            _ = try await verifier.verify(quote, now: UInt64(Self.afterTCBInfo))
            Issue.record("expected collateralExpired")
        } catch {
            #expect(error.code == .collateralExpired, "\(error)")
        }
    }
}
