import ChainCore
public import PlaneCrypto

/// SEV-SNP evidence on the key-release wire: an ATTESTATION_REPORT and the certificates that came with it.
///
/// Layout (all lengths big-endian u32):
///
///     "DLSNPv1\0" (8 bytes) ‖ len(report) ‖ report (1184 bytes) ‖ len(certs) ‖ certs
///
/// `certs` is empty (the plane's `--snp-cert-chain` supplies the chain), PEM text of the VCEK, ASK and ARK in any
/// order, or AMD's GHCB certificate table as the kernel returns it (configfs-tsm `auxblob`, SNP_GET_EXT_REPORT):
/// entries of GUID (16) ‖ offset u32 LE ‖ length u32 LE ending with an all-zero entry, each naming a DER
/// certificate at `offset` from the table's start. The magic keeps it apart from TDX quotes (u16 version 4 or 5
/// first) and the development evidence (JSON, `{` first).
public struct SNPEvidence: Sendable, Hashable {
    /// The 8-byte prefix of every SNP evidence.
    public static let magic: [UInt8] = Array("DLSNPv1".utf8) + [0]
    /// GHCB certificate-table GUIDs (AMD GHCB specification, "SNP Extended Guest Request").
    static let vcekGUID = "63da758d-e664-4564-adc5-f4b93be8accd"
    static let vlekGUID = "a8074bc2-a25a-483e-aae6-39c045a0b8a1"
    static let askGUID = "4ab7b379-bbac-4fe4-a02f-05aef327c782"
    static let arkGUID = "c0b406a4-a803-4952-9743-3fb6014cd0ae"

    /// The raw report (parse with ``SNPReport``).
    public let report: [UInt8]
    /// The certificates as carried (possibly empty).
    public let certificates: [UInt8]

    public init(report: [UInt8], certificates: [UInt8] = []) {
        self.report = report
        self.certificates = certificates
    }

    /// Whether `bytes` start with ``magic``.
    public static func isSNPEvidence(_ bytes: [UInt8]) -> Bool { bytes.starts(with: magic) }

    /// Parses the wire form; fails with ``AttestationError/Code/malformedSNPReport`` naming what was expected.
    public init(bytes: [UInt8]) throws(AttestationError) {
        guard Self.isSNPEvidence(bytes) else {
            throw AttestationError(.malformedSNPReport, "SNP evidence: expected the prefix DLSNPv1\\0, found none")
        }
        var offset = Self.magic.count
        func field(_ name: String) throws(AttestationError) -> [UInt8] {
            guard bytes.count - offset >= 4 else {
                throw AttestationError(
                    .malformedSNPReport,
                    "SNP evidence: expected a 4-byte length of \(name), found the end"
                )
            }
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 4
            guard bytes.count - offset >= length else {
                throw AttestationError(
                    .malformedSNPReport,
                    "SNP evidence: expected \(length) bytes of \(name), found \(bytes.count - offset)"
                )
            }
            defer { offset += length }
            return Array(bytes[offset..<offset + length])
        }
        let report = try field("report")
        let certificates = try field("certificates")
        guard offset == bytes.count else {
            throw AttestationError(
                .malformedSNPReport,
                "SNP evidence: expected nothing after the certificates, found \(bytes.count - offset) bytes"
            )
        }
        self.init(report: report, certificates: certificates)
    }

    /// The wire form.
    public var bytes: [UInt8] {
        func length(_ n: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: n >> (8 * (3 - $0))) } }
        return Self.magic + length(report.count) + report + length(certificates.count) + certificates
    }

    /// The carried certificates, parsed (PEM text or a GHCB certificate table; empty when none).
    public func parsedCertificates() throws(AttestationError) -> [X509Certificate] {
        try Self.certificates(in: certificates)
    }

    /// Certificates in PEM text or a GHCB certificate table.
    public static func certificates(in blob: [UInt8]) throws(AttestationError) -> [X509Certificate] {
        if blob.isEmpty || blob.allSatisfy({ $0 == 0 }) { return [] }
        if blob.starts(with: Array("-----BEGIN".utf8)) || blob.first == UInt8(ascii: "\n") {
            do { return try X509Certificate.pemChain(blob) } catch {
                throw AttestationError(.malformedCollateral, "SNP certificates: \(error.reason)")
            }
        }
        if blob.first == 0x30 {
            do { return [try X509Certificate(der: blob)] } catch {
                throw AttestationError(.malformedCollateral, "SNP certificate (DER): \(error.reason)")
            }
        }
        return try certificateTable(blob).map(\.certificate)
    }

    /// The entries of a GHCB certificate table: GUID (lower-case, dashed) and certificate.
    public static func certificateTable(
        _ blob: [UInt8]
    ) throws(AttestationError) -> [(guid: String, certificate: X509Certificate)] {
        func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(blob[at + $1]) << (8 * $1) } }
        var entries: [(guid: String, certificate: X509Certificate)] = []
        var at = 0
        while true {
            guard blob.count - at >= 24 else {
                throw AttestationError(
                    .malformedCollateral,
                    "SNP certificate table: expected a 24-byte entry at \(at), found \(blob.count - at) bytes"
                )
            }
            let guidBytes = Array(blob[at..<at + 16])
            let offset = u32(at + 16)
            let length = u32(at + 20)
            if guidBytes.allSatisfy({ $0 == 0 }) && offset == 0 && length == 0 { break }
            guard offset >= 0, length > 0, offset <= blob.count, length <= blob.count - offset else {
                throw AttestationError(
                    .malformedCollateral,
                    "SNP certificate table: entry at \(at) expected offset+length within \(blob.count) bytes, "
                        + "found \(offset)+\(length)"
                )
            }
            let guid = Self.guidText(guidBytes)
            do {
                entries.append((guid, try X509Certificate(der: Array(blob[offset..<offset + length]))))
            } catch {
                throw AttestationError(.malformedCollateral, "SNP certificate table: entry \(guid): \(error.reason)")
            }
            at += 24
        }
        return entries
    }

    /// A GUID in its text form (first three fields little-endian, as the kernel and AMD store them).
    static func guidText(_ b: [UInt8]) -> String {
        let order = [3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15]
        return order.map { $0 < 0 ? "-" : Hex.encode([b[$0]], prefix: false) }.joined()
    }

    /// A GHCB certificate table holding `entries` (GUID text, DER), for tests and producers.
    public static func makeCertificateTable(_ entries: [(guid: String, der: [UInt8])]) -> [UInt8] {
        func guidBytes(_ text: String) -> [UInt8] {
            let hex = (try? Hex.decode(text.filter { $0 != "-" })) ?? [UInt8](repeating: 0, count: 16)
            return [hex[3], hex[2], hex[1], hex[0], hex[5], hex[4], hex[7], hex[6]] + hex[8..<16]
        }
        func le(_ n: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: n >> (8 * $0)) } }
        var offset = 24 * (entries.count + 1)
        var table: [UInt8] = []
        var data: [UInt8] = []
        for entry in entries {
            table += guidBytes(entry.guid) + le(offset) + le(entry.der.count)
            data += entry.der
            offset += entry.der.count
        }
        return table + [UInt8](repeating: 0, count: 24) + data
    }
}
