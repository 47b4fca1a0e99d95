import ArgumentParser
import ComputeEngine
import ComputingPlane
import Foundation
import Logging

/// `compute serve --agents gce`: where job VMs are made (docs/confidential-vm.md).
struct ComputeEngineOptions: ParsableArguments {
    @Option(help: "With --agents gce: the service account's JSON key file (0600), allowed compute.instances.*.")
    var gceKey: String?
    @Option(help: "The project (default: the key's project_id).") var gceProject: String?
    @Option(help: "The zone job VMs are made in.") var gceZone: String = "us-central1-a"
    @Option(help: "The machine type (a TDX-capable one).") var gceMachineType: String = "c3-standard-4"
    @Option(help: "The boot image with the runner payload, projects/P/global/images/I (or …/family/F).")
    var gceImage: String?
    @Option(help: "The boot disk's size in GB.") var gceDiskGb: Int = 20
    @Option(help: "The Compute Engine API root.") var gceEndpoint: String = ComputeEngineClient.defaultBaseURL
    @Option(help: "Seconds between sweeps for job VMs left behind.") var gceSweepSeconds: Double = 60

    func validate() throws {
        guard gceKey != nil else { return }
        guard gceImage != nil else { throw ValidationError("--gce-image: expected with --agents gce") }
        guard gceDiskGb >= 10, gceSweepSeconds >= 0.5 else {
            throw ValidationError("--gce-disk-gb ≥ 10 and --gce-sweep-seconds ≥ 0.5 expected")
        }
        guard gceEndpoint.hasPrefix("https://") || gceEndpoint.hasPrefix("http://127.0.0.1") else {
            throw ValidationError("--gce-endpoint: expected https://… (or a loopback http:// test endpoint)")
        }
    }

    /// The host, its key read and its token source ready (a malformed key exits 2 before anything starts).
    func host(logger: Logger) throws -> ComputeEngineAgentHost {
        guard let gceKey, let gceImage else { throw CLIFailure.malformed("--gce-key and --gce-image expected") }
        let key: ServiceAccountKey
        do { key = try ServiceAccountKey(json: try InputFile.read(gceKey, what: "service account key")) } catch {
            throw CLIFailure.malformed("--gce-key \(gceKey): \(error)")
        }
        let client = ComputeEngineClient(
            project: gceProject ?? key.projectID,
            zone: gceZone,
            tokens: GoogleAccessTokens(key: key, logger: logger),
            baseURL: gceEndpoint,
            logger: logger
        )
        return ComputeEngineAgentHost(
            client: client,
            machineType: gceMachineType,
            sourceImage: gceImage,
            diskSizeGb: gceDiskGb,
            sweepInterval: .milliseconds(Int64(gceSweepSeconds * 1000)),
            logger: logger
        )
    }
}
