import ChainCore
import Foundation
import PlaneCrypto
import TestSupport
import Testing

@testable import Attestation

/// TCB level, TDX module identity and QE Identity matching on edited (unsigned) TCB Info / QE Identity JSON:
/// signatures are covered elsewhere; these tests pin the matching rules themselves.
@Suite struct TCBMatchingTests {
    func dstack() throws -> (quote: TDXQuote, pck: PCKExtensions, tcb: [String: Any], qe: [String: Any]) {
        let quote = try TDXQuote(bytes: try Fixtures.dstackQuote())
        let leaf = try X509Certificate.pemChain(quote.signature.pckChainPEM)[0]
        let pck = try PCKExtensions(der: try #require(leaf.extensionValue(oid: PCKExtensions.oid)))
        let collateral = try #require(
            try JSONSerialization.jsonObject(with: Data(try Fixtures.bytes(Fixtures.outdated))) as? [String: Any]
        )
        let tcbText = try #require(collateral["tcb_info"] as? String)
        let qeText = try #require(collateral["qe_identity"] as? String)
        let tcb = try #require(try JSONSerialization.jsonObject(with: Data(tcbText.utf8)) as? [String: Any])
        let qe = try #require(try JSONSerialization.jsonObject(with: Data(qeText.utf8)) as? [String: Any])
        return (quote, pck, tcb, qe)
    }

    func tcbInfo(_ object: [String: Any]) throws -> TCBInfo {
        try TCBInfo(json: Array(try JSONSerialization.data(withJSONObject: object)))
    }

    func qeIdentity(_ object: [String: Any]) throws -> QEIdentity {
        try QEIdentity(json: Array(try JSONSerialization.data(withJSONObject: object)))
    }

    @Test func thePCKExtensionHoldsTheFixturesPlatformValues() throws {
        let (quote, pck, _, _) = try dstack()
        #expect(Hex.encode(pck.fmspc, prefix: false) == "90c06f000000")
        #expect(pck.sgxComponentSVNs.count == 16 && pck.cpuSVN.count == 16 && pck.ppid.count == 16)
        #expect(pck.pceSVN >= 13)
        #expect(quote.body.teeTCBSVN[0] == 0x0B && quote.body.teeTCBSVN[1] == 0x01)
    }

    @Test func unchangedCollateralMatchesUpToDate() throws {
        let (quote, pck, tcb, qe) = try dstack()
        let platform = try DCAPVerifier.matchPlatformTCB(quote: quote, pck: pck, tcbInfo: try tcbInfo(tcb))
        #expect(platform == StatusWithAdvisories(status: .upToDate, advisoryIDs: []))
        let qeStatus = try DCAPVerifier.matchQEIdentity(quote.signature.qeReport, try qeIdentity(qe))
        #expect(qeStatus.status == .upToDate)
    }

    /// Replaces the TDX_01 module identity's levels.
    func withModuleLevels(_ tcb: [String: Any], _ levels: [[String: Any]]) -> [String: Any] {
        var tcb = tcb
        var identities = tcb["tdxModuleIdentities"] as? [[String: Any]] ?? []
        for i in identities.indices where identities[i]["id"] as? String == "TDX_01" {
            identities[i]["tcbLevels"] = levels
        }
        tcb["tdxModuleIdentities"] = identities
        return tcb
    }

    @Test func anOutOfDateTDXModuleMakesThePlatformOutOfDateWithItsAdvisories() throws {
        let (quote, pck, tcb, _) = try dstack()
        let edited = withModuleLevels(
            tcb,
            [
                ["tcb": ["isvsvn": 12], "tcbDate": "2025-01-01T00:00:00Z", "tcbStatus": "UpToDate"],
                [
                    "tcb": ["isvsvn": 4], "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": "OutOfDate",
                    "advisoryIDs": ["INTEL-SA-01036", "INTEL-SA-01099"],
                ],
            ]
        )
        let status = try DCAPVerifier.matchPlatformTCB(quote: quote, pck: pck, tcbInfo: try tcbInfo(edited))
        #expect(status == StatusWithAdvisories(status: .outOfDate, advisoryIDs: ["INTEL-SA-01036", "INTEL-SA-01099"]))
        let below = withModuleLevels(
            tcb,
            [["tcb": ["isvsvn": 12], "tcbDate": "2025-01-01T00:00:00Z", "tcbStatus": "UpToDate"]]
        )
        #expect(throws: AttestationError(.noMatchingTCBLevel, "")) {
            try DCAPVerifier.matchPlatformTCB(quote: quote, pck: pck, tcbInfo: try tcbInfo(below))
        }
    }

    @Test func aMissingOrForeignTDXModuleIdentityIsRejected() throws {
        let (quote, pck, tcb, _) = try dstack()
        var missing = tcb
        missing["tdxModuleIdentities"] = (tcb["tdxModuleIdentities"] as? [[String: Any]] ?? []).filter {
            $0["id"] as? String != "TDX_01"
        }
        let error = try #require(
            throws: AttestationError.self,
            performing: { try DCAPVerifier.matchPlatformTCB(quote: quote, pck: pck, tcbInfo: try tcbInfo(missing)) }
        )
        #expect(error.code == .noMatchingTCBLevel && error.reason.contains("TDX_01"))
        var foreign = tcb
        var identities = tcb["tdxModuleIdentities"] as? [[String: Any]] ?? []
        for i in identities.indices { identities[i]["mrsigner"] = String(repeating: "ab", count: 48) }
        foreign["tdxModuleIdentities"] = identities
        #expect(throws: AttestationError(.noMatchingTCBLevel, "")) {
            try DCAPVerifier.matchPlatformTCB(quote: quote, pck: pck, tcbInfo: try tcbInfo(foreign))
        }
    }

    @Test func higherComponentSVNsInEveryLevelLeaveNoMatch() throws {
        let (quote, pck, tcb, _) = try dstack()
        var edited = tcb
        var levels = tcb["tcbLevels"] as? [[String: Any]] ?? []
        for i in levels.indices {
            var t = levels[i]["tcb"] as? [String: Any] ?? [:]
            t["pcesvn"] = Int(pck.pceSVN) + 1
            levels[i]["tcb"] = t
        }
        edited["tcbLevels"] = levels
        let error = try #require(
            throws: AttestationError.self,
            performing: { try DCAPVerifier.matchPlatformTCB(quote: quote, pck: pck, tcbInfo: try tcbInfo(edited)) }
        )
        #expect(error.reason.hasPrefix("No matching TCB level found"))
    }

    @Test func levelsAreMatchedInIntelsOrderNotJSONOrder() throws {
        let (quote, pck, tcb, _) = try dstack()
        var edited = tcb
        edited["tcbLevels"] = Array((tcb["tcbLevels"] as? [[String: Any]] ?? []).reversed())
        let info = try tcbInfo(edited)
        #expect(try DCAPVerifier.matchPlatformTCB(quote: quote, pck: pck, tcbInfo: info).status == .upToDate)
        for (a, b) in zip(info.tcbLevels, info.tcbLevels.dropFirst()) {
            #expect(!a.sgxComponents.lexicographicallyPrecedes(b.sgxComponents) || a.sgxComponents == b.sgxComponents)
        }
    }

    @Test func qeIdentityFieldsAreEnforced() throws {
        let (quote, _, _, qe) = try dstack()
        let report = quote.signature.qeReport
        for (key, value) in [
            ("mrsigner", String(repeating: "00", count: 32) as Any), ("isvprodid", 99 as Any),
            ("miscselect", "FFFFFFFF" as Any),
        ] {
            var edited = qe
            edited[key] = value
            #expect(throws: AttestationError(.qeIdentityMismatch, ""), "\(key)") {
                try DCAPVerifier.matchQEIdentity(report, try qeIdentity(edited))
            }
        }
        var attributes = qe
        attributes["attributes"] = "FF" + String((qe["attributes"] as? String ?? "").dropFirst(2))
        attributes["attributesMask"] = "FF" + String((qe["attributesMask"] as? String ?? "").dropFirst(2))
        #expect(throws: AttestationError(.qeIdentityMismatch, "")) {
            try DCAPVerifier.matchQEIdentity(report, try qeIdentity(attributes))
        }
        var svn = qe
        svn["tcbLevels"] = [
            ["tcb": ["isvsvn": 9], "tcbDate": "2025-01-01T00:00:00Z", "tcbStatus": "UpToDate"],
            [
                "tcb": ["isvsvn": 5], "tcbDate": "2024-01-01T00:00:00Z", "tcbStatus": "OutOfDate",
                "advisoryIDs": ["INTEL-SA-00000"],
            ],
        ]
        let outdated = try DCAPVerifier.matchQEIdentity(report, try qeIdentity(svn))
        #expect(outdated == StatusWithAdvisories(status: .outOfDate, advisoryIDs: ["INTEL-SA-00000"]))
        svn["tcbLevels"] = [["tcb": ["isvsvn": 9], "tcbDate": "2025-01-01T00:00:00Z", "tcbStatus": "UpToDate"]]
        #expect(throws: AttestationError(.qeIdentityMismatch, "")) {
            try DCAPVerifier.matchQEIdentity(report, try qeIdentity(svn))
        }
    }

    @Test func statusesConvergeAsIntelsQVL() {
        let cases: [(TCBStatus, TCBStatus, TCBStatus)] = [
            (.upToDate, .outOfDate, .outOfDate), (.swHardeningNeeded, .outOfDate, .outOfDate),
            (.configurationNeeded, .outOfDate, .outOfDateConfigurationNeeded),
            (.configurationAndSWHardeningNeeded, .outOfDate, .outOfDateConfigurationNeeded),
            (.outOfDateConfigurationNeeded, .outOfDate, .outOfDateConfigurationNeeded),
            (.configurationNeeded, .revoked, .revoked), (.upToDate, .configurationNeeded, .upToDate),
            (.upToDate, .swHardeningNeeded, .upToDate), (.swHardeningNeeded, .upToDate, .swHardeningNeeded),
        ]
        for (platform, component, expected) in cases {
            #expect(platform.converged(withComponent: component) == expected, "\(platform) + \(component)")
        }
        let merged = StatusWithAdvisories(status: .upToDate, advisoryIDs: ["A"])
            .merged(with: StatusWithAdvisories(status: .outOfDate, advisoryIDs: ["A", "B"]))
        #expect(merged == StatusWithAdvisories(status: .outOfDate, advisoryIDs: ["A", "B"]))
    }
}
