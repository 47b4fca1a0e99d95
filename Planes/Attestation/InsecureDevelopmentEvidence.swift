internal import ChainCore
internal import Foundation
internal import PlaneCrypto

/// INSECURE development "attestation" for machines without Intel TDX: a JSON document
/// `{"type": "delong-dev-insecure-v1", "mrTd": hex(48), "rtmr": [hex(48) × 4], "reportData": hex(64)}`.
///
/// Nothing signs it and no hardware measured anything: anyone can write any values. It exists only so the
/// key-release path can be exercised end to end on a laptop. Verifying it yields a ``VerifiedQuote`` with
/// the same measurement shape but ``VerifiedQuote/kind`` `.insecureDevelopment` and the advisory
/// `DELONG-INSECURE-DEVELOPMENT`; ``AttestationPolicy`` refuses it unless `allowInsecureDevelopment` is set,
/// and the Privacy Plane sets that only when started with an explicit flag.
public struct InsecureDevelopmentEvidence: Sendable, Hashable {
    /// The `type` value: the name says what it is.
    public static let type = "delong-dev-insecure-v1"
    /// The chain id of the project's devnet (contrib/devnet): the only chain on which development evidence is
    /// accepted without naming the chain.
    public static let devnetChainID: UInt64 = 31337
    /// The advisory ID every verified development evidence carries.
    public static let advisoryID = "DELONG-INSECURE-DEVELOPMENT"
    /// The prefix of every development measurement digest (26 ASCII bytes): development evidence lives in its
    /// own digest domain, apart from real TDX digests (no prefix) and SEV-SNP digests (`snp`).
    public static let digestDomain = Array("delong/dev-measurements/v1".utf8)

    /// SHA-256(``digestDomain`` ‖ `measurements`), where `measurements` is MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2
    /// [‖ RTMR3] (192 or 240 bytes): the allow-list digest that development evidence claiming these values
    /// matches. Governance trusts it on a devnet with `trustMeasurement(digest, digestDomain ‖ measurements, …)`.
    public static func measurementDigest(measurements: [UInt8]) -> [UInt8] {
        Digest.sha256(digestDomain + measurements)
    }

    /// Claimed MRTD (48).
    public let mrTD: [UInt8]
    /// Claimed RTMR0…3 (48 each).
    public let rtmr: [[UInt8]]
    /// Claimed REPORTDATA (64).
    public let reportData: [UInt8]

    /// Evidence claiming these values.
    public init(mrTD: [UInt8], rtmr: [[UInt8]], reportData: [UInt8]) throws(AttestationError) {
        guard mrTD.count == 48, rtmr.count == 4, rtmr.allSatisfy({ $0.count == 48 }), reportData.count == 64 else {
            throw AttestationError(
                .developmentEvidence,
                "\(Self.type): expected mrTd 48 bytes, 4 RTMRs of 48 bytes and reportData 64 bytes"
            )
        }
        self.mrTD = mrTD
        self.rtmr = rtmr
        self.reportData = reportData
    }

    /// Parses the JSON form.
    public init(json: [UInt8]) throws(AttestationError) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any],
            object["type"] as? String == Self.type,
            let mrTD = (object["mrTd"] as? String).flatMap({ Hex.decode(lenient: $0) }),
            let rtmrHex = object["rtmr"] as? [String],
            let reportData = (object["reportData"] as? String).flatMap({ Hex.decode(lenient: $0) })
        else {
            throw AttestationError(
                .developmentEvidence,
                "expected a JSON object with type \(Self.type), mrTd, rtmr[4] and reportData in hex"
            )
        }
        var rtmr: [[UInt8]] = []
        for h in rtmrHex {
            guard let b = Hex.decode(lenient: h) else {
                throw AttestationError(.developmentEvidence, "\(Self.type): rtmr entries must be hex")
            }
            rtmr.append(b)
        }
        try self.init(mrTD: mrTD, rtmr: rtmr, reportData: reportData)
    }

    /// The JSON form (keys in a fixed order).
    public func json() -> [UInt8] {
        let rtmrList = rtmr.map { "\"\(Hex.encode($0, prefix: false))\"" }.joined(separator: ",")
        return Array(
            "{\"type\":\"\(Self.type)\",\"mrTd\":\"\(Hex.encode(mrTD, prefix: false))\",\"rtmr\":[\(rtmrList)],\"reportData\":\"\(Hex.encode(reportData, prefix: false))\"}"
                .utf8
        )
    }

    /// The evidence as a ``VerifiedQuote`` of kind `.insecureDevelopment` (nothing is actually verified).
    public func insecurelyAccept() -> VerifiedQuote {
        VerifiedQuote(
            kind: .insecureDevelopment,
            version: 0,
            report: TDReport(mrTD: mrTD, rtmr: rtmr, reportData: reportData),
            status: .upToDate,
            advisoryIDs: [Self.advisoryID],
            platformStatus: .upToDate,
            qeStatus: .upToDate,
            fmspc: [],
            quoteHash: Digest.sha256(json()),
            qeISVSVN: 0
        )
    }
}
