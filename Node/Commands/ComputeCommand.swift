import ArgumentParser
import Attestation
import ChainCore
import ChainIndex
import ChainRecords
import ComputingPlane
import ComputingPlaneHTTP
import Foundation
import Hummingbird
import LightClient
import Logging
import Metrics
import PlaneCrypto
import PlaneProtocol
import PrivacyPlaneHTTP
import Sampling
import Synchronization
import UnixSignals

/// `delong compute …`: the Computing Plane.
struct ComputeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compute",
        abstract: "The Computing Plane: Secure jobs in a sandbox, gated, sealed to the consumer, recorded on chain.",
        subcommands: [ComputeServeCommand.self]
    )
}

/// `delong compute serve`: the node's verified sync plus the Computing Plane's HTTP API, in one process.
struct ComputeServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Sync the chain and run Secure jobs behind the Computing Plane's HTTP API under /v1.",
        discussion: """
            Verifies and follows the chain exactly as `node run` does, and serves the job API of docs/jobs.md: \
            POST /v1/jobs, GET /v1/jobs[?consumer=0x…], GET /v1/jobs/ID, GET /v1/jobs/ID/events, POST \
            /v1/jobs/ID/cancel, GET /v1/reviews, GET /v1/reviews/log, GET /v1/jobs/ID/review, POST \
            /v1/jobs/ID/review/output, POST /v1/jobs/ID/review/report, POST /v1/jobs/ID/review, GET|POST \
            /v1/datasets/ID/reviewers, GET /v1/jobs/ID/output, GET /v1/jobs/ID/result, GET /v1/attestation, \
            /metrics. \
            Each job's token must name this plane's operator (--operator-key) as its audience; its bundle comes \
            from the DA store (--da) as AlgorithmPublished names it, its sealed dataset from --datasets \
            DIR/<dataset id hex>/. The dataset key is leased from the Privacy Plane (--privacy-plane; its \
            attestation binding is verified before anything is sent) and renewed while the job runs; a refused \
            renewal kills the job. Every output passes the Output Gate against the dataset's sealed \
            delong-policy.json and earlier releases: clean outputs are released, certain leaks blocked, the \
            rest wait for two reviewers (the provider and its signed list; STATE/decisions.log is \
            hash-chained). Released outputs are sealed to the consumer's age recipient and recorded with AlgorithmRegistry.recordJob from the \
            operator key. The job log (STATE/jobs.log) survives restarts: jobs a killed runner left are marked \
            killed(runnerLost) and their mounts, sandboxes and cgroups swept. This local backend has no TEE: \
            its agents present INSECURE development evidence claiming --insecure-dev-measurements, or with \
            --evidence configfs-tsm the kernel's TDX quote or SEV-SNP report (/sys/kernel/config/tsm/report), \
            or with --evidence dstack[:SOCKET] a TDX quote and event log from the dstack guest agent's GetQuote \
            (without SOCKET: DSTACK_SIMULATOR_ENDPOINT, else the first of /var/run/dstack.sock, \
            /run/dstack.sock, /var/run/dstack/dstack.sock, /run/dstack/dstack.sock), which then also makes this \
            plane's own evidence. \
            Explore Mode (docs/explore.md): POST /v1/explore redeems an explore token naming this plane and \
            starts JupyterLab on the dataset's published sample (checked against its on-chain sampleLocator) \
            in the job sandbox; browsers sign in at /explore/ID/_login with a one-time ticket and reach \
            JupyterLab only through this server's proxy (HTTP and WebSocket). Prints \
            `READY https://HOST:PORT operator 0x… tls-key sha256:…` once listening. Exit codes: 0 stopped, 2 \
            malformed options, 3 unreadable file or unreachable endpoint, 4 key refused, 5 the sandbox cannot \
            run here.
            """
    )

    @OptionGroup var sync: SyncOptions
    @Option(help: "Address to serve HTTPS on, HOST:PORT.") var listen: String = "127.0.0.1:8548"
    @OptionGroup var tls: TLSOptions
    @Option(help: "Seconds between fresh quotes of the plane's own attestation (also made on SIGHUP).")
    var evidenceRefresh: Double = 600
    @Option(help: "Seconds between polls of the chain head.") var poll: Double = 2
    @Option(help: "The operator's secp256k1 key file (0600): the tokens' audience; sends recordJob.")
    var operatorKey: String
    @Option(help: "The Privacy Plane's base URL, https://HOST:PORT.") var privacyPlane: String
    @Option(
        help: "Trust only the Privacy Plane whose certificate (PEM) has this file's key, instead of its attestation."
    )
    var privacyPlaneCert: String?
    @Flag(help: "Accept the Privacy Plane's INSECURE development evidence, on the devnet only.")
    var allowInsecurePlaneEvidence = false
    @Option(help: "The content-addressed DA store (bundles in, evidence bundles out).") var da: String
    @Option(help: "Where the sealed datasets are: DIR/<dataset id, 64 hex>/.") var datasets: String
    @OptionGroup var agentEvidence: AgentEvidenceOptions
    @Option(help: "Job log, results and decisions (default: DATA_DIR/compute).") var stateDir: String?
    @Option(
        help:
            "Jobs' work directories and dataset mount points, which job uids must be able to traverse (default: /run/delong/jobs/<hash of the state directory>)."
    )
    var workDir: String?
    @Option(help: "Jobs run at once; the rest wait in the queue.") var maxConcurrent: Int = 1
    @Option(help: "Seconds a job may wait in the queue before it is killed(timeout).") var queueWait: Int64 = 600
    @Option(help: "Seconds an output may wait for review before it is rejected (default 7 days).") var reviewTimeout:
        Int64 = 7 * 86400
    @Option(help: "Seconds each preparation and finishing phase may take.") var phaseTimeout: Int64 = 120
    @Option(help: "The HOST:PORT reviewers open the review page at (its SIWE domain; default: --listen).")
    var reviewDomain: String?
    @Option(help: "The most a job may write to /out (bytes, or with KiB/MiB/GiB); more is killed(outputLimit).")
    var maxOutput: String = "256MiB"
    @Option(
        help:
            "The https://HOST:PORT browsers reach this plane at: the origin of Explore sign-in links and the Origin explore requests must carry (default: the listen address)."
    )
    var publicURL: String?
    @Option(help: "Explore sessions this plane runs at once (0: Explore Mode off).") var exploreSessions: Int = 8
    @Option(help: "Longest an Explore session may last, in seconds (it also ends with the rental).")
    var exploreMaxSeconds: Int64 = 6 * 3600
    @Option(help: "Seconds without kernel activity after which an Explore session ends.") var exploreIdle: Int64 = 1800
    @Option(help: "Seconds between an Explore session's rental and idle checks.") var explorePoll: Double = 60
    @Option(
        help:
            "Where job agents run: local (in this process), process (each its own `delong agent` child) or gce (each in its own Compute Engine Confidential VM with Intel TDX); the last two reach this plane over its agent API."
    )
    var agents: String = "local"
    @OptionGroup var gce: ComputeEngineOptions
    @Option(
        help:
            "With --agents process: a JSON object of the agents' own options (--rpc, --contracts, --checkpoint, --da, --datasets, --evidence, …), keys as long option names."
    )
    var agentOptions: String?

    func validate() throws {
        guard let listenAddress else { throw ValidationError("--listen: expected HOST:PORT, found \"\(listen)\"") }
        try tls.validate(listenHost: listenAddress.host)
        guard poll > 0 && poll <= 3600 else { throw ValidationError("--poll: expected 0 < seconds ≤ 3600") }
        guard (1...64).contains(maxConcurrent) else { throw ValidationError("--max-concurrent: expected 1…64") }
        for (name, value) in [
            ("--queue-wait", queueWait), ("--review-timeout", reviewTimeout), ("--phase-timeout", phaseTimeout),
        ]
        where value < 1 {
            throw ValidationError("\(name): expected a positive number of seconds, found \(value)")
        }
        guard let bytes = try? ByteSize.parse(maxOutput), bytes >= 4096, bytes <= 256 << 20 else {
            throw ValidationError("--max-output: expected 4KiB…256MiB, found \"\(maxOutput)\"")
        }
        do { _ = try PlaneURL(privacyPlane) } catch { throw ValidationError("--privacy-plane: \(error.reason)") }
        if let publicURL {
            guard let url = try? PlaneURL(publicURL), url.description.hasPrefix("https://") || tls.plainHTTP else {
                throw ValidationError("--public-url: expected https://HOST:PORT, found \"\(publicURL)\"")
            }
            _ = url
        }
        guard ["local", "process", "gce"].contains(agents) else {
            throw ValidationError("--agents: expected local, process or gce, found \"\(agents)\"")
        }
        guard (agents == "gce") == (gce.gceKey != nil) else {
            throw ValidationError("--gce-key: expected exactly with --agents gce")
        }
        guard (agents == "process") == (agentOptions != nil) else {
            throw ValidationError("--agent-options: expected exactly with --agents process")
        }
        guard (0...256).contains(exploreSessions) else { throw ValidationError("--explore-sessions: expected 0…256") }
        guard exploreMaxSeconds >= 60, exploreIdle >= 10, explorePoll > 0, explorePoll <= 600 else {
            throw ValidationError(
                "--explore-max-seconds ≥ 60, --explore-idle ≥ 10 and 0 < --explore-poll ≤ 600 seconds expected"
            )
        }
    }

    var listenAddress: (host: String, port: Int)? { NodeRunCommand.parseListen(listen) }

    func run() async throws {
        let logger = ServerAssembly.logger(label: "delong.compute")
        let attester = try agentEvidence.makeAttester()
        let hangups = await ServerAssembly.trapHangups()
        try await assemble(logger: logger, attester: attester, hangups: hangups, announce: ServerAssembly.printReady)
            .runAlone()
    }

    /// Syncs and builds the Computing Plane's server (`run` and `serve --one-process` share it).
    func assemble(
        logger: Logger,
        attester: any AgentAttester,
        hangups: UnixSignalsSequence,
        announce: @escaping @Sendable (String) -> Void
    ) async throws -> ServerAssembly.Server {
        let syncer = try await sync.reportingFailures { try await sync.makeSyncer(logger: logger) }
        let index = syncer.index
        let stateDir = self.stateDir ?? (sync.index.dataDir as NSString).appendingPathComponent("compute")
        let metrics = ProcessMetrics()
        let state = NodeState(metrics: metrics)
        let setup = try await PlaneClientSupport.configuring {
            () async throws -> (ComputeRoutes, TLSIdentity?, OwnEvidence, Address, ExploreAdmission) in
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
            let identity = try tls.identity(
                stateDir: stateDir,
                listenHost: listenAddress!.host,
                chainID: index.config.chainID,
                logger: logger
            )
            let key = try readKeyFile(operatorKey, what: "operator key")
            let wallet = try WalletSender(endpoint: String(sync.rpc.split(separator: ",")[0]), key: key)
            let runtime: JobRuntime
            do { runtime = try JobRuntime.installed() } catch {
                throw CLIFailure(exitCode: ExitCodes.systemError, message: "the job runtime: \(error)")
            }
            _ = try await sync.reportingFailures { try await syncer.sync() }
            await state.recordGoodPass()
            if try index.operator(wallet.address)?.authorized != true {
                logger.warning(
                    "the operator key is not an authorized Computing Plane operator on chain: tokens naming it are refused and recordJob reverts",
                    metadata: ["operator": "\(wallet.address.checksummed)"]
                )
            }
            let tokenDomain = TokenDomain(
                chainID: index.config.chainID,
                verifyingContract: index.config.contracts.algorithmRegistry
            )
            let jobDomain = JobDomain(
                chainID: index.config.chainID,
                verifyingContract: index.config.contracts.algorithmRegistry
            )
            let privacyURL = try PlaneURL(privacyPlane)
            let pinned = try privacyPlaneCert.map { path in
                let pem = [UInt8](try InputFile.read(path, what: "Privacy Plane certificate"))
                return try TLSKeyIdentity.sha256(of: try TLSKeyIdentity.certificate(pem: pem, what: path))
            }
            let appraiser = PlaneEvidencePolicy(
                allowDevelopment: allowInsecurePlaneEvidence,
                measurements: [],
                collateral: nil
            )
            var deadlines = PhaseDeadlines()
            deadlines.queue = .seconds(queueWait)
            deadlines.review = .seconds(reviewTimeout)
            deadlines.step = .seconds(phaseTimeout)
            let desk = try ReviewDesk(
                domain: jobDomain,
                logPath: stateDir + "/decisions.log",
                reviewersDirectory: stateDir + "/reviewers"
            )
            var env = AgentEnvironment(
                records: index,
                tokenDomain: tokenDomain,
                jobDomain: jobDomain,
                operatorAddress: wallet.address,
                da: DAStore(root: da),
                datasets: datasets,
                privacyPlane: {
                    if let pinned { return PrivacyPlaneClient(url: privacyURL, trust: .publicKey(sha256: pinned)) }
                    return PrivacyPlaneClient(try await AttestedPlane.establish(privacyURL, appraiser: appraiser))
                },
                attester: attester,
                recorder: OperatorRecorder(
                    wallet: wallet,
                    registry: index.config.contracts.algorithmRegistry,
                    chainID: U256(index.config.chainID)
                ),
                sandbox: try Self.sandbox(stateDir: stateDir),
                runtime: runtime,
                work: workDir ?? Self.defaultWorkDirectory(stateDir: stateDir),
                results: stateDir + "/results",
                plane: LocalAgentPlane(desk: desk, results: stateDir + "/results"),
                deadlines: deadlines,
                logger: logger
            )
            env.outputBytes = try ByteSize.parse(maxOutput)
            let plane = try ComputePlane(
                env: env,
                desk: desk,
                state: stateDir,
                maxConcurrent: maxConcurrent,
                host: try agentHost(stateDir: stateDir, logger: logger),
                metrics: metrics.factory
            )
            let ownEvidence = OwnEvidence(
                signer: wallet.address,
                tls: identity,
                producer: (attester as? DstackAttester).map { .dstack($0.agent) } ?? .development,
                logger: logger
            )
            let routes = ComputeRoutes(
                plane: plane,
                ownEvidence: { ownEvidence.document },
                privacyPlane: privacyPlane,
                logger: logger
            )
            let admission = try ExploreAdmission(
                records: index,
                tokenDomain: tokenDomain,
                operatorAddress: wallet.address,
                da: DAStore(root: da),
                samples: stateDir + "/samples",
                sampleKeys: AttestedSampleKeys(
                    privacyPlane: env.privacyPlane,
                    attester: attester,
                    tokenDomain: tokenDomain
                )
            )
            return (routes, identity, ownEvidence, wallet.address, admission)
        }
        if attester is DevelopmentAttester {
            logger.warning("INSECURE development evidence: this local backend runs outside a TEE")
        } else {
            logger.info("agents' evidence", metadata: ["evidence": "\(attester.kind)"])
        }
        let router = Router(context: PlaneRequestContext.self)
        let routes = setup.0
        let explore = try exploreManager(admission: setup.4, stateDir: stateDir, logger: logger)
        NodeRoutes(
            index: index,
            state: state,
            freshness: nil,
            maxRows: 1000,
            collectMetrics: {
                routes.recordGauges(metrics: metrics.factory)
                Meter(label: "delong_explore_sessions_open", factory: metrics.factory).set(await explore.openSessions)
            }
        )
        .addRoutes(to: router) { _, _ in nil }
        setup.0.addRoutes(to: router)
        try ReviewUI(
            routes: routes,
            domain: reviewDomain ?? (listenAddress!.port == 0 ? nil : listen),
            nonceLog: stateDir + "/review-nonces.log"
        ).add(to: router)
        let ownEvidence = setup.2
        let scheme = setup.1 == nil ? "http" : "https"
        let bound = Mutex<String?>(publicURL)
        let origin: @Sendable () -> String = { bound.withLock { $0 } ?? "\(scheme)://\(listen)" }
        let tickets = ExploreTickets()
        let webSockets = Router(context: ExploreWebSocketContext.self)
        ExploreRoutes.add(
            to: router,
            webSocketRouter: webSockets,
            sessions: explore,
            tickets: tickets,
            origin: origin,
            logger: logger
        )
        ExploreAPIRoutes(
            admission: setup.4,
            manager: explore,
            tickets: tickets,
            enabled: exploreSessions > 0,
            origin: origin,
            errors: routes,
            logger: logger
        ).addRoutes(to: router)
        // Explore sessions end with the plane (SIGTERM or a failure): no Lab, mount or cgroup outlives it.
        do {
            return try ServerAssembly.server(
                router: router.buildResponder(),
                http1: ExploreRoutes.serverBuilder(webSocketRouter: webSockets),
                address: listenAddress!,
                tls: setup.1,
                serverName: "delong-compute",
                services: ServerAssembly.planeServices(
                    evidence: ownEvidence,
                    every: evidenceRefresh,
                    syncer: syncer,
                    state: state,
                    poll: poll,
                    freshness: nil,
                    logger: logger
                ),
                readySuffix: " operator \(setup.3.checksummed)",
                onBound: { port in
                    let host = listenAddress!.host.contains(":") ? "[\(listenAddress!.host)]" : listenAddress!.host
                    bound.withLock { $0 = $0 ?? "\(scheme)://\(host):\(port)" }
                    // Agents out of process reach the agent API here (a wildcard listener on loopback).
                    let agentHost = ["0.0.0.0", "[::]"].contains(host) ? "127.0.0.1" : host
                    let agentURL = publicURL ?? "\(scheme)://\(agentHost):\(port)"
                    Task { await routes.plane.remote?.serve(at: agentURL) }
                },
                hangups: hangups,
                onHangup: [{ ownEvidence.refresh() }],
                announce: announce,
                afterStop: { await explore.shutdown() },
                logger: logger
            )
        } catch {
            await explore.shutdown()
            throw error
        }
    }
}

extension ComputeServeCommand {
    /// With --agents process, the host that starts each job's `delong agent` child: its options from
    /// --agent-options, and this plane's trust (its certificate pinned, or plain HTTP on loopback) so the
    /// agent reaches this plane's agent API and no other. Nil with --agents local.
    func agentHost(stateDir: String, logger: Logger) throws -> (any AgentHost)? {
        if agents == "gce" { return try gce.host(logger: logger) }
        guard agents == "process", let agentOptions else { return nil }
        let data = try InputFile.read(agentOptions, what: "agent options", limit: 1 << 20)
        guard let object = try? JSONDecoder().decode(JSONValue.self, from: data), object.object != nil else {
            throw CLIFailure.malformed("--agent-options \(agentOptions): expected a JSON object of options")
        }
        var options = try ServePlan.options(object, at: "agent options", file: agentOptions)
        if tls.plainHTTP {
            options.append("--plain-http")
        } else {
            options += ["--plane-cert", tls.tlsCert ?? (stateDir as NSString).appendingPathComponent("tls/cert.pem")]
        }
        return ProcessAgentHost(
            executable: try SandboxRunCommand.ownExecutable(),
            options: options,
            root: stateDir + "/agents",
            logger: logger
        )
    }

    /// Explore sessions in this plane's sandbox, named after it (its restart sweeps only its own), ended with
    /// the rental as this plane's index sees it, and their notebooks checked against the sample's index.
    func exploreManager(admission: ExploreAdmission, stateDir: String, logger: Logger) throws -> ExploreManager {
        var configuration = ExploreConfiguration(stubExecutable: try SandboxRunCommand.ownExecutable())
        let tag = Self.planeTag(stateDir: stateDir)
        configuration.namePrefix = tag + "-"
        configuration.stateDirectory = "/run/delong/explore/" + tag
        configuration.maxSessions = exploreSessions
        configuration.maxSession = .seconds(exploreMaxSeconds)
        configuration.idleLimit = .seconds(exploreIdle)
        configuration.pollInterval = .milliseconds(Int64(explorePoll * 1000))
        configuration.rentalActive = { consumer, dataset in admission.rentalActive(consumer: consumer, dataset: dataset)
        }
        configuration.gateIndex = { (_: Hash32, sample: String) throws(ComputingPlaneError) -> DatasetIndex in
            try SampleGateIndex.build(sample: sample)
        }
        return ExploreManager(configuration: configuration, logger: logger)
    }

    /// /run/delong/jobs/<16 hex of sha256(state directory)>: reachable by job uids wherever the state lives
    /// (a mktemp directory is 0700), and one per plane, so a restart sweeps only its own.
    static func defaultWorkDirectory(stateDir: String) -> String { "/run/delong/jobs/" + planeTag(stateDir: stateDir) }

    /// 16 hex digits of sha256(absolute state directory): names this plane's work and sandboxes on the host.
    static func planeTag(stateDir: String) -> String {
        let absolute = URL(fileURLWithPath: stateDir).standardizedFileURL.path
        return Hex.encode(Array(Digest.sha256(Array(absolute.utf8)).prefix(8)), prefix: false)
    }

    /// The sandbox runner, its jobs named after this plane so its restart sweep touches only its own.
    static func sandbox(stateDir: String) throws -> SandboxRunner {
        var runner = SandboxRunner(stubExecutable: try SandboxRunCommand.ownExecutable())
        runner.namePrefix = planeTag(stateDir: stateDir) + "-"
        return runner
    }
}

/// recordJob from the operator's wallet, one transaction at a time (the nonce is read per send).
actor OperatorRecorder: JobRecorder {
    let wallet: WalletSender
    let registry: Address
    let chainID: U256

    init(wallet: WalletSender, registry: Address, chainID: U256) {
        self.wallet = wallet
        self.registry = registry
        self.chainID = chainID
    }

    func recordJob(
        job: Hash32,
        dataset: Hash32,
        consumer: Address,
        imageDigest: Hash32,
        outputDigest: Hash32,
        attestationDigest: Hash32
    ) async throws -> String {
        let selector = Keccak256.hash(
            Array("recordJob(bytes32,bytes32,address,bytes32,bytes32,bytes32)".utf8)
        ).bytes.prefix(4)
        let arguments = try ABI.encode(
            [.fixedBytes(32), .fixedBytes(32), .address, .fixedBytes(32), .fixedBytes(32), .fixedBytes(32)],
            [
                .fixedBytes(job.bytes), .fixedBytes(dataset.bytes), .address(consumer), .fixedBytes(imageDigest.bytes),
                .fixedBytes(outputDigest.bytes), .fixedBytes(attestationDigest.bytes),
            ]
        )
        return try await wallet.send(
            to: registry,
            data: selector + arguments,
            expectedChainID: chainID,
            wait: .seconds(120)
        )
        .hash
    }
}
