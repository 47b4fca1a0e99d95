import ArgumentParser
import Attestation
import ChainCore
import Foundation
import PlaneProtocol

/// The AMD SEV-SNP inputs of `delong attest verify`.
struct SNPOptions: ParsableArguments {
    @Option(help: "AMD SEV-SNP report file (1184 bytes binary, or hex text).") var snpReport: String?
    @Option(help: "The VCEK (or VLEK) certificate that signed the SEV-SNP report: DER or PEM.") var vcek: String?
    @Option(help: "The ASK (or ASVK) certificate: PEM or DER.") var ask: String?
    @Option(help: "The ARK certificate (AMD's Milan, Genoa or Turin root): PEM or DER.") var ark: String?
    @Flag(help: "Accept an SEV-SNP guest whose policy allows debugging (its memory is not confidential).")
    var allowDebug = false
}

extension AttestVerifyCommand {
    func runSNP() throws {
        let (reportBytes, vcekBytes, askBytes, arkBytes, time) = try CLIFailure.reporting("attest verify") {
            () throws -> ([UInt8], [UInt8], [UInt8], [UInt8], Date) in
            guard quote == nil, collateral == nil, eventLog == nil, allowStatus.isEmpty else {
                throw CLIFailure.malformed(
                    "attest verify: expected either TDX options (--quote, --collateral, --event-log, --allow-status) "
                        + "or SEV-SNP options (--snp-report, --vcek, --ask, --ark), found both"
                )
            }
            guard let report = snp.snpReport, let vcek = snp.vcek, let ask = snp.ask, let ark = snp.ark else {
                throw CLIFailure.malformed(
                    "attest verify: expected all of --snp-report, --vcek, --ask and --ark, found only some"
                )
            }
            guard let seconds = RFC3339.seconds(at) else {
                throw CLIFailure.malformed("--at: expected an RFC 3339 time such as 2025-01-01T00:00:00Z, found \(at)")
            }
            return (
                Array(try InputFile.read(report, what: "SEV-SNP report")),
                Array(try InputFile.read(vcek, what: "VCEK")),
                Array(try InputFile.read(ask, what: "ASK")),
                Array(try InputFile.read(ark, what: "ARK")),
                Date(timeIntervalSince1970: TimeInterval(seconds))
            )
        }
        let output: JSONOutput
        let status: Int32
        do throws(AttestationError) {
            let report = try SNPReport(fileContents: reportBytes)
            let verified = try SNPVerifier.verify(
                report,
                vcek: try SNPVerifier.certificate(vcekBytes, name: "VCEK"),
                ask: try SNPVerifier.certificate(askBytes, name: "ASK"),
                ark: try SNPVerifier.certificate(arkBytes, name: "ARK"),
                at: time,
                allowDebug: snp.allowDebug
            )
            output = .object([("verified", .bool(true))] + Self.fields(verified))
            status = ExitCodes.ok
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

    static func fields(_ v: VerifiedSNPReport) -> [(String, JSONOutput)] {
        let r = v.report
        let tcb = r.reportedTCB
        var reportedTCB: [(String, JSONOutput)] = [
            ("raw", .string(tcb.hex)), ("bootLoader", .int(Int(tcb.bootLoader))), ("tee", .int(Int(tcb.tee))),
            ("snp", .int(Int(tcb.snp))), ("microcode", .int(Int(tcb.microcode))),
        ]
        if let fmc = tcb.fmc { reportedTCB.insert(("fmc", .int(Int(fmc))), at: 1) }
        return [
            ("technology", .string("amd-sev-snp")), ("signingKey", .string(v.signingKey.rawValue)),
            ("reportVersion", .int(Int(r.version))), ("guestSvn", .int(Int(r.guestSVN))),
            ("policy", .string("0x" + String(r.policy, radix: 16))), ("vmpl", .int(Int(r.vmpl))),
            ("measurement", .string(Hex.encode(r.measurement, prefix: false))),
            ("reportData", .string(Hex.encode(r.reportData, prefix: false))),
            ("hostData", .string(Hex.encode(r.hostData, prefix: false))),
            ("chipId", .string(Hex.encode(r.chipID, prefix: false))),
            ("reportedTcb", .object(reportedTCB)), ("idKeyDigest", .string(Hex.encode(r.idKeyDigest, prefix: false))),
            ("familyId", .string(Hex.encode(r.familyID, prefix: false))),
            ("imageId", .string(Hex.encode(r.imageID, prefix: false))),
            ("product", v.chain.tcb.productName.map(JSONOutput.string) ?? .null),
            ("arkSha256", .string(v.chain.arkFingerprint)),
            ("measurementDigest", .string(Hex.encode(v.measurementDigest, prefix: false))),
        ]
    }
}
