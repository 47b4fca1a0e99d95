import ChainCore
import ComputeEngine
import ComputingPlane
import Foundation
import Logging
import PlaneCrypto

/// Starts each job's agent in its own Confidential VM with Intel TDX through the Compute Engine API
/// (docs/confidential-vm.md): `instances.insert` named and labelled after the job, with the plane's agent API
/// and the job's agent secret as instance metadata (`delong-plane`, `delong-agent-secret`; the full id in
/// `job-id`), `maxRunDuration` with `DELETE` as Compute Engine's own kill switch. The boot image runs
/// `delong agent --job ID` with the secret piped from the metadata server. Request ids are derived from the
/// job, so a repeated launch or stop is the same request to Compute Engine. A sweep deletes job VMs whose job
/// this plane has finished and those past their run limit.
final class ComputeEngineAgentHost: AgentHost {
    static let planeKey = "delong-plane"
    static let secretKey = "delong-agent-secret"

    let client: ComputeEngineClient
    let machineType: String
    let sourceImage: String
    let diskSizeGb: Int
    let sweepInterval: Duration?
    let logger: Logger

    init(
        client: ComputeEngineClient,
        machineType: String,
        sourceImage: String,
        diskSizeGb: Int,
        sweepInterval: Duration,
        logger: Logger
    ) {
        self.client = client
        self.machineType = machineType
        self.sourceImage = sourceImage
        self.diskSizeGb = diskSizeGb
        self.sweepInterval = sweepInterval
        self.logger = logger
    }

    /// A request id fixed by the job and what is asked (a valid version-4 UUID built from sha256).
    static func requestID(_ job: Hash32, _ purpose: String) -> UUID {
        var bytes = Array(Digest.sha256(Array("delong/gce/\(purpose)/".utf8) + job.bytes).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
    }

    func start(_ launch: AgentLaunch) async throws {
        let request = try InstanceRequest.forJob(
            launch.job.hex,
            zone: client.zone,
            machineType: machineType,
            sourceImage: sourceImage,
            diskSizeGb: diskSizeGb,
            maxRunDurationSeconds: launch.maxRunSeconds,
            metadata: [
                .init(key: Self.planeKey, value: launch.plane), .init(key: Self.secretKey, value: launch.secret),
            ]
        )
        let operation = try await client.insert(request, requestID: Self.requestID(launch.job, "insert"))
        try await client.wait(operation)
        logger.info("job VM created", metadata: ["job": "\(launch.job.hex)", "instance": "\(request.name)"])
    }

    func stop(_ job: Hash32) async {
        do {
            let name = try InstanceRequest.instanceName(forJobID: job.hex)
            if let operation = try await client.delete(name, requestID: Self.requestID(job, "delete")) {
                try await client.wait(operation, timeout: .seconds(120))
            }
            logger.info("job VM deleted", metadata: ["job": "\(job.hex)", "instance": "\(name)"])
        } catch {
            // The sweep and the VM's own maxRunDuration remove it later.
            logger.warning("job VM delete failed", metadata: ["job": "\(job.hex)", "error": "\(error)"])
        }
    }

    func sweep(ended: @escaping @Sendable (Hash32) -> Bool) async {
        let sweeper = InstanceSweeper(client: client, logger: logger)
        do {
            let report = try await sweeper.sweep { instance in
                guard
                    let id = instance.metadataValue(InstanceRequest.jobIDMetadataKey).flatMap({
                        try? Hash32(hex: "0x" + $0)
                    })
                else { return false }
                return ended(id)
            }
            if !report.deleted.isEmpty { logger.info("job VMs swept", metadata: ["deleted": "\(report.deleted)"]) }
        } catch {
            logger.warning("the job VM sweep failed", metadata: ["error": "\(error)"])
        }
    }
}
