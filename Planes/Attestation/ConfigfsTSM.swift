import ChainCore
public import Foundation

/// Evidence from the Linux configfs-tsm report interface (`/sys/kernel/config/tsm/report`, Documentation/ABI/
/// testing/configfs-tsm): the kernel's one interface to TDX quotes (`tdx_guest`) and SEV-SNP reports
/// (`sev_guest`).
///
/// One report: make an entry (`mkdir`), write the 64 REPORTDATA bytes to `inblob`, read `generation`, read
/// `outblob` (and `auxblob`: the GHCB certificate table on SEV-SNP), read `generation` again and start over when
/// it changed or is not the one our write made (another writer raced on the entry: the kernel's rule), read
/// `provider`, then remove the entry. The outblob's own REPORTDATA must be ours, or the attempt counts as a race.
public struct ConfigfsTSM: Sendable {
    /// The kernel's report directory.
    public static let defaultPath = "/sys/kernel/config/tsm/report"

    /// The TSM behind the interface.
    public enum Provider: String, Sendable, CaseIterable {
        case tdx = "tdx_guest"
        case sev = "sev_guest"
    }

    /// One report as the kernel gave it.
    public struct Report: Sendable {
        public let provider: Provider
        /// A TDX quote (tdx_guest) or an SEV-SNP ATTESTATION_REPORT (sev_guest).
        public let outblob: [UInt8]
        /// The SEV-SNP certificate table (empty for TDX, or when the host supplies none).
        public let auxblob: [UInt8]
        /// The generation the report was read at.
        public let generation: UInt64
        /// How many attempts it took (1 unless a race was seen).
        public let attempts: Int

        /// The evidence to present: the quote for TDX, ``SNPEvidence`` (report ‖ certificate table) for SEV-SNP.
        public var evidence: [UInt8] {
            switch provider {
            case .tdx: outblob
            case .sev: SNPEvidence(report: outblob, certificates: auxblob).bytes
            }
        }
    }

    /// The report directory.
    public let root: String
    /// The provider required; nil accepts either.
    public let expectedProvider: Provider?
    /// Attempts before giving up on racing writers.
    public let maxAttempts: Int
    /// How long to wait for the kernel's attribute files and generation (a real kernel answers at once).
    public let timeout: TimeInterval

    /// A producer on `root`; fails with ``AttestationError/Code/unsupportedQuote`` naming the path when `root` is
    /// not a directory.
    public init(
        root: String = defaultPath,
        expectedProvider: Provider? = nil,
        maxAttempts: Int = 8,
        timeout: TimeInterval = 10
    ) throws(AttestationError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw AttestationError(
                .unsupportedQuote,
                "configfs-tsm: expected the report directory \(root) (a kernel with CONFIG_TSM_REPORTS in a TDX or "
                    + "SEV-SNP guest, configfs mounted), found none"
            )
        }
        self.root = root
        self.expectedProvider = expectedProvider
        self.maxAttempts = maxAttempts
        self.timeout = timeout
    }

    /// A report whose REPORTDATA is `reportData` (64 bytes).
    public func report(reportData: [UInt8]) throws(AttestationError) -> Report {
        guard reportData.count == 64 else {
            throw AttestationError(
                .reportDataMismatch,
                "configfs-tsm inblob: expected 64 bytes, found \(reportData.count)"
            )
        }
        let entry = (root as NSString).appendingPathComponent("delong-\(UUID().uuidString)")
        guard mkdir(entry, 0o700) == 0 else {
            throw failure("mkdir \(entry)", errno)
        }
        defer { Self.remove(entry) }
        let deadline = Date().addingTimeInterval(timeout)
        var last = "no attempt"
        for attempt in 1...max(1, maxAttempts) {
            let before = try waitForGeneration(entry, deadline: deadline, after: nil)
            try write(reportData, to: entry + "/inblob")
            let g1 = try waitForGeneration(entry, deadline: deadline, after: before)
            let outblob = try read(entry + "/outblob")
            let auxblob = FileManager.default.fileExists(atPath: entry + "/auxblob") ? try read(entry + "/auxblob") : []
            let g2 = try generation(entry)
            guard g1 == before &+ 1, g2 == g1 else {
                last = "generation \(before) before the write, \(g1) after it, \(g2) after reading outblob"
                continue
            }
            let providerText = String(decoding: try read(entry + "/provider"), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard let provider = Provider(rawValue: providerText) else {
                throw AttestationError(
                    .unsupportedQuote,
                    "configfs-tsm provider: expected tdx_guest or sev_guest, found \"\(providerText)\""
                )
            }
            if let expectedProvider, provider != expectedProvider {
                throw AttestationError(
                    .unsupportedQuote,
                    "configfs-tsm provider: expected \(expectedProvider.rawValue), found \(provider.rawValue)"
                )
            }
            let bound = try Self.reportData(of: outblob, provider: provider)
            guard bound == reportData else {
                last = "outblob's REPORTDATA is not the inblob written (another writer's report)"
                continue
            }
            return Report(provider: provider, outblob: outblob, auxblob: auxblob, generation: g2, attempts: attempt)
        }
        throw AttestationError(
            .reportDataMismatch,
            "configfs-tsm: expected a report of our inblob within \(maxAttempts) attempts, found racing writers "
                + "(last: \(last))"
        )
    }

    /// The REPORTDATA inside `outblob`.
    static func reportData(of outblob: [UInt8], provider: Provider) throws(AttestationError) -> [UInt8] {
        switch provider {
        case .tdx: try TDXQuote(bytes: outblob).body.reportData
        case .sev: try SNPReport(bytes: outblob).reportData
        }
    }

    func waitForGeneration(_ entry: String, deadline: Date, after previous: UInt64?) throws(AttestationError) -> UInt64
    {
        while true {
            if FileManager.default.fileExists(atPath: entry + "/generation") {
                let value = try generation(entry)
                if previous.map({ value != $0 }) ?? true { return value }
            }
            guard Date() < deadline else {
                throw AttestationError(
                    .unsupportedQuote,
                    "configfs-tsm \(entry): expected the generation to "
                        + (previous.map { "move past \($0) after writing inblob" } ?? "appear")
                        + " within \(Int(timeout)) s, found it did not"
                )
            }
            usleep(1000)
        }
    }

    func generation(_ entry: String) throws(AttestationError) -> UInt64 {
        let text = String(decoding: try read(entry + "/generation"), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = UInt64(text) else {
            throw AttestationError(
                .unsupportedQuote,
                "configfs-tsm generation: expected a decimal number, found \"\(text)\""
            )
        }
        return value
    }

    func read(_ path: String) throws(AttestationError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw failure("read \(path)", errno)
        }
        return Array(data)
    }

    func write(_ bytes: [UInt8], to path: String) throws(AttestationError) {
        let fd = open(path, O_WRONLY | O_CREAT, 0o600)
        guard fd >= 0 else { throw failure("open \(path)", errno) }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw failure("write \(path) (\(written) of \(bytes.count) bytes)", errno) }
    }

    func failure(_ what: String, _ code: Int32) -> AttestationError {
        AttestationError(.unsupportedQuote, "configfs-tsm: \(what): \(String(cString: strerror(code)))")
    }

    /// Removes an entry: `rmdir` (configfs removes its attributes with it); on a plain directory (a test's fake
    /// tree) the files are removed first.
    static func remove(_ entry: String) {
        if rmdir(entry) != 0 { try? FileManager.default.removeItem(atPath: entry) }
    }
}
