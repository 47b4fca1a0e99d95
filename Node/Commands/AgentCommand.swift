import ArgumentParser
import Attestation
import ChainCore
import ChainIndex
import ChainRecords
import ComputingPlane
import Foundation
import LightClient
import Logging
import PlaneCrypto
import PlaneProtocol

/// `delong agent --job ID`: one Secure job's agent in its own process, where a Computing Plane with an
/// out-of-process backend started it (a child process, or a Confidential VM booted for the job).
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run one Secure job's agent out of the Computing Plane's process (docs/jobs.md).",
        discussion: """
            The agent takes its job from the plane's agent API (--plane), with the job's agent secret read from \
            standard input (64 hex digits and a newline; a Confidential VM pipes it from its instance metadata, \
            so it is never on a command line or in the environment). It keeps \
            its own light client of the chain (the sync options; a fresh --data-dir), fetches the bundle from \
            the DA store, attests, leases the dataset key from the Privacy Plane, runs the sandbox, gates the \
            output, and reports each event to the plane, which keeps the job log and the review desk. Exit \
            codes: 0 released, 1 the job ended otherwise, 2 malformed input, 3 I/O, 4 the plane refused.
            """
    )

    @Option(help: "The job id (0x + 64 hex) this agent runs.") var job: String
    @OptionGroup var plane: PlaneOptions
    @OptionGroup var sync: SyncOptions
    @Option(help: "Trust only the Privacy Plane whose certificate (PEM) has this file's key, not its attestation.")
    var privacyPlaneCert: String?
    @Option(help: "The content-addressed DA store (bundles in, evidence bundles out).") var da: String
    @Option(help: "Where the sealed datasets are: DIR/<dataset id, 64 hex>/.") var datasets: String
    @OptionGroup var agentEvidence: AgentEvidenceOptions
    @Option(help: "The agent's own results and work (the output stays here until handed over).") var stateDir: String
    @Option(help: "Seconds each preparation and finishing phase may take.") var phaseTimeout: Int64 = 120
    @Option(help: "Seconds an output may wait for review before it is rejected (default 7 days).")
    var reviewTimeout: Int64 = 7 * 24 * 3600
    @Option(help: "The most a job may write to /out (bytes, or with KiB/MiB/GiB); more is killed(outputLimit).")
    var maxOutput: String = "256MiB"

    func validate() throws {
        guard (try? Hash32(hex: job)) != nil else {
            throw ValidationError("--job: expected 0x + 64 hex digits, found \"\(job)\"")
        }
        guard phaseTimeout >= 1, reviewTimeout >= 1 else {
            throw ValidationError("--phase-timeout and --review-timeout: expected positive seconds")
        }
        guard let bytes = try? ByteSize.parse(maxOutput), bytes >= 4096, bytes <= 256 << 20 else {
            throw ValidationError("--max-output: expected 4KiB…256MiB, found \"\(maxOutput)\"")
        }
    }

    func run() async throws {
        let logger = ServerAssembly.logger(label: "delong.agent")
        let id = try Hash32(hex: job)
        let line = readLine(strippingNewline: true) ?? ""
        guard line.count == 64, line.allSatisfy(\.isHexDigit) else {
            FileHandle.standardError.write(
                Data(
                    "delong: agent: expected the job's agent secret on standard input (64 hex digits), found \(line.count) characters\n"
                        .utf8
                )
            )
            throw ExitCode(ExitCodes.malformedInput)
        }
        let secret = line
        let attester = try agentEvidence.makeAttester()
        var released = false
        try await PlaneClientSupport.reporting {
            let (url, trust) = try await plane.connection()
            let compute = ComputePlaneClient(url: url, trust: trust)
            let identity = try await compute.identity()
            let results = stateDir + "/results"
            let uplink = AgentUplink(client: compute, job: id, secret: secret, results: results)
            let assignment = try await uplink.assignment()
            guard assignment.operatorAddress == identity.operatorAddress else {
                throw PlaneProtocolError(.malformed, "the plane's assignment names another operator")
            }
            // Its own light client: the agent trusts the chain, not the plane, for tokens, bundles and datasets.
            let syncer = try await sync.reportingFailures { try await sync.makeSyncer(logger: logger) }
            _ = try await sync.reportingFailures { try await syncer.sync() }
            let index = syncer.index
            guard index.config.chainID == identity.chainID else {
                throw PlaneProtocolError(
                    .malformed,
                    "the plane serves chain id \(identity.chainID); this agent's chain is \(index.config.chainID)"
                )
            }
            guard let privacy = identity.privacyPlane else {
                throw PlaneProtocolError(.malformed, "the plane names no Privacy Plane")
            }
            let privacyURL = try PlaneURL(privacy)
            let pinned = try privacyPlaneCert.map { path in
                let pem = [UInt8](try InputFile.read(path, what: "Privacy Plane certificate"))
                return try TLSKeyIdentity.sha256(of: try TLSKeyIdentity.certificate(pem: pem, what: path))
            }
            let planeOptions = plane
            let runtime: JobRuntime
            do { runtime = try JobRuntime.installed() } catch {
                throw CLIFailure(exitCode: ExitCodes.systemError, message: "the job runtime: \(error)")
            }
            var deadlines = PhaseDeadlines()
            deadlines.step = .seconds(phaseTimeout)
            deadlines.review = .seconds(reviewTimeout)
            let domain = (chainID: index.config.chainID, registry: index.config.contracts.algorithmRegistry)
            var env = AgentEnvironment(
                records: index,
                tokenDomain: TokenDomain(chainID: domain.chainID, verifyingContract: domain.registry),
                jobDomain: JobDomain(chainID: domain.chainID, verifyingContract: domain.registry),
                operatorAddress: assignment.operatorAddress,
                da: DAStore(root: da),
                datasets: datasets,
                privacyPlane: {
                    if let pinned { return PrivacyPlaneClient(url: privacyURL, trust: .publicKey(sha256: pinned)) }
                    return PrivacyPlaneClient(
                        try await AttestedPlane.establish(privacyURL, appraiser: try planeOptions.appraiser())
                    )
                },
                attester: attester,
                recorder: uplink,
                sandbox: try ComputeServeCommand.sandbox(stateDir: stateDir),
                runtime: runtime,
                work: ComputeServeCommand.defaultWorkDirectory(stateDir: stateDir),
                results: results,
                plane: uplink,
                deadlines: deadlines,
                logger: logger
            )
            env.outputBytes = try ByteSize.parse(maxOutput)
            try env.prepareWork()
            let spec = assignment.spec
            let facts = try JobFacts(spec: spec, path: env.resultDirectory(id) + "/facts.json")
            let agent = JobAgent(spec: spec, env: env, control: SandboxControl(), facts: facts) { event in
                try await uplink.report(event, facts: facts.read { $0 })
            }
            logger.info("agent started", metadata: ["job": "\(spec.name)"])
            // SIGTERM (the host stops the agent: a cancel, a kill, a VM deleted) kills the sandbox first.
            signal(SIGTERM, SIG_IGN)
            let terminate = DispatchSource.makeSignalSource(signal: SIGTERM)
            terminate.setEventHandler { agent.control.kill(reason: KillReason.cancelled.rawValue) }
            terminate.resume()
            await agent.run()
            terminate.cancel()
            released = facts.read { $0.evidenceDigest != nil && $0.transaction != nil }
            env.removeWork(of: id)
        }
        if !released { throw ExitCode(1) }
    }
}
