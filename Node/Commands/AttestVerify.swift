import ArgumentParser
import Attestation
import ChainCore
import Foundation
import PlaneProtocol

/// `delong attest verify --quote FILE --collateral FILE --at RFC3339 [--event-log FILE] [--allow-status S …]`, or
/// `delong attest verify --snp-report FILE --vcek FILE --ask FILE --ark FILE --at RFC3339 [--allow-debug]`
/// (AMD SEV-SNP, in AttestVerify+SNP.swift).
struct AttestVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify an Intel TDX DCAP quote (v4/v5) with collateral, or an AMD SEV-SNP report, at a given time.",
        discussion: """
            QUOTE is a TDX quote, binary or hex (with or without 0x; whitespace ignored; trailing padding \
            after the signature data is ignored). COLLATERAL is dcap-qvl's QuoteCollateralV3 JSON (as \
            dcap-qvl's get_collateral or Phala's PCCS return it). Checks, offline and in this order: the \
            collateral's chains to the built-in Intel SGX Root CA, both CRLs, the TCB Info and QE Identity \
            signatures; that --at lies in every validity window; the quote's PCK chain, revocation, QE report \
            signature and binding, QE Identity, the quote signature, FMSPC, the TCB level (SGX and TDX \
            components, TDX module identity) and the TD attributes (debug TDs are rejected). With --event-log \
            (CCEL binary or dstack JSON), RTMR0-3 are replayed and compared with the quote. Prints one JSON \
            object: the verified fields, or {"verified": false, "code", "reason"}. Exit codes: 0 verified with \
            status UpToDate (or one allowed by --allow-status) and, with --event-log, every RTMR replayed equal; \
            1 rejected; 2 malformed quote, collateral, event log or time; 3 unreadable file.

            With --snp-report (binary or hex), --vcek (DER or PEM), --ask and --ark (PEM or DER) instead of \
            --quote and --collateral, an AMD SEV-SNP report is verified: the ARK is one of AMD's Milan, Genoa or \
            Turin roots (pinned by SHA-256), ARK -> ASK -> VCEK signatures (RSASSA-PSS SHA-384) and validity at \
            --at, the report's ECDSA P-384 signature by the VCEK, hwID = CHIP_ID, the VCEK's TCB extensions = \
            REPORTED_TCB, and the policy's debug bit (refused unless --allow-debug). Same output and exit codes.
            """
    )

    @Option(help: "Quote file: binary, or hex text with or without 0x.") var quote: String?
    @Option(help: "Collateral file: dcap-qvl QuoteCollateralV3 JSON.") var collateral: String?
    @Option(help: "Evaluation time, RFC 3339 (e.g. 2025-07-04T10:16:31Z); must lie in every collateral window.")
    var at: String
    @Option(help: "Event log to replay: CCEL binary (TCG2, SHA-384) or dstack JSON.") var eventLog: String?
    @Option(
        help: ArgumentHelp(
            "Also accept this TCB status (repeatable): SWHardeningNeeded, ConfigurationNeeded, "
                + "ConfigurationAndSWHardeningNeeded, OutOfDate, OutOfDateConfigurationNeeded.",
            valueName: "status"
        )
    )
    var allowStatus: [String] = []
    @OptionGroup var snp: SNPOptions

    func run() throws {
        if snp.snpReport != nil || snp.vcek != nil || snp.ask != nil || snp.ark != nil {
            return try runSNP()
        }
        let (quoteBytes, collateralBytes, logBytes, time, statuses) = try CLIFailure.reporting("attest verify") {
            () throws -> ([UInt8], [UInt8], [UInt8]?, Date, Set<TCBStatus>) in
            guard let quote, let collateral else {
                throw CLIFailure.malformed(
                    "attest verify: expected --quote and --collateral (TDX) or --snp-report, --vcek, --ask and --ark "
                        + "(SEV-SNP), found neither"
                )
            }
            guard let seconds = RFC3339.seconds(at) else {
                throw CLIFailure.malformed("--at: expected an RFC 3339 time such as 2025-07-04T10:16:31Z, found \(at)")
            }
            var statuses: Set<TCBStatus> = [.upToDate]
            for name in allowStatus {
                guard let status = TCBStatus(rawValue: name), status != .revoked else {
                    throw CLIFailure.malformed(
                        "--allow-status: expected one of "
                            + TCBStatus.allCases.filter { $0 != .revoked }.map(\.rawValue).joined(separator: ", ")
                            + ", found \(name)"
                    )
                }
                statuses.insert(status)
            }
            return (
                Array(try InputFile.read(quote, what: "quote")),
                Array(try InputFile.read(collateral, what: "collateral")),
                try eventLog.map { Array(try InputFile.read($0, what: "event log")) },
                Date(timeIntervalSince1970: TimeInterval(seconds)),
                statuses
            )
        }
        let output: JSONOutput
        let status: Int32
        do throws(AttestationError) {
            let parsedQuote = try TDXQuote(fileContents: quoteBytes)
            let parsedCollateral = try QuoteCollateral(json: collateralBytes)
            var log: EventLog?
            if let logBytes { log = try EventLog(fileContents: logBytes) }
            let verified = try DCAPVerifier.verify(
                quote: parsedQuote,
                collateral: try DCAPVerifier.prepare(parsedCollateral),
                at: time
            )
            var fields = Self.fields(verified)
            var ok = true
            do {
                try AttestationPolicy(acceptableStatuses: statuses).check(verified, expectedReportData: nil)
            } catch {
                ok = false
                fields.insert(
                    contentsOf: [("code", .string(error.code.rawValue)), ("reason", .string(error.reason))],
                    at: 0
                )
            }
            if let log {
                let replayed = log.replay()
                let matches = log.matches(verified.report)
                ok = ok && !matches.contains(false)
                fields.append(
                    (
                        "eventLog",
                        .object(
                            [("events", .int(log.events.count)), ("matches", .bool(!matches.contains(false)))]
                                + (0..<4).map { i in
                                    (
                                        "rtmr\(i)",
                                        .object([
                                            ("replayed", .string(Hex.encode(replayed[i], prefix: false))),
                                            ("match", .bool(matches[i])),
                                        ])
                                    )
                                }
                        )
                    )
                )
            }
            output = .object([("verified", .bool(ok))] + fields)
            status = ok ? ExitCodes.ok : ExitCodes.verificationFailed
        } catch {
            output = .object([
                ("verified", .bool(false)), ("code", .string(error.code.rawValue)), ("reason", .string(error.reason)),
            ])
            status = ExitCodes.code(for: error)
            if status == ExitCodes.malformedInput {
                FileHandle.standardError.write(Data("delong: attest verify: \(error.reason)\n".utf8))
            }
        }
        print(output.rendered())
        if status != ExitCodes.ok { throw ExitCode(status) }
    }

    static func fields(_ v: VerifiedQuote) -> [(String, JSONOutput)] {
        let r = v.report
        return [
            ("status", .string(v.status.rawValue)), ("advisoryIds", .array(v.advisoryIDs.map(JSONOutput.string))),
            ("platformStatus", .string(v.platformStatus.rawValue)), ("qeStatus", .string(v.qeStatus.rawValue)),
            ("quoteVersion", .int(v.version)), ("fmspc", .string(Hex.encode(v.fmspc, prefix: false))),
            ("teeTcbSvn", .string(Hex.encode(r.teeTCBSVN, prefix: false))),
            ("mrSeam", .string(Hex.encode(r.mrSeam, prefix: false))),
            ("tdAttributes", .string(Hex.encode(r.tdAttributes, prefix: false))),
            ("xfam", .string(Hex.encode(r.xfam, prefix: false))), ("mrTd", .string(Hex.encode(r.mrTD, prefix: false))),
            ("mrConfigId", .string(Hex.encode(r.mrConfigID, prefix: false))),
            ("mrOwner", .string(Hex.encode(r.mrOwner, prefix: false))),
            ("mrOwnerConfig", .string(Hex.encode(r.mrOwnerConfig, prefix: false))),
            ("rtmr0", .string(Hex.encode(r.rtmr[0], prefix: false))),
            ("rtmr1", .string(Hex.encode(r.rtmr[1], prefix: false))),
            ("rtmr2", .string(Hex.encode(r.rtmr[2], prefix: false))),
            ("rtmr3", .string(Hex.encode(r.rtmr[3], prefix: false))),
            ("reportData", .string(Hex.encode(r.reportData, prefix: false))),
            ("measurementDigest", .string(Hex.encode(v.measurementDigest(includingRTMR3: false), prefix: false))),
            (
                "measurementDigestWithRtmr3",
                .string(Hex.encode(v.measurementDigest(includingRTMR3: true), prefix: false))
            ),
            ("quoteHash", .string(Hex.encode(v.quoteHash, prefix: false))),
        ]
    }
}
