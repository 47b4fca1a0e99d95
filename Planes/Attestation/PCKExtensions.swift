// Format: the Intel SGX extension of PCK certificates (OID 1.2.840.113741.1.13.1) is a DER
//   SEQUENCE OF SEQUENCE { OID, value }: .1 PPID (OCTET STRING 16), .2 TCB (SEQUENCE OF SEQUENCE { OID .2.n,
//   INTEGER } for the 16 SGX component SVNs n = 1…16, .2.17 PCESVN, .2.18 CPUSVN OCTET STRING), .3 PCE-ID
//   (OCTET STRING 2), .4 FMSPC (OCTET STRING 6), .5 SGX type (ENUMERATED), and optional later entries.

/// The platform values Intel certifies in a PCK certificate's SGX extension.
public struct PCKExtensions: Sendable, Hashable {
    /// Dotted OID of the Intel SGX extension.
    public static let oid = "1.2.840.113741.1.13.1"
    /// The OID's content bytes (1.2.840.113741.1.13.1).
    static let base: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01]

    /// Platform Provisioning ID (16).
    public let ppid: [UInt8]
    /// The 16 SGX TCB component SVNs.
    public let sgxComponentSVNs: [UInt8]
    /// PCE SVN.
    public let pceSVN: UInt16
    /// CPUSVN (16).
    public let cpuSVN: [UInt8]
    /// PCE ID (2).
    public let pceID: [UInt8]
    /// FMSPC (6): the platform family, model, stepping and platform type that TCB Info is published for.
    public let fmspc: [UInt8]

    /// Parses the extension's value (the contents of its extnValue OCTET STRING).
    public init(der: [UInt8]) throws(AttestationError) {
        var top = DER(der, what: "PCK SGX extension")
        var entries = try top.sequence()
        var ppid: [UInt8]?
        var fmspc: [UInt8]?
        var pceID: [UInt8]?
        var tcb: (components: [UInt8], pce: UInt16, cpu: [UInt8])?
        while !entries.atEnd {
            var entry = try entries.sequence()
            let oid = try entry.element(tag: 0x06)
            guard oid.count == Self.base.count + 1, oid.starts(with: Self.base) else {
                _ = try entry.anyElement()
                continue
            }
            switch oid.last! {
            case 1: ppid = try entry.element(tag: 0x04)
            case 2: tcb = try Self.tcb(&entry)
            case 3: pceID = try entry.element(tag: 0x04)
            case 4: fmspc = try entry.element(tag: 0x04)
            default: _ = try entry.anyElement()
            }
        }
        guard let ppid, let fmspc, fmspc.count == 6, let pceID, let tcb else {
            throw AttestationError(
                .malformedQuote,
                "PCK SGX extension: expected PPID, TCB, PCE-ID and a 6-byte FMSPC, found "
                    + "ppid \(ppid != nil), tcb \(tcb != nil), pceId \(pceID != nil), fmspc \(fmspc.map { "\($0.count) bytes" } ?? "none")"
            )
        }
        self.ppid = ppid
        self.fmspc = fmspc
        self.pceID = pceID
        self.sgxComponentSVNs = tcb.components
        self.pceSVN = tcb.pce
        self.cpuSVN = tcb.cpu
    }

    private static func tcb(_ entry: inout DER) throws(AttestationError) -> ([UInt8], UInt16, [UInt8]) {
        var list = try entry.sequence()
        var components = [Int?](repeating: nil, count: 16)
        var pce: Int?
        var cpu: [UInt8]?
        while !list.atEnd {
            var item = try list.sequence()
            let oid = try item.element(tag: 0x06)
            guard oid.count == base.count + 2, oid.starts(with: base + [0x02]) else { continue }
            let n = Int(oid.last!)
            switch n {
            case 1...16: components[n - 1] = try item.unsignedInteger(max: 255)
            case 17: pce = try item.unsignedInteger(max: 65535)
            case 18: cpu = try item.element(tag: 0x04)
            default: continue
            }
        }
        guard components.allSatisfy({ $0 != nil }), let pce, let cpu else {
            throw AttestationError(
                .malformedQuote,
                "PCK SGX extension: expected 16 TCB component SVNs, PCESVN and CPUSVN in the TCB entry"
            )
        }
        return (components.map { UInt8($0!) }, UInt16(pce), cpu)
    }
}

/// A minimal bounds-checked DER reader (definite lengths only), enough for the SGX extension.
struct DER {
    private let bytes: [UInt8]
    private var offset: Int
    private let end: Int
    private let what: String

    init(_ bytes: [UInt8], what: String) {
        self.init(bytes, from: 0, to: bytes.count, what: what)
    }

    private init(_ bytes: [UInt8], from: Int, to: Int, what: String) {
        self.bytes = bytes
        self.offset = from
        self.end = to
        self.what = what
    }

    var atEnd: Bool { offset >= end }

    private func fail(_ message: String) -> AttestationError {
        AttestationError(.malformedQuote, "\(what): \(message) at offset \(offset)")
    }

    /// Reads one TLV, returning its tag and the range of its contents.
    private mutating func tlv() throws(AttestationError) -> (tag: UInt8, range: Range<Int>) {
        guard end - offset >= 2 else { throw fail("expected a DER element, found \(end - offset) bytes") }
        let tag = bytes[offset]
        var length = Int(bytes[offset + 1])
        var cursor = offset + 2
        if length & 0x80 != 0 {
            let n = length & 0x7F
            guard n >= 1, n <= 3, end - cursor >= n else { throw fail("unsupported DER length form") }
            length = 0
            for i in 0..<n { length = length << 8 | Int(bytes[cursor + i]) }
            cursor += n
        }
        guard length <= end - cursor else { throw fail("DER length \(length) exceeds the \(end - cursor) bytes left") }
        offset = cursor + length
        return (tag, cursor..<(cursor + length))
    }

    mutating func sequence() throws(AttestationError) -> DER {
        let (tag, range) = try tlv()
        guard tag == 0x30 else { throw fail("expected a SEQUENCE (0x30), found tag 0x\(String(tag, radix: 16))") }
        return DER(bytes, from: range.lowerBound, to: range.upperBound, what: what)
    }

    mutating func element(tag expected: UInt8) throws(AttestationError) -> [UInt8] {
        let (tag, range) = try tlv()
        guard tag == expected else {
            throw fail("expected tag 0x\(String(expected, radix: 16)), found 0x\(String(tag, radix: 16))")
        }
        return Array(bytes[range])
    }

    mutating func anyElement() throws(AttestationError) -> [UInt8] {
        Array(bytes[try tlv().range])
    }

    mutating func unsignedInteger(max: Int) throws(AttestationError) -> Int {
        let tag = end > offset ? bytes[offset] : 0
        let content = try element(tag: tag == 0x0A ? 0x0A : 0x02)
        guard !content.isEmpty, content[0] & 0x80 == 0, content.count <= 4 else {
            throw fail("expected a small non-negative INTEGER")
        }
        let value = content.reduce(0) { $0 << 8 | Int($1) }
        guard value <= max else { throw fail("expected an INTEGER ≤ \(max), found \(value)") }
        return value
    }
}
