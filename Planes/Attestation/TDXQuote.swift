import ChainCore

// Format (Intel TDX DCAP Quote Generation Library, quote v4 and v5; all integers little-endian):
//   Header (48):    version u16 | attestation key type u16 (2 = ECDSA-256 P-256) | TEE type u32 (0x81 = TDX)
//                   | QE SVN u16 | PCE SVN u16 | QE vendor ID (16) | user data (20)
//   v4 body:        TD report 1.0 (584) at 48
//   v5 body:        body type u16 (2 = TD 1.0, 3 = TD 1.5) | body size u32 | body (584 or 648) at 54
//   Then:           signature data length u32 | signature data (that many bytes) | ignored zero padding
//   Signature data: ECDSA r‖s (64) over header‖body | attestation key x‖y (64)
//                   | certification data: type u16 (6 = QE report certification data) | size u32 | contents
//   Type 6:         QE report (384, an SGX report body) | QE report signature r‖s (64, by the PCK key)
//                   | QE auth data size u16 | QE auth data | certification data: type u16 (5 = PEM PCK chain)
//                   | size u32 | PEM chain (PCK leaf, PCK CA, root)
//   The signed region is everything before the signature data length field.

/// A parsed (not yet verified) Intel TDX DCAP quote, version 4 or 5.
///
/// Parsing checks only the layout: every length is bounded by the bytes present before anything is read or
/// allocated, so truncated or hostile quotes fail with ``AttestationError/Code/malformedQuote`` and never crash.
/// Nothing here is trusted until ``DCAPVerifier`` has checked the signatures.
public struct TDXQuote: Sendable {
    /// Quote version (4 or 5).
    public let version: UInt16
    /// Attestation key type (2 = ECDSA-256 with P-256).
    public let attestationKeyType: UInt16
    /// TEE type (0x81 = TDX).
    public let teeType: UInt32
    /// QE SVN from the header.
    public let qeSVN: UInt16
    /// PCE SVN from the header.
    public let pceSVN: UInt16
    /// QE vendor ID (Intel: 939a7233f79c4ca9940a0db3957f0607).
    public let qeVendorID: [UInt8]
    /// Body type: 2 for TD report 1.0 (all v4 quotes), 3 for TD report 1.5.
    public let bodyType: UInt16
    /// The TD report.
    public let body: TDReport
    /// The quote's bytes without trailing padding (``quoteLength`` bytes).
    public let bytes: [UInt8]
    /// Length of header ‖ (v5: body type ‖ body size ‖) body: the bytes the attestation key signs.
    public let signedLength: Int
    /// Header ‖ (v5: body type ‖ body size ‖) body: the bytes the attestation key signs.
    public var signedRegion: [UInt8] { Array(bytes[0..<signedLength]) }
    /// The quote's signature data.
    public let signature: QuoteSignatureData
    /// Length of the quote without trailing bytes: signed region + 4 + signature data length.
    public let quoteLength: Int

    /// The Intel QE vendor ID.
    public static let intelQEVendorID: [UInt8] = [
        0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9, 0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07,
    ]
    /// TEE type of TDX quotes.
    public static let teeTypeTDX: UInt32 = 0x81
    /// TEE type of SGX quotes.
    public static let teeTypeSGX: UInt32 = 0x00

    /// Parses `bytes` as a TDX quote. Bytes after the signature data are ignored, as dcap-qvl, Intel's QVL and
    /// go-tdx-guest do: quotes are often delivered in a zero-padded buffer (GCP's 8000-byte one), and
    /// go-tdx-guest's SPR_E4 sample carries a text trailer. They are covered by no signature and excluded from
    /// ``quoteLength`` and the quote hash.
    public init(bytes: [UInt8]) throws(AttestationError) {
        var r = ByteReader(bytes, what: "quote")
        version = try r.u16("header.version")
        attestationKeyType = try r.u16("header.attestation_key_type")
        teeType = try r.u32("header.tee_type")
        qeSVN = try r.u16("header.qe_svn")
        pceSVN = try r.u16("header.pce_svn")
        qeVendorID = try r.take(16, "header.qe_vendor_id")
        try r.skip(20, "header.user_data")
        if teeType == Self.teeTypeSGX {
            throw AttestationError(
                .unsupportedQuote,
                "quote: expected a TDX quote (TEE type 0x81), found an SGX quote (TEE type 0, version \(version))"
            )
        }
        guard teeType == Self.teeTypeTDX else {
            throw AttestationError(
                .unsupportedQuote,
                "quote: expected TEE type 0x81 (TDX), found 0x\(String(teeType, radix: 16))"
            )
        }
        switch version {
        case 4:
            bodyType = 2
            body = try TDReport(reading: &r, td15: false)
        case 5:
            bodyType = try r.u16("v5 body type")
            let size = try r.u32("v5 body size")
            switch (bodyType, size) {
            case (2, 584): body = try TDReport(reading: &r, td15: false)
            case (3, 648): body = try TDReport(reading: &r, td15: true)
            default:
                throw AttestationError(
                    .malformedQuote,
                    "quote v5: expected body type 2 (TD 1.0, 584 bytes) or 3 (TD 1.5, 648 bytes), "
                        + "found type \(bodyType) with \(size) bytes"
                )
            }
        default:
            throw AttestationError(.unsupportedQuote, "quote: expected version 4 or 5 for TDX, found \(version)")
        }
        signedLength = r.offset
        let signatureLength = Int(try r.u32("signature data length"))
        guard signatureLength <= r.remaining else {
            throw AttestationError(
                .malformedQuote,
                "quote: signature data length says \(signatureLength) bytes, only \(r.remaining) follow"
            )
        }
        let signatureEnd = r.offset + signatureLength
        var s = ByteReader(bytes, from: r.offset, to: signatureEnd, what: "quote signature data")
        signature = try QuoteSignatureData(reading: &s)
        guard s.remaining == 0 else {
            throw AttestationError(
                .malformedQuote,
                "quote: signature data is \(signatureLength) bytes, its fields use \(signatureLength - s.remaining)"
            )
        }
        quoteLength = signatureEnd
        self.bytes = signatureEnd == bytes.count ? bytes : Array(bytes[0..<signatureEnd])
    }

    /// The quote in a file's bytes: binary, or hex text with or without `0x` and whitespace.
    public init(fileContents: [UInt8]) throws(AttestationError) {
        if fileContents.count >= 4, (3...5).contains(fileContents[0]), fileContents[1] == 0 {
            try self.init(bytes: fileContents)
        } else if let decoded = Hex.decode(lenient: fileContents) {
            try self.init(bytes: decoded)
        } else {
            throw AttestationError(
                .malformedQuote,
                "quote file: expected a binary quote (starting 03 00, 04 00 or 05 00) or hex text, found neither"
            )
        }
    }
}

/// The TD report in a TDX quote body (TD 1.0, with the TD 1.5 extension when present).
public struct TDReport: Sendable, Hashable {
    /// TEE_TCB_SVN (16): byte 0 TDX module ISV SVN, byte 1 TDX module major version, then further components.
    public let teeTCBSVN: [UInt8]
    /// MRSEAM (48): measurement of the TDX module.
    public let mrSeam: [UInt8]
    /// MRSIGNERSEAM (48): signer of the TDX module (zero for Intel's).
    public let mrSignerSeam: [UInt8]
    /// SEAMATTRIBUTES (8).
    public let seamAttributes: [UInt8]
    /// TDATTRIBUTES (8); bit 0 is DEBUG, bit 28 SEPT_VE_DISABLE.
    public let tdAttributes: [UInt8]
    /// XFAM (8).
    public let xfam: [UInt8]
    /// MRTD (48): measurement of the initial TD contents (firmware).
    public let mrTD: [UInt8]
    /// MRCONFIGID (48).
    public let mrConfigID: [UInt8]
    /// MROWNER (48).
    public let mrOwner: [UInt8]
    /// MROWNERCONFIG (48).
    public let mrOwnerConfig: [UInt8]
    /// RTMR0…RTMR3, 48 bytes each.
    public let rtmr: [[UInt8]]
    /// REPORTDATA (64), chosen by the TD.
    public let reportData: [UInt8]
    /// TD 1.5 only: TEE_TCB_SVN2 (16).
    public let teeTCBSVN2: [UInt8]?
    /// TD 1.5 only: MRSERVICETD (48).
    public let mrServiceTD: [UInt8]?

    /// A report holding only measurements (for development evidence): every other field is zero.
    init(mrTD: [UInt8], rtmr: [[UInt8]], reportData: [UInt8]) {
        teeTCBSVN = [UInt8](repeating: 0, count: 16)
        mrSeam = [UInt8](repeating: 0, count: 48)
        mrSignerSeam = [UInt8](repeating: 0, count: 48)
        seamAttributes = [UInt8](repeating: 0, count: 8)
        tdAttributes = [UInt8](repeating: 0, count: 8)
        xfam = [UInt8](repeating: 0, count: 8)
        self.mrTD = mrTD
        mrConfigID = [UInt8](repeating: 0, count: 48)
        mrOwner = [UInt8](repeating: 0, count: 48)
        mrOwnerConfig = [UInt8](repeating: 0, count: 48)
        self.rtmr = rtmr
        self.reportData = reportData
        teeTCBSVN2 = nil
        mrServiceTD = nil
    }

    init(reading r: inout ByteReader, td15: Bool) throws(AttestationError) {
        teeTCBSVN = try r.take(16, "tee_tcb_svn")
        mrSeam = try r.take(48, "mr_seam")
        mrSignerSeam = try r.take(48, "mr_signer_seam")
        seamAttributes = try r.take(8, "seam_attributes")
        tdAttributes = try r.take(8, "td_attributes")
        xfam = try r.take(8, "xfam")
        mrTD = try r.take(48, "mr_td")
        mrConfigID = try r.take(48, "mr_config_id")
        mrOwner = try r.take(48, "mr_owner")
        mrOwnerConfig = try r.take(48, "mr_owner_config")
        var rtmr: [[UInt8]] = []
        for i in 0..<4 { rtmr.append(try r.take(48, "rtmr\(i)")) }
        self.rtmr = rtmr
        reportData = try r.take(64, "report_data")
        if td15 {
            teeTCBSVN2 = try r.take(16, "tee_tcb_svn2")
            mrServiceTD = try r.take(48, "mr_servicetd")
        } else {
            teeTCBSVN2 = nil
            mrServiceTD = nil
        }
    }

    /// TDATTRIBUTES as a little-endian 64-bit integer.
    public var tdAttributesValue: UInt64 {
        tdAttributes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    /// Whether the TD is a debug TD (TDATTRIBUTES.TUD, bits 0–7, not zero; bit 0 is DEBUG): its memory and
    /// registers are readable by the host, so nothing in it is confidential.
    public var isDebug: Bool { tdAttributes[0] != 0 }
}

/// An SGX report body (384 bytes), here the Quoting Enclave's report inside the quote.
public struct EnclaveReport: Sendable, Hashable {
    /// CPUSVN (16).
    public let cpuSVN: [UInt8]
    /// MISCSELECT.
    public let miscSelect: UInt32
    /// ATTRIBUTES (16); bit 1 of byte 0 is DEBUG.
    public let attributes: [UInt8]
    /// MRENCLAVE (32).
    public let mrEnclave: [UInt8]
    /// MRSIGNER (32).
    public let mrSigner: [UInt8]
    /// ISVPRODID.
    public let isvProdID: UInt16
    /// ISVSVN.
    public let isvSVN: UInt16
    /// REPORTDATA (64).
    public let reportData: [UInt8]

    init(_ bytes: [UInt8]) throws(AttestationError) {
        var r = ByteReader(bytes, what: "QE report")
        cpuSVN = try r.take(16, "cpu_svn")
        miscSelect = try r.u32("misc_select")
        try r.skip(28, "reserved1")
        attributes = try r.take(16, "attributes")
        mrEnclave = try r.take(32, "mr_enclave")
        try r.skip(32, "reserved2")
        mrSigner = try r.take(32, "mr_signer")
        try r.skip(96, "reserved3")
        isvProdID = try r.u16("isv_prod_id")
        isvSVN = try r.u16("isv_svn")
        try r.skip(60, "reserved4")
        reportData = try r.take(64, "report_data")
    }
}

/// The quote's signature data (ECDSA attestation key, QE report certification data with the PCK chain).
public struct QuoteSignatureData: Sendable {
    /// ECDSA signature r‖s (64) over the signed region, by the attestation key.
    public let quoteSignature: [UInt8]
    /// The attestation public key x‖y (64).
    public let attestationKey: [UInt8]
    /// The QE report's raw 384 bytes (what the PCK key signs).
    public let qeReportBytes: [UInt8]
    /// The parsed QE report.
    public let qeReport: EnclaveReport
    /// ECDSA signature r‖s (64) over the QE report, by the PCK key.
    public let qeReportSignature: [UInt8]
    /// QE authentication data (hashed with the attestation key into the QE report data).
    public let qeAuthData: [UInt8]
    /// The PEM PCK certificate chain (certification data type 5).
    public let pckChainPEM: [UInt8]

    init(reading r: inout ByteReader) throws(AttestationError) {
        quoteSignature = try r.take(64, "ecdsa_signature")
        attestationKey = try r.take(64, "attestation_key")
        let outerType = try r.u16("certification_data.type")
        let outerSize = Int(try r.u32("certification_data.size"))
        guard outerType == 6 else {
            throw AttestationError(
                .unsupportedQuote,
                "quote: expected certification data type 6 (QE report certification data), found \(outerType)"
            )
        }
        guard outerSize == r.remaining else {
            throw AttestationError(
                .malformedQuote,
                "quote: certification data size says \(outerSize) bytes, \(r.remaining) remain in the signature data"
            )
        }
        qeReportBytes = try r.take(384, "qe_report")
        qeReport = try EnclaveReport(qeReportBytes)
        qeReportSignature = try r.take(64, "qe_report_signature")
        let authSize = Int(try r.u16("qe_auth_data.size"))
        qeAuthData = try r.take(authSize, "qe_auth_data")
        let innerType = try r.u16("pck certification_data.type")
        let innerSize = Int(try r.u32("pck certification_data.size"))
        guard innerType == 5 else {
            throw AttestationError(
                .unsupportedQuote,
                "quote: expected inner certification data type 5 (PEM PCK certificate chain), found \(innerType)"
            )
        }
        guard innerSize == r.remaining else {
            throw AttestationError(
                .malformedQuote,
                "quote: PCK chain size says \(innerSize) bytes, \(r.remaining) remain in the certification data"
            )
        }
        pckChainPEM = try r.take(innerSize, "pck certificate chain")
    }
}
