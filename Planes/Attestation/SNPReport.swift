import ChainCore

// Format: the AMD SEV-SNP ATTESTATION_REPORT (SEV-SNP Firmware ABI specification, "ATTESTATION_REPORT
// Structure"), 1184 (0x4A0) bytes, little-endian integers:
//
//   0x000 VERSION u32            0x004 GUEST_SVN u32          0x008 POLICY u64
//   0x010 FAMILY_ID [16]         0x020 IMAGE_ID [16]          0x030 VMPL u32
//   0x034 SIGNATURE_ALGO u32     0x038 CURRENT_TCB u64        0x040 PLATFORM_INFO u64
//   0x048 flags u32 (bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 2-4 SIGNING_KEY: 0 VCEK, 1 VLEK)
//   0x04C reserved u32           0x050 REPORT_DATA [64]       0x090 MEASUREMENT [48]
//   0x0C0 HOST_DATA [32]         0x0E0 ID_KEY_DIGEST [48]     0x110 AUTHOR_KEY_DIGEST [48]
//   0x140 REPORT_ID [32]         0x160 REPORT_ID_MA [32]      0x180 REPORTED_TCB u64
//   0x188 CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (u8 each, version 3 and later; zero before)
//   0x18B reserved               0x1A0 CHIP_ID [64]           0x1E0 COMMITTED_TCB u64
//   0x1E8 CURRENT_BUILD, CURRENT_MINOR, CURRENT_MAJOR, reserved (u8 each)
//   0x1EC COMMITTED_BUILD, COMMITTED_MINOR, COMMITTED_MAJOR, reserved (u8 each)
//   0x1F0 LAUNCH_TCB u64         0x1F8 reserved (version 5: mitigation vectors)
//   0x2A0 SIGNATURE [512]: R (72 bytes, little-endian) ‖ S (72 bytes, little-endian) ‖ reserved
//
// Bytes 0x000..<0x2A0 are signed (SIGNATURE_ALGO 1: ECDSA P-384 with SHA-384) by the VCEK or VLEK.

/// A TCB_VERSION: the security patch levels (SPLs) of the platform's firmware components.
///
/// The layout depends on the processor: Milan and Genoa put boot loader, TEE, SNP firmware and microcode in
/// bytes 0, 1, 6 and 7; Turin (family 1Ah) adds the FMC in byte 0 and moves them to bytes 1, 2, 3 and 7.
public struct SNPTCBVersion: Sendable, Hashable, CustomStringConvertible {
    /// The little-endian u64 as found in the report.
    public let raw: UInt64
    /// Whether the Turin layout applies (with an FMC SPL).
    public let isTurinLayout: Bool

    /// Reads `raw` in the Milan/Genoa layout, or the Turin layout when `turin`.
    public init(raw: UInt64, turin: Bool) {
        self.raw = raw
        self.isTurinLayout = turin
    }

    private func byte(_ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: raw >> (8 * UInt64(index))) }

    /// Boot loader SPL (VCEK extension blSPL, 1.3.6.1.4.1.3704.1.3.1).
    public var bootLoader: UInt8 { isTurinLayout ? byte(1) : byte(0) }
    /// PSP OS (TEE) SPL (teeSPL, …3.2).
    public var tee: UInt8 { isTurinLayout ? byte(2) : byte(1) }
    /// SNP firmware SPL (snpSPL, …3.3).
    public var snp: UInt8 { isTurinLayout ? byte(3) : byte(6) }
    /// Microcode SPL (ucodeSPL, …3.8).
    public var microcode: UInt8 { byte(7) }
    /// FMC SPL (fmcSPL, …3.9), Turin only.
    public var fmc: UInt8? { isTurinLayout ? byte(0) : nil }

    /// The raw value as 16 hex digits of its little-endian bytes (the order the report stores), e.g.
    /// `0300000000000873` for boot loader 3, TEE 0, SNP 8, microcode 115 on Milan.
    public var hex: String {
        Hex.encode((0..<8).map { byte($0) }, prefix: false)
    }

    public var description: String {
        var text = "bl \(bootLoader) tee \(tee) snp \(snp) ucode \(microcode)"
        if let fmc { text = "fmc \(fmc) " + text }
        return text
    }
}

/// A parsed, not yet verified, SEV-SNP attestation report (see the layout at the top of this file).
///
/// Every field is read through a bounds-checked reader from input of exactly 1184 bytes, so hostile input can
/// only fail with ``AttestationError/Code/malformedSNPReport``, never crash.
public struct SNPReport: Sendable, Hashable {
    /// The size of every ATTESTATION_REPORT.
    public static let size = 0x4A0
    /// Bytes `0..<signedLength` are what the signature covers.
    public static let signedLength = 0x2A0
    /// SIGNATURE_ALGO value for ECDSA P-384 with SHA-384 (the only one the ABI defines).
    public static let ecdsaP384SHA384: UInt32 = 1
    /// POLICY bit 19: the guest may be debugged by the hypervisor (its memory is then not confidential).
    public static let policyDebugBit: UInt64 = 1 << 19

    /// The report bytes, exactly as given.
    public let bytes: [UInt8]
    /// Report format version (2 and later).
    public let version: UInt32
    /// The guest's security version number (from its ID block).
    public let guestSVN: UInt32
    /// The guest policy (bit 16 SMT allowed, 17 reserved-one, 18 migration agent, 19 debug, 20 single socket…).
    public let policy: UInt64
    /// FAMILY_ID from the ID block (16 bytes).
    public let familyID: [UInt8]
    /// IMAGE_ID from the ID block (16 bytes).
    public let imageID: [UInt8]
    /// The VM privilege level that requested the report (0 is the most privileged).
    public let vmpl: UInt32
    /// SIGNATURE_ALGO (1: ECDSA P-384 with SHA-384).
    public let signatureAlgorithm: UInt32
    /// The platform's current TCB.
    public let currentTCB: SNPTCBVersion
    /// PLATFORM_INFO (bit 0 SMT enabled, bit 1 TSME enabled, …).
    public let platformInfo: UInt64
    /// The u32 at 0x48: AUTHOR_KEY_EN (bit 0), MASK_CHIP_KEY (bit 1), SIGNING_KEY (bits 2-4).
    public let keyFlags: UInt32
    /// Guest-chosen data (64 bytes): DeLong binds a transcript hash here.
    public let reportData: [UInt8]
    /// The launch measurement (48 bytes, SHA-384 based).
    public let measurement: [UInt8]
    /// Data the hypervisor supplied at launch (32 bytes).
    public let hostData: [UInt8]
    /// SHA-384 of the ID key that signed the ID block (48 bytes; zero without an ID block).
    public let idKeyDigest: [UInt8]
    /// SHA-384 of the author key (48 bytes; zero unless AUTHOR_KEY_EN).
    public let authorKeyDigest: [UInt8]
    /// REPORT_ID of the guest (32 bytes).
    public let reportID: [UInt8]
    /// REPORT_ID of the guest's migration agent (32 bytes).
    public let reportIDMA: [UInt8]
    /// The TCB the VCEK was derived from: the VCEK certificate's SPL extensions must equal it.
    public let reportedTCB: SNPTCBVersion
    /// CPUID family, model and stepping (version 3 and later; zero in version 2).
    public let cpuidFamily: UInt8
    /// CPUID model (version 3 and later).
    public let cpuidModel: UInt8
    /// CPUID stepping (version 3 and later).
    public let cpuidStepping: UInt8
    /// CHIP_ID (64 bytes; zero when MASK_CHIP_ID is set). Must equal the VCEK's hwID extension.
    public let chipID: [UInt8]
    /// The committed TCB.
    public let committedTCB: SNPTCBVersion
    /// Current firmware version as (major, minor, build).
    public let currentFirmware: (major: UInt8, minor: UInt8, build: UInt8)
    /// Committed firmware version as (major, minor, build).
    public let committedFirmware: (major: UInt8, minor: UInt8, build: UInt8)
    /// The TCB at launch.
    public let launchTCB: SNPTCBVersion
    /// Signature R as a 48-byte big-endian integer.
    public let signatureR: [UInt8]
    /// Signature S as a 48-byte big-endian integer.
    public let signatureS: [UInt8]

    /// SIGNING_KEY: 0 when the VCEK signed, 1 when a VLEK signed.
    public var signingKey: UInt8 { UInt8((keyFlags >> 2) & 0x7) }
    /// Whether the policy allows debugging (POLICY bit 19).
    public var isDebugAllowed: Bool { policy & Self.policyDebugBit != 0 }
    /// The signed bytes `0..<0x2A0`.
    public var signedBytes: ArraySlice<UInt8> { bytes[0..<Self.signedLength] }

    /// Parses a report. Fails with ``AttestationError/Code/malformedSNPReport`` naming the expected and found
    /// size or field.
    public init(bytes: [UInt8]) throws(AttestationError) {
        guard bytes.count == Self.size else {
            throw AttestationError(
                .malformedSNPReport,
                "SEV-SNP report: expected \(Self.size) bytes, found \(bytes.count)"
            )
        }
        var r = ByteReader(bytes, what: "SEV-SNP report", code: .malformedSNPReport)
        self.bytes = bytes
        self.version = try r.u32("VERSION")
        guard version >= 2 else {
            throw AttestationError(.malformedSNPReport, "SEV-SNP report: expected VERSION 2 or later, found \(version)")
        }
        self.guestSVN = try r.u32("GUEST_SVN")
        self.policy = try r.u64("POLICY")
        self.familyID = try r.take(16, "FAMILY_ID")
        self.imageID = try r.take(16, "IMAGE_ID")
        self.vmpl = try r.u32("VMPL")
        self.signatureAlgorithm = try r.u32("SIGNATURE_ALGO")
        let currentTCB = try r.u64("CURRENT_TCB")
        self.platformInfo = try r.u64("PLATFORM_INFO")
        self.keyFlags = try r.u32("AUTHOR_KEY_EN")
        try r.skip(4, "reserved at 0x4C")
        self.reportData = try r.take(64, "REPORT_DATA")
        self.measurement = try r.take(48, "MEASUREMENT")
        self.hostData = try r.take(32, "HOST_DATA")
        self.idKeyDigest = try r.take(48, "ID_KEY_DIGEST")
        self.authorKeyDigest = try r.take(48, "AUTHOR_KEY_DIGEST")
        self.reportID = try r.take(32, "REPORT_ID")
        self.reportIDMA = try r.take(32, "REPORT_ID_MA")
        let reportedTCB = try r.u64("REPORTED_TCB")
        let cpuid = try r.take(3, "CPUID_FAM_ID/MOD_ID/STEP")
        (cpuidFamily, cpuidModel, cpuidStepping) = version >= 3 ? (cpuid[0], cpuid[1], cpuid[2]) : (0, 0, 0)
        try r.skip(0x1A0 - 0x18B, "reserved at 0x18B")
        self.chipID = try r.take(64, "CHIP_ID")
        let committedTCB = try r.u64("COMMITTED_TCB")
        let current = try r.take(4, "CURRENT_BUILD/MINOR/MAJOR")
        self.currentFirmware = (current[2], current[1], current[0])
        let committed = try r.take(4, "COMMITTED_BUILD/MINOR/MAJOR")
        self.committedFirmware = (committed[2], committed[1], committed[0])
        let launchTCB = try r.u64("LAUNCH_TCB")
        try r.skip(Self.signedLength - 0x1F8, "reserved at 0x1F8")
        // R and S are 72-byte little-endian fields; a P-384 scalar uses the low 48 bytes, the rest must be zero.
        let rField = try r.take(72, "SIGNATURE.R")
        let sField = try r.take(72, "SIGNATURE.S")
        guard rField[48...].allSatisfy({ $0 == 0 }), sField[48...].allSatisfy({ $0 == 0 }) else {
            throw AttestationError(
                .malformedSNPReport,
                "SEV-SNP report: expected signature R and S below 2^384 (bytes 48..<72 zero), found non-zero bytes"
            )
        }
        self.signatureR = Array(rField[0..<48].reversed())
        self.signatureS = Array(sField[0..<48].reversed())
        // Family 1Ah (Turin) reports (version 3+) use the TCB layout with an FMC SPL.
        let turin = version >= 3 && cpuidFamily == 0x1A
        self.currentTCB = SNPTCBVersion(raw: currentTCB, turin: turin)
        self.reportedTCB = SNPTCBVersion(raw: reportedTCB, turin: turin)
        self.committedTCB = SNPTCBVersion(raw: committedTCB, turin: turin)
        self.launchTCB = SNPTCBVersion(raw: launchTCB, turin: turin)
    }

    /// The report in a file's bytes: 1184 binary bytes, or hex text with or without `0x` and whitespace.
    public init(fileContents: [UInt8]) throws(AttestationError) {
        if fileContents.count == Self.size {
            try self.init(bytes: fileContents)
        } else if let decoded = Hex.decode(lenient: fileContents) {
            try self.init(bytes: decoded)
        } else {
            throw AttestationError(
                .malformedSNPReport,
                "SEV-SNP report file: expected \(Self.size) binary bytes or hex text, found \(fileContents.count) "
                    + "bytes that are neither"
            )
        }
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}
