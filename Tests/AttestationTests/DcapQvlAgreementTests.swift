import ChainCore
import Foundation
import TestSupport
import Testing

@testable import Attestation

/// The same inputs through dcap-qvl 0.7.0 (PyPI, in contrib/.venv) and through DCAPVerifier agree: both
/// verify with the same status and advisories, or both reject for the same kind of reason.
@Suite struct DcapQvlAgreementTests {
    static let script = """
        import sys, json, dcap_qvl
        out = []
        for case in json.loads(sys.stdin.read()):
            collateral = dcap_qvl.QuoteCollateralV3.from_json(open(case["collateral"]).read())
            try:
                r = dcap_qvl.verify(bytes.fromhex(case["quote"]), collateral, case["now"])
                out.append({"ok": True, "status": r.status, "advisory_ids": list(r.advisory_ids)})
            except Exception as e:
                out.append({"ok": False, "error": str(e)})
        print(json.dumps(out))
        """

    struct Input {
        let name: String
        let quote: [UInt8]
        let collateral: String
        let at: String
    }

    /// dcap-qvl's message fragment for each of our rejection codes.
    static let reasons: [AttestationError.Code: [String]] = [
        .noMatchingTCBLevel: ["No matching TCB level found"],
        .outsideValidityWindow: ["expired", "in the future", "Expired", "not yet valid", "NotValidYet", "CertExpired"],
        .quoteSignatureInvalid: ["signature is invalid", "ISV enclave report signature"],
        .qeReportSignatureInvalid: ["qe_report"],
        .qeReportDataMismatch: ["QE report hash mismatch"],
        .tcbInfoMismatch: ["Fmspc mismatch"],
    ]

    func inputs() throws -> [Input] {
        var list: [Input] = Fixtures.manifestCases.map { c in
            Input(
                name: c.description,
                quote: (try? Fixtures.quoteBytes(c.quote)) ?? [],
                collateral: c.collateral,
                at: c.at
            )
        }
        let tdx = try Fixtures.quote("dcap-qvl/tdx_quote")
        let inWindow = "2025-07-04T10:16:31Z"
        for at in ["2025-06-19T10:16:02Z", "2025-06-19T10:20:00Z", "2025-07-19T10:00:36Z", "2025-07-19T10:16:04Z"] {
            list.append(Input(name: "tdx_quote at \(at)", quote: tdx, collateral: Fixtures.tdx, at: at))
        }
        var body = tdx
        body[200] ^= 1
        list.append(Input(name: "flipped MRTD byte", quote: body, collateral: Fixtures.tdx, at: inWindow))
        var qe = tdx
        qe[632 + 4 + 128 + 6 + 300] ^= 1
        list.append(Input(name: "flipped QE report byte", quote: qe, collateral: Fixtures.tdx, at: inWindow))
        var auth = tdx
        auth[632 + 4 + 128 + 6 + 384 + 64 + 2 + 5] ^= 1
        list.append(Input(name: "flipped QE auth data byte", quote: auth, collateral: Fixtures.tdx, at: inWindow))
        list.append(
            Input(
                name: "tdx_quote with 90c06f collateral",
                quote: tdx,
                collateral: Fixtures.outdated,
                at: "2026-03-01T00:00:00Z"
            )
        )
        let cos = try Fixtures.bytes("go-tdx-guest/ccel_cos-113-tdx-quote.dat")
        list.append(
            Input(
                name: "GCP COS quote (FMSPC 00806f050000)",
                quote: cos,
                collateral: Fixtures.tdx,
                at: "2025-07-01T00:00:00Z"
            )
        )
        return list
    }

    @Test func dcapQvlAndDCAPVerifierAgree() throws {
        let inputs = try inputs()
        let cases: [[String: Any]] = try inputs.map {
            [
                "quote": Hex.encode($0.quote, prefix: false),
                "collateral": try TestData.url("attestation/" + $0.collateral).path,
                "now": RFC3339.seconds($0.at)!,
            ]
        }
        let request = try JSONSerialization.data(withJSONObject: cases)
        let stdin = FileManager.default.temporaryDirectory.appendingPathComponent("dcapqvl-\(UUID().uuidString).json")
        try request.write(to: stdin)
        defer { try? FileManager.default.removeItem(at: stdin) }
        let output = try ContribTool.python(
            "import sys; sys.stdin = open(sys.argv[1]); exec(sys.argv[2])",
            [stdin.path, Self.script]
        )
        let results = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]])
        #expect(results.count == inputs.count)
        for (input, reference) in zip(inputs, results) {
            let collateral = try Fixtures.collateral(input.collateral)
            do {
                let v = try DCAPVerifier.verify(quote: input.quote, collateral: collateral, at: Fixtures.time(input.at))
                #expect(reference["ok"] as? Bool == true, "\(input.name): we verified, dcap-qvl: \(reference)")
                #expect(reference["status"] as? String == v.status.rawValue, "\(input.name)")
                #expect(reference["advisory_ids"] as? [String] == v.advisoryIDs, "\(input.name)")
            } catch {
                #expect(
                    reference["ok"] as? Bool == false,
                    "\(input.name): we rejected (\(error)), dcap-qvl: \(reference)"
                )
                let message = reference["error"] as? String ?? ""
                let fragments = Self.reasons[error.code] ?? []
                #expect(
                    fragments.contains { message.contains($0) },
                    "\(input.name): our \(error.code.rawValue) vs dcap-qvl \"\(message)\""
                )
            }
        }
    }
}
