import ArgumentParser
import Attestation
import ChainCore
import ComputingPlane
import Foundation

/// Where a job agent's evidence comes from (shared by `compute serve`, whose agents run in its process, and
/// `agent`, one agent in its own process or Confidential VM).
struct AgentEvidenceOptions: ParsableArguments {
    @Option(
        help:
            "INSECURE development evidence: the 192 bytes (hex) of MRTD and RTMR0-2 the agents claim; governance must trust their development digest."
    )
    var insecureDevMeasurements: String?
    @Option(
        help:
            "Where the agents' evidence comes from: dev (INSECURE development evidence), configfs-tsm (the kernel's TDX or SEV-SNP report interface) or dstack[:SOCKET] (the dstack guest agent's GetQuote)."
    )
    var evidence: String = "dev"
    @Option(help: "With --evidence configfs-tsm: the report directory (default /sys/kernel/config/tsm/report).")
    var configfsTsmPath: String?

    func validate() throws {
        guard evidence == "dev" || evidence == "configfs-tsm" || evidence == "dstack" || evidence.hasPrefix("dstack:")
        else {
            throw ValidationError("--evidence: expected dev, configfs-tsm or dstack[:SOCKET], found \"\(evidence)\"")
        }
        if evidence == "dev" {
            guard let hex = insecureDevMeasurements, let m = try? Hex.decode(hex), m.count == 192 else {
                throw ValidationError("--insecure-dev-measurements: expected 192 bytes of hex (MRTD and RTMR0-2)")
            }
        }
        if configfsTsmPath != nil && evidence != "configfs-tsm" {
            throw ValidationError("--configfs-tsm-path: expected --evidence configfs-tsm too")
        }
    }

    /// The agents' attester: development evidence, configfs-tsm (its directory must exist now: exit 2) or the
    /// dstack guest agent (a malformed endpoint: exit 2; an agent that is down fails each job's attestation).
    func makeAttester() throws -> any AgentAttester {
        do {
            if let agent = try DstackGuestAgent.named(evidence) { return DstackAttester(agent: agent) }
        } catch {
            FileHandle.standardError.write(Data("delong: --evidence \(evidence): \(error.reason)\n".utf8))
            throw ExitCode(ExitCodes.malformedInput)
        }
        if evidence == "configfs-tsm" {
            do {
                return ConfigfsTSMAttester(producer: try ConfigfsTSM(root: configfsTsmPath ?? ConfigfsTSM.defaultPath))
            } catch {
                FileHandle.standardError.write(Data("delong: --evidence configfs-tsm: \(error.reason)\n".utf8))
                throw ExitCode(ExitCodes.malformedInput)
            }
        }
        return try DevelopmentAttester(measurements: try Hex.decode(insecureDevMeasurements ?? ""))
    }
}
