import Foundation
import PlaneCrypto
import TestSupport
import Testing

@testable import Attestation

/// Every TDX quote of the attestation MANIFEST gives the outcome it states, at the stated time.
@Suite struct DCAPVerifierTests {
    @Test(arguments: Fixtures.manifestCases)
    func manifestOutcome(_ c: Fixtures.Case) throws {
        let collateral = try Fixtures.collateral(c.collateral)
        let quote = try Fixtures.quoteBytes(c.quote)
        do {
            let v = try DCAPVerifier.verify(quote: quote, collateral: collateral, at: Fixtures.time(c.at))
            #expect(c.failure == nil, "\(c): verified \(v.status) but expected \(String(describing: c.failure))")
            #expect(v.status == c.status)
            #expect(v.advisoryIDs == c.advisories)
        } catch {
            #expect(error.code == c.failure, "\(c): \(error)")
            if c.failure == .noMatchingTCBLevel { #expect(error.reason.contains("No matching TCB level found")) }
        }
    }
}
