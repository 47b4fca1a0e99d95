import ChainCore
import Foundation
import TestSupport

@testable import Attestation

/// The attestation fixtures under ../shared/testdata/attestation (see its MANIFEST.md), read in place.
enum Fixtures {
    static func bytes(_ path: String) throws -> [UInt8] { Array(try TestData.data("attestation/" + path)) }

    /// A quote file: binary, or hex text (with or without 0x).
    static func quote(_ path: String) throws -> [UInt8] {
        let raw = try bytes(path)
        if path.hasSuffix(".hex") { return try requireValue(Hex.decode(lenient: raw), "hex in \(path)") }
        return raw
    }

    /// The quote inside dstack's verifier fixture.
    static func dstackQuote() throws -> [UInt8] {
        let object = try JSONSerialization.jsonObject(with: Data(try bytes("dstack/verifier_quote-report.json")))
        let quote = (object as? [String: Any])?["quote"] as? String
        return try requireValue(quote.flatMap { Hex.decode(lenient: $0) }, "dstack quote hex")
    }

    static func collateral(_ path: String) throws -> QuoteCollateral {
        try QuoteCollateral(json: try bytes(path))
    }

    static func time(_ text: String) -> Date {
        Date(timeIntervalSince1970: TimeInterval(RFC3339.seconds(text)!))
    }

    /// One verification scenario of the MANIFEST.
    struct Case: Sendable, CustomStringConvertible {
        let quote: String
        let collateral: String
        let at: String
        /// nil: verifies with `status`/`advisories`; else the expected error code.
        let failure: AttestationError.Code?
        let status: TCBStatus?
        let advisories: [String]
        var description: String { "\(quote) with \(collateral) at \(at)" }
    }

    static let tdx = "dcap-qvl/tdx_quote_collateral.json"
    static let outdated = "dcap-qvl/tdx_quote_outdated_collateral.json"
    static let spr = "go-tdx-guest/derived_dcapqvl_collateral_SPR_E4.json"
    static let dstack = "dstack/verifier_quote-report.json"

    static let manifestCases: [Case] = [
        Case(
            quote: "dcap-qvl/tdx_quote",
            collateral: tdx,
            at: "2025-07-19T10:00:34Z",
            failure: nil,
            status: .upToDate,
            advisories: []
        ),
        Case(
            quote: "dcap-qvl/tdx_quote",
            collateral: tdx,
            at: "2025-07-04T10:16:31Z",
            failure: nil,
            status: .upToDate,
            advisories: []
        ),
        Case(
            quote: "dcap-qvl/quote-from-tappd.hex",
            collateral: tdx,
            at: "2025-07-01T00:00:00Z",
            failure: .noMatchingTCBLevel,
            status: nil,
            advisories: []
        ),
        Case(
            quote: "dcap-qvl/tdx-quote.hex",
            collateral: tdx,
            at: "2025-07-01T00:00:00Z",
            failure: .noMatchingTCBLevel,
            status: nil,
            advisories: []
        ),
        Case(
            quote: "dcap-qvl/tdx_quote_outdated",
            collateral: outdated,
            at: "2026-03-01T00:00:00Z",
            failure: .noMatchingTCBLevel,
            status: nil,
            advisories: []
        ),
        Case(
            quote: "go-tdx-guest/quote_v5_sample.dat",
            collateral: outdated,
            at: "2026-03-01T00:00:00Z",
            failure: nil,
            status: .upToDate,
            advisories: []
        ),
        Case(
            quote: dstack,
            collateral: outdated,
            at: "2026-03-01T00:00:00Z",
            failure: nil,
            status: .upToDate,
            advisories: []
        ),
        Case(
            quote: "go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
            collateral: spr,
            at: "2023-07-01T01:00:00Z",
            failure: .noMatchingTCBLevel,
            status: nil,
            advisories: []
        ),
    ]

    static func quoteBytes(_ path: String) throws -> [UInt8] {
        path.hasPrefix(dstack) ? try dstackQuote() : try quote(path)
    }

    static func time(unix: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(unix)) }
}

struct FixtureMissing: Error, CustomStringConvertible {
    let description: String
}

func requireValue<T>(_ value: T?, _ what: String) throws -> T {
    guard let value else { throw FixtureMissing(description: "could not read \(what)") }
    return value
}
