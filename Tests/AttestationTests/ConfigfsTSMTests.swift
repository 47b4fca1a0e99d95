import ChainCore
import Foundation
import Synchronization
import Testing

@testable import Attestation

/// `ConfigfsTSM` on a fake report tree (a temporary directory) where a thread plays the kernel: for each entry it
/// creates `provider` and `generation`, and on each write to `inblob` writes `outblob` (a fixture report with that
/// REPORTDATA) and `auxblob`, then bumps `generation`.
@Suite struct ConfigfsTSMTests {
    /// What the fake kernel does.
    enum Behaviour: Sendable {
        case honest
        /// On the first write: another writer's report, and generation bumped twice (a racing writer).
        case raceOnce
        /// Every write: generation bumped after outblob is read (a writer racing forever).
        case raceAlways
    }

    final class FakeKernel: Sendable {
        let root: URL
        let provider: String
        let behaviour: Behaviour
        let stop = Atomic<Bool>(false)
        let writesSeen = Atomic<Int>(0)
        let removed = Atomic<Int>(0)

        init(provider: String, behaviour: Behaviour = .honest) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("delong-tsm-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            self.provider = provider
            self.behaviour = behaviour
        }

        func template() throws -> [UInt8] {
            provider == "sev_guest"
                ? try Fixtures.quote("virtee-sev/report_milan.hex") : try Fixtures.quote("dcap-qvl/tdx_quote")
        }

        /// The offset of REPORTDATA in the outblob.
        var reportDataOffset: Int { provider == "sev_guest" ? 0x50 : 568 }

        func start() -> Thread {
            let thread = Thread { [self] in run() }
            thread.start()
            return thread
        }

        func run() {
            var seen: [String: Date] = [:]
            var made: Set<String> = []
            let fm = FileManager.default
            while !stop.load(ordering: .relaxed) {
                for name in (try? fm.contentsOfDirectory(atPath: root.path)) ?? [] {
                    let entry = root.appendingPathComponent(name)
                    // Attribute files appear once per entry (configfs makes them with the directory); writes are
                    // atomic (rename) so a reader never sees a half-written value, as with the kernel's attributes.
                    if !made.contains(name) {
                        made.insert(name)
                        try? Data(provider.utf8).write(to: entry.appendingPathComponent("provider"), options: .atomic)
                        try? Data("0\n".utf8).write(to: entry.appendingPathComponent("generation"), options: .atomic)
                    }
                    let inblob = entry.appendingPathComponent("inblob")
                    guard let attributes = try? fm.attributesOfItem(atPath: inblob.path),
                        let modified = attributes[.modificationDate] as? Date, seen[name] != modified,
                        let data = fm.contents(atPath: inblob.path), data.count == 64
                    else { continue }
                    seen[name] = modified
                    let count = writesSeen.add(1, ordering: .relaxed).newValue
                    guard var report = try? template() else { continue }
                    let race = behaviour == .raceAlways || (behaviour == .raceOnce && count == 1)
                    let reportData = race ? [UInt8](repeating: 0xEE, count: 64) : Array(data)
                    report.replaceSubrange(reportDataOffset..<reportDataOffset + 64, with: reportData)
                    try? Data(report).write(to: entry.appendingPathComponent("outblob"), options: .atomic)
                    try? Data(provider == "sev_guest" ? [1, 2, 3] : []).write(
                        to: entry.appendingPathComponent("auxblob"),
                        options: .atomic
                    )
                    let generation =
                        (fm.contents(atPath: entry.appendingPathComponent("generation").path))
                        .flatMap {
                            UInt64(String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
                        }
                        ?? 0
                    try? Data("\(generation + (race ? 2 : 1))\n".utf8).write(
                        to: entry.appendingPathComponent("generation"),
                        options: .atomic
                    )
                }
                usleep(500)
            }
        }

        deinit { try? FileManager.default.removeItem(at: root) }
    }

    func withKernel<T>(
        _ provider: String,
        _ behaviour: Behaviour = .honest,
        _ body: (FakeKernel) throws -> T
    ) throws -> T {
        let kernel = try FakeKernel(provider: provider, behaviour: behaviour)
        _ = kernel.start()
        defer { kernel.stop.store(true, ordering: .relaxed) }
        return try body(kernel)
    }

    let reportData = (0..<64).map { UInt8($0 &* 3 &+ 1) }

    @Test(arguments: ["tdx_guest", "sev_guest"])
    func aReportCarriesOurREPORTDATAAndTheEntryIsRemoved(_ provider: String) throws {
        try withKernel(provider) { kernel in
            let tsm = try ConfigfsTSM(root: kernel.root.path)
            let report = try tsm.report(reportData: reportData)
            #expect(report.provider.rawValue == provider)
            #expect(report.attempts == 1)
            #expect(report.generation == 1)
            if provider == "sev_guest" {
                #expect(try SNPReport(bytes: report.outblob).reportData == reportData)
                #expect(report.auxblob == [1, 2, 3])
                let evidence = try SNPEvidence(bytes: report.evidence)
                #expect(evidence.report == report.outblob && evidence.certificates == [1, 2, 3])
            } else {
                #expect(try TDXQuote(bytes: report.evidence).body.reportData == reportData)
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: kernel.root.path)
            #expect(left.isEmpty)
        }
    }

    @Test(arguments: ["tdx_guest", "sev_guest"])
    func aGenerationThatMovesUnderUsIsRetried(_ provider: String) throws {
        try withKernel(provider, .raceOnce) { kernel in
            let report = try ConfigfsTSM(root: kernel.root.path).report(reportData: reportData)
            #expect(report.attempts == 2)
            #expect(report.generation == 3)
            #expect(try ConfigfsTSM.reportData(of: report.outblob, provider: report.provider) == reportData)
        }
    }

    @Test func aWriterRacingForeverIsAnError() throws {
        try withKernel("tdx_guest", .raceAlways) { kernel in
            let error = #expect(throws: AttestationError(.reportDataMismatch, "")) {
                _ = try ConfigfsTSM(root: kernel.root.path, maxAttempts: 3).report(reportData: reportData)
            }
            #expect(error?.reason.contains("within 3 attempts") == true, "\(String(describing: error))")
        }
    }

    @Test func aProviderMismatchIsAnError() throws {
        try withKernel("sev_guest") { kernel in
            let error = #expect(throws: AttestationError(.unsupportedQuote, "")) {
                _ = try ConfigfsTSM(root: kernel.root.path, expectedProvider: .tdx).report(reportData: reportData)
            }
            #expect(
                error?.reason.contains("expected tdx_guest, found sev_guest") == true,
                "\(String(describing: error))"
            )
            let left = try FileManager.default.contentsOfDirectory(atPath: kernel.root.path)
            #expect(left.isEmpty)
        }
    }

    @Test func aMissingDirectoryIsAClearError() throws {
        let error = #expect(throws: AttestationError(.unsupportedQuote, "")) {
            _ = try ConfigfsTSM(root: "/nonexistent/tsm/report")
        }
        #expect(error?.reason.contains("expected the report directory /nonexistent/tsm/report") == true)
    }
}
