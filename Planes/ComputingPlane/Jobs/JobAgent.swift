public import ChainCore
public import ChainRecords
import DecryptFS
import Foundation
public import Logging
import PlaneCrypto
public import PlaneProtocol
import Sealing

#if canImport(Glibc)
import Glibc
#endif

/// Records `recordJob` on chain with the operator's key (the node's wallet code implements it).
public protocol JobRecorder: Sendable {
    /// Sends AlgorithmRegistry.recordJob and waits for its receipt; returns the transaction hash.
    func recordJob(
        job: Hash32,
        dataset: Hash32,
        consumer: Address,
        imageDigest: Hash32,
        outputDigest: Hash32,
        attestationDigest: Hash32
    ) async throws -> String
}

/// Everything an agent needs from the plane around it.
public struct AgentEnvironment: Sendable {
    /// The verified index (the plane's own light client).
    public var records: any RecordReader
    public var tokenDomain: TokenDomain
    public var jobDomain: JobDomain
    /// This plane's operator address: the audience every token must name.
    public var operatorAddress: Address
    /// Where published bundles are (the DA store) and where evidence bundles go.
    public var da: DAStore
    /// Sealed datasets: `<datasets>/<dataset id hex without 0x>/`.
    public var datasets: String
    /// A Privacy Plane client whose attested TLS binding was checked (made per job, so a rotated plane key is
    /// re-verified).
    public var privacyPlane: @Sendable () async throws -> PrivacyPlaneClient
    public var attester: any AgentAttester
    public var recorder: any JobRecorder
    public var sandbox: SandboxRunner
    public var runtime: JobRuntime
    /// Per-job work directories (mount points); results stay under `results`.
    public var work: String
    public var results: String
    /// The review desk and earlier releases: the plane's own, or reached over its agent API.
    public var plane: any AgentPlane
    public var deadlines: PhaseDeadlines
    /// The cap on a job's /out (bytes); a job that fills it is killed(outputLimit).
    public var outputBytes: UInt64 = 256 << 20
    public var logger: Logger

    /// Creates the work root, reachable by job uids (an agent in its own process calls this first).
    public func prepareWork() throws { try JobWorkspace.prepareRoot(work) }

    /// Removes what `id` left under the work root (its mount point and home).
    public func removeWork(of id: Hash32) { JobWorkspace.remove(work + "/" + Hex.encode(id.bytes, prefix: false)) }

    /// Where a job's sealed output, facts and record stay.
    public func resultDirectory(_ id: Hash32) -> String { results + "/" + Hex.encode(id.bytes, prefix: false) }

    public init(
        records: any RecordReader,
        tokenDomain: TokenDomain,
        jobDomain: JobDomain,
        operatorAddress: Address,
        da: DAStore,
        datasets: String,
        privacyPlane: @escaping @Sendable () async throws -> PrivacyPlaneClient,
        attester: any AgentAttester,
        recorder: any JobRecorder,
        sandbox: SandboxRunner,
        runtime: JobRuntime,
        work: String,
        results: String,
        plane: any AgentPlane,
        deadlines: PhaseDeadlines,
        logger: Logger
    ) {
        self.records = records
        self.tokenDomain = tokenDomain
        self.jobDomain = jobDomain
        self.operatorAddress = operatorAddress
        self.da = da
        self.datasets = datasets
        self.privacyPlane = privacyPlane
        self.attester = attester
        self.recorder = recorder
        self.sandbox = sandbox
        self.runtime = runtime
        self.work = work
        self.results = results
        self.plane = plane
        self.deadlines = deadlines
        self.logger = logger
    }
}

/// How long each phase may take: no job is ever stuck (design §1, "stuck jobs"). Execution is bounded by the
/// job's own timeout; review by `review`; every other phase by `step`.
public struct PhaseDeadlines: Sendable {
    public var queue: Duration = .seconds(600)
    public var step: Duration = .seconds(120)
    public var review: Duration = .seconds(7 * 24 * 3600)
    public var publish: Duration = .seconds(300)
    public init() {}
}

/// Why the agent stopped before the job was released: each maps to one terminal event.
enum AgentStop: Error {
    case refused(RefusalReason, String)
    case killed(KillReason)
    case exited(Int32)
    case failed(String)
    /// The job already ended (cancelled or killed from outside): record nothing more.
    case ended
}

/// One Secure job, start to end (design §7): verify the token → fetch and check the bundle → attest
/// (REPORTDATA binds the agent's keys, the token and the image) → lease the dataset key → mount the Decrypt
/// FUSE for the job's uid alone → run the sandbox while the lease is renewed → collect → gate → review → seal
/// to the consumer → sign the result record → evidence bundle to the DA store → recordJob → wipe.
/// `report` records each event in the durable job log before the agent acts on it, and says where the job is
/// now; a job ended from outside (a cancel) stops the agent at its next step.
public struct JobAgent: Sendable {
    public let spec: JobSpec
    public let env: AgentEnvironment
    public let control: SandboxControl
    public let facts: JobFacts
    let report: @Sendable (JobEvent) async throws -> JobState
    /// Called once the job's processes are gone: the execution slot is free for the next job while this one
    /// waits for review.
    var executionDone: @Sendable () async -> Void = {}

    public init(
        spec: JobSpec,
        env: AgentEnvironment,
        control: SandboxControl,
        facts: JobFacts,
        report: @escaping @Sendable (JobEvent) async throws -> JobState
    ) {
        self.spec = spec
        self.env = env
        self.control = control
        self.facts = facts
        self.report = report
    }

    var logger: Logger {
        var l = env.logger
        l[metadataKey: "job"] = "\(spec.name)"
        return l
    }

    /// Runs the job to its end; every outcome is in the job log when this returns.
    public func run() async {
        let stop: AgentStop
        do {
            try await pipeline()
            return
        } catch let error as AgentStop {
            stop = error
        } catch is CancellationError {
            stop = .ended
        } catch {
            stop = .failed("\(error)")
        }
        let event: JobEvent
        switch stop {
        case .refused(let reason, let detail): event = .refused(reason, detail: detail)
        case .killed(let reason): event = .killed(reason)
        case .exited(let code): event = .exited(code: code)
        case .failed(let message): event = .failed(message)
        case .ended: return
        }
        logger.info("job ended", metadata: ["event": "\(event)"])
        _ = try? await report(event)
    }

    /// Records `event`; stops when the job has ended meanwhile.
    func step(_ event: JobEvent) async throws {
        let state: JobState
        do { state = try await report(event) } catch { throw AgentStop.failed("the job log: \(error)") }
        if state.isFinished, event != .published { throw AgentStop.ended }
        if Task.isCancelled { throw AgentStop.ended }
    }

    func pipeline() async throws {
        let home = env.work + "/" + String(spec.name.dropFirst(2))
        try await step(.advanced(to: .provisioning))
        try JobWorkspace.create(home)

        try await step(.advanced(to: .fetching))
        let token = try checkToken()
        let (bundle, runtimeDigest) = try await fetchBundle(token: token.token)
        let dataset = try checkDataset(token.token)

        try await step(.advanced(to: .attesting))
        let identity: AgentIdentity
        let attested: AgentEvidence
        do {
            identity = try AgentIdentity()
            attested = try env.attester.attest(reportData: identity.reportData(token: token))
        } catch {
            throw AgentStop.refused(.attestation, "the agent could not attest: \(error)")
        }
        facts.update { $0.agentSigner = identity.signer.checksummed }

        try await step(.advanced(to: .awaitingKey))
        let (client, release) = try await within(env.deadlines.step, .awaitingKey) {
            try await self.leaseKey(token: token, identity: identity, evidence: attested.bytes)
        }
        let key: SecretBytes
        do {
            guard
                let unwrapped = try KeyWrap.unwrap(
                    release.wrapped,
                    recipient: identity.exchange,
                    chainID: env.tokenDomain.chainID
                )
            else { throw AgentStop.refused(.attestation, "the wrapped dataset key did not authenticate") }
            key = unwrapped
        } catch let stop as AgentStop { throw stop } catch {
            throw AgentStop.failed("cannot unwrap the dataset key: \(error)")
        }

        let execution = try await execute(
            bundle: bundle,
            dataset: dataset,
            key: key,
            home: home,
            lease: release.lease,
            client: client,
            identity: identity
        )

        // Collected: the gate and review see the package; nothing leaves without a decision.
        let package: OutputPackage
        do { package = try OutputPackage(outputs: home + "/out", log: execution.log) } catch {
            throw AgentStop.killed(.outputLimit)
        }
        facts.update {
            $0.outputDigest = package.digest.hex
            $0.files = package.files.map { JobFacts.File(path: $0.path, size: $0.size, sha256: $0.sha256.hex) }
            $0.rejectedOutputs = execution.rejected.count
        }
        try await step(.advanced(to: .gating))
        var report = gate(package, dataset: dataset, key: key, history: try await history(token.token.dataset))
        // What the sandbox dropped (a link, a device) never leaves, but a reviewer sees that the job tried.
        if !execution.rejected.isEmpty {
            report = GateReport(
                files: report.files
                    + execution.rejected.map {
                        GateFileVerdict(
                            path: "out/" + $0.path,
                            findings: [
                                GateFinding(
                                    check: "dropped",
                                    severity: .likely,
                                    where: "file",
                                    detail: "dropped from /out by the sandbox (\($0.reason)); never released"
                                )
                            ]
                        )
                    }
            )
        }
        let gate = GateDocument(package: package, report: report, rejected: execution.rejected)
        do { try await env.plane.recordGate(job: spec.id, verdict: gate.verdict, gateDigest: gate.digest) } catch {
            throw AgentStop.failed("the decision log: \(error)")
        }
        try await step(.gated(gate.verdict))
        // Blocked: the job has ended (the consumer sees the outcome, never the findings, which would say
        // which of its values are the dataset's).
        if gate.verdict == .block { return }

        var decisions: [SignedReviewDecision] = []
        var reviewerList: SignedReviewerList?
        if gate.verdict == .review {
            let provider = try datasetProvider(token.token.dataset)
            let panel: ReviewDesk.Panel
            do {
                panel = try await env.plane.panel(
                    dataset: token.token.dataset,
                    provider: provider,
                    consumer: token.token.consumer
                )
            } catch { throw AgentStop.failed("the review panel: \(error)") }
            facts.update {
                $0.reviewer = provider.checksummed
                $0.reviewers = panel.reviewers.map(\.checksummed)
                $0.reviewRequired = panel.required
                $0.reviewSummary = panel.shortfall
            }
            let outcome: ReviewDesk.Outcome?
            do {
                outcome = try await env.plane.review(
                    job: spec.id,
                    dataset: token.token.dataset,
                    consumer: token.token.consumer,
                    provider: provider,
                    output: package,
                    report: report,
                    deadline: env.deadlines.review
                )
            } catch { throw AgentStop.failed("the review: \(error)") }
            guard let outcome, !Task.isCancelled else { throw AgentStop.ended }
            facts.update {
                $0.reviews = outcome.decisions.map { JobFacts.text($0.json) }
                $0.reviewSummary = outcome.summary
            }
            guard outcome.approved else {
                try await step(.reviewed(approved: false))
                return
            }
            try await step(.reviewed(approved: true))
            decisions = outcome.decisions
            reviewerList = outcome.list
        }
        let approved = decisions
        let list = reviewerList

        let recipient = spec.request.request.outputRecipient
        let sealed: [UInt8]
        do { sealed = try package.seal(to: recipient) } catch { throw AgentStop.failed("sealing the output: \(error)") }
        try await step(.advanced(to: .publishing))
        try await within(env.deadlines.publish, .publishing) {
            try await self.publish(
                token: token,
                runtimeDigest: runtimeDigest,
                package: package,
                sealed: sealed,
                gate: gate,
                decisions: approved,
                reviewerList: list,
                identity: identity,
                evidence: attested,
                receipt: release.receipt
            )
        }
        try await step(.published)
    }

    // MARK: Checks before anything runs

    /// The token: the Privacy Plane's signature (the on-chain signer) and window, Secure mode, this plane
    /// as its audience, and the consumer's request for the same job, dataset, image and token.
    func checkToken() throws -> VerifiedAccessToken {
        let signer: Address
        do {
            guard let named = try env.records.privacySigner() else {
                throw AgentStop.refused(.token, "AlgorithmRegistry names no privacy signer in the verified index")
            }
            signer = named.address
        } catch let stop as AgentStop { throw stop } catch {
            throw AgentStop.failed("the index: \(error)")
        }
        // The Privacy Plane stamps notBefore with its own clock (the verified head's time when that runs ahead of
        // the wall clock); a token up to 60 s early is judged at its notBefore, as that plane would.
        let now = max(chainNow(), min(spec.token.token.notBefore, chainNow() + 60))
        let verified: VerifiedAccessToken
        switch TokenVerifier(domain: env.tokenDomain, signer: signer).verify(spec.token, now: now) {
        case .rejected(let why): throw AgentStop.refused(.token, "the access token: \(why)")
        case .verified(let v): verified = v
        }
        let token = verified.token
        let request = spec.request.request
        guard token.mode == .secure else {
            throw AgentStop.refused(
                .token,
                "the token is for \(token.mode.name) mode; a Secure job needs a secure token"
            )
        }
        guard token.audience == env.operatorAddress else {
            throw AgentStop.refused(
                .token,
                "the token is for the Computing Plane \(token.audience.checksummed), not this one (\(env.operatorAddress.checksummed))"
            )
        }
        let pairs: [(String, Hash32, Hash32)] = [
            ("job id", request.jobID, token.jobID), ("dataset", request.dataset, token.dataset),
            ("image digest", request.imageDigest, token.imageDigest),
            ("token hash", request.tokenHash, verified.signingHash),
        ]
        for (what, requested, inToken) in pairs where requested != inToken {
            throw AgentStop.refused(.token, "the request names \(what) \(requested.hex), the token \(inToken.hex)")
        }
        guard request.plane == env.operatorAddress else {
            throw AgentStop.refused(
                .token,
                "the request is for the Computing Plane \(request.plane.checksummed), not this one"
            )
        }
        return verified
    }

    /// The bundle the verified index publishes for the token's image: its bytes from the DA store under the
    /// recorded bundle digest, and the image digest recomputed from the locator's runtime and that bundle.
    func fetchBundle(token: AccessToken) async throws -> (AlgorithmBundle, Hash32) {
        let record: AlgorithmRecord
        do {
            // The Privacy Plane saw the record final before it signed the token; this plane's own light client
            // may be a poll behind, so a missing record is looked for again for a few seconds.
            var found = try env.records.algorithm(token.imageDigest)
            for _ in 0..<40 where found == nil {
                try await Task.sleep(for: .milliseconds(250))
                found = try env.records.algorithm(token.imageDigest)
            }
            guard let found else {
                throw AgentStop.refused(
                    .imageDigest,
                    "no AlgorithmPublished for image digest \(token.imageDigest.hex) in the verified index"
                )
            }
            record = found
        } catch let stop as AgentStop { throw stop } catch { throw AgentStop.failed("the index: \(error)") }
        let locator: DALocator
        do {
            locator = try DALocator.check(
                imageDigest: token.imageDigest,
                bundleDigest: record.bundleDigest,
                locator: record.daLocatorText.bytes
            )
        } catch {
            throw AgentStop.refused(.imageDigest, "the published record of \(token.imageDigest.hex): \(error.reason)")
        }
        guard let installed = env.runtime.digest, installed == locator.runtime else {
            throw AgentStop.refused(
                .imageDigest,
                "the algorithm was published for runtime \(BundleDigest.text(locator.runtime)); this plane runs \(env.runtime.label)"
            )
        }
        let bundle: AlgorithmBundle
        do {
            bundle = try AlgorithmBundle.verified(archive: try env.da.get(record.bundleDigest))
        } catch {
            throw AgentStop.refused(
                .bundleDigest,
                "expected the bundle \(BundleDigest.text(record.bundleDigest)) in the DA store: \(error.reason)"
            )
        }
        guard bundle.digest == record.bundleDigest else {
            throw AgentStop.refused(
                .bundleDigest,
                "expected bundle digest \(BundleDigest.text(record.bundleDigest)), found \(BundleDigest.text(bundle.digest))"
            )
        }
        let image = ImageDigest.of(runtime: locator.runtime, bundle: bundle.digest)
        guard image == token.imageDigest else {
            throw AgentStop.refused(
                .imageDigest,
                "expected image digest \(token.imageDigest.hex), the bundle and runtime make \(image.hex)"
            )
        }
        facts.update {
            $0.bundleDigest = BundleDigest.text(bundle.digest)
            $0.runtimeDigest = BundleDigest.text(locator.runtime)
        }
        return (bundle, locator.runtime)
    }

    /// The sealed dataset at its place, opened lazily later; the rental must be active in the index (the
    /// Privacy Plane decides again, on final records, before it releases anything).
    func checkDataset(_ token: AccessToken) throws -> String {
        do {
            guard let record = try env.records.dataset(token.dataset), !record.retired else {
                throw AgentStop.refused(.rental, "dataset \(token.dataset.hex) is not registered, or retired")
            }
            guard let rental = try env.records.rental(dataset: token.dataset, consumer: token.consumer),
                rental.status == .active, rental.expiresAt > chainNow()
            else {
                throw AgentStop.refused(
                    .rental,
                    "\(token.consumer.checksummed) has no active rental of \(token.dataset.hex) in the verified index"
                )
            }
            let path = env.datasets + "/" + Hex.encode(token.dataset.bytes, prefix: false)
            guard FileManager.default.fileExists(atPath: path + "/" + SealedFormat.manifestFileName) else {
                throw AgentStop.failed("this plane holds no sealed copy of dataset \(token.dataset.hex)")
            }
            facts.update { $0.manifestDigest = record.manifestDigest.hex }
            return path
        } catch let stop as AgentStop { throw stop } catch { throw AgentStop.failed("the index: \(error)") }
    }

    /// The time tokens and rentals are judged at, as the Privacy Plane judges them: the wall clock, or the
    /// verified head's time when that is ahead (a chain whose clock runs early), by at most 60 s.
    func chainNow() -> UInt64 { PlaneClock.now(env.records) }

    func datasetProvider(_ dataset: Hash32) throws -> Address {
        do {
            guard let record = try env.records.dataset(dataset) else {
                throw AgentStop.failed("dataset \(dataset.hex) vanished from the index")
            }
            return record.provider
        } catch let stop as AgentStop { throw stop } catch { throw AgentStop.failed("the index: \(error)") }
    }

    // MARK: The key lease

    func leaseKey(
        token: VerifiedAccessToken,
        identity: AgentIdentity,
        evidence: [UInt8]
    ) async throws -> (PrivacyPlaneClient, KeyReleaseResponse) {
        let client: PrivacyPlaneClient
        do { client = try await env.privacyPlane() } catch {
            throw AgentStop.failed("the Privacy Plane is not reachable or not trusted: \(error)")
        }
        do {
            let response = try await client.releaseKey(
                KeyReleaseRequest(
                    token: spec.token,
                    evidence: evidence,
                    sandboxKey: identity.exchange.publicKey,
                    agentSigner: identity.signer
                )
            )
            return (client, response)
        } catch {
            throw Self.refusal(error)
        }
    }

    /// A Privacy Plane refusal as the job's outcome: the check that failed names it.
    static func refusal(_ error: PlaneProtocolError) -> AgentStop {
        guard let (status, envelope) = error.refusal else {
            return .failed("the Privacy Plane: \(error.reason)")
        }
        let detail = "the Privacy Plane refused the key (HTTP \(status) \(envelope.code)): \(envelope.message)"
        switch envelope.code {
        case "rental_inactive", "unknown_dataset": return .refused(.rental, detail)
        case "attestation_refused", "binding_mismatch": return .refused(.attestation, detail)
        case "token_refused", "token_already_used", "audience_refused": return .refused(.token, detail)
        case "algorithm_not_published": return .refused(.imageDigest, detail)
        default: return .failed(detail)
        }
    }

    // MARK: Execution

    struct Execution {
        var log: [UInt8]
        var rejected: [SandboxResult.Rejected]
    }

    /// Mounts the dataset for the job's uid alone, runs the sandbox while a keeper renews the lease, and
    /// drops the key when the job's processes are gone (or at once, when the lease is refused).
    func execute(
        bundle: AlgorithmBundle,
        dataset: String,
        key: SecretBytes,
        home: String,
        lease: KeyLease,
        client: PrivacyPlaneClient,
        identity: AgentIdentity
    ) async throws -> Execution {
        let mountpoint = home + "/data"
        let fuse = FuseHolder(logger: logger)
        let limits = spec.request.request.limits
        var job = SandboxJob(
            bundle: bundle,
            data: mountpoint,
            runtime: env.runtime,
            limits: CgroupLimits(
                memoryBytes: limits.memoryBytes,
                pids: 256,
                cpus: Double(limits.cpus)
            ),
            timeout: .seconds(Int64(limits.timeoutSeconds))
        )
        job.control = control
        job.outBytes = env.outputBytes
        job.checkDataReadable = false
        let expectedManifest = self.expectedManifest
        job.beforeLaunch = { uid throws(ComputingPlaneError) in
            do {
                try DecryptFSMount.createJobMountDirectory(mountpoint, uid: uid)
                let sealed = try SealedDataset(
                    root: dataset,
                    keySource: InMemoryKeySource(key: key),
                    expectedManifestDigest: expectedManifest?.bytes
                )
                try fuse.start(
                    DecryptFSMount(
                        dataset: sealed,
                        mountpoint: mountpoint,
                        options: .init(allowedUID: uid, hidden: [Self.policyName]),
                        logger: logger
                    )
                )
            } catch let error as ComputingPlaneError {
                throw error
            } catch {
                throw ComputingPlaneError(.sandboxFailure, "cannot mount the sealed dataset: \(error)")
            }
        }
        try await step(.advanced(to: .executing))
        let keeper = LeaseKeeper(
            lease: lease,
            client: client,
            identity: identity,
            logger: logger,
            onLoss: { why in
                fuse.revoke()
                control.kill(reason: KillReason.revoked.rawValue)
                logger.warning("key lease lost: the job is killed", metadata: ["why": "\(why)"])
                facts.update { $0.revocation = why }
            }
        )
        let keeping = Task { await keeper.keep() }
        let logBuffer = LogBuffer()
        let outputs = home + "/out"
        let prepared = job
        let result: SandboxResult
        do {
            result = try await Self.detached {
                try FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: false)
                return try env.sandbox.run(prepared, outputDirectory: outputs) { logBuffer.append($0) }
            }
        } catch {
            keeping.cancel()
            fuse.stop()
            if control.killReason == KillReason.revoked.rawValue { throw AgentStop.killed(.revoked) }
            throw AgentStop.failed("the sandbox: \(error)")
        }
        keeping.cancel()
        fuse.stop()
        await executionDone()
        facts.update {
            $0.resources = JobFacts.Resources(
                wallSeconds: result.wallSeconds,
                cpuSeconds: result.cpuSeconds,
                peakMemoryBytes: result.peakMemoryBytes
            )
        }
        if result.outcome == .killed {
            throw AgentStop.killed(KillReason(rawValue: result.reason ?? "") ?? .timeout)
        }
        if let reason = result.reason, let kill = KillReason(rawValue: reason) { throw AgentStop.killed(kill) }
        let code = result.exitCode ?? -1
        if code != 0 {
            let failure = FailureSummary.of(log: logBuffer.bytes, sources: Self.sourceLines(bundle))
            facts.update { $0.failure = failure }
        }
        try await step(.exited(code: code))
        if code != 0 { throw AgentStop.ended }
        return Execution(log: logBuffer.bytes, rejected: result.rejected)
    }

    // MARK: Publishing

    func publish(
        token: VerifiedAccessToken,
        runtimeDigest: Hash32,
        package: OutputPackage,
        sealed: [UInt8],
        gate: GateDocument,
        decisions: [SignedReviewDecision],
        reviewerList: SignedReviewerList?,
        identity: AgentIdentity,
        evidence: AgentEvidence,
        receipt: SignedReceipt
    ) async throws {
        let cipherDigest = BundleDigest.of(sealed)
        // The decision log's head after this job's last entry: a log cut or rewritten later lacks it.
        let log = try await env.plane.decisions(of: spec.id)
        let record = try ResultRecord(
            jobID: spec.id,
            dataset: token.token.dataset,
            consumer: token.token.consumer,
            imageDigest: token.token.imageDigest,
            runtimeDigest: runtimeDigest,
            outcome: "released",
            gateDigest: gate.digest,
            reviewDigest: log.last?.hash ?? .zero,
            outputSha256: package.digest,
            cipherSha256: cipherDigest,
            finishedAt: UInt64(Date().timeIntervalSince1970)
        )
        let signed = try identity.withSigningKey {
            try SignedResultRecord(signing: record, domain: env.jobDomain, privateKey: $0)
        }
        let bundle = EvidenceBundle(
            spec: spec,
            attesterKind: env.attester.kind,
            evidence: evidence.bytes,
            eventLog: evidence.eventLog,
            reportData: identity.reportData(token: token),
            exchangeKey: identity.exchange.publicKey,
            agentSigner: identity.signer,
            receipt: receipt,
            gate: gate,
            decisions: decisions,
            reviewerList: reviewerList,
            log: log,
            result: signed
        )
        let encoded = try bundle.encoded()
        let attestationDigest = try env.da.put(encoded)
        let directory = env.resultDirectory(spec.id)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try DAStore.writeAtomically(sealed, to: directory + "/output.age")
        try await env.plane.remember(package.archive, job: spec.id, dataset: token.token.dataset)
        let transaction = try await env.recorder.recordJob(
            job: spec.id,
            dataset: token.token.dataset,
            consumer: token.token.consumer,
            imageDigest: token.token.imageDigest,
            outputDigest: cipherDigest,
            attestationDigest: attestationDigest
        )
        facts.update {
            $0.cipherDigest = cipherDigest.hex
            $0.evidenceDigest = attestationDigest.hex
            $0.transaction = transaction
            $0.result = JobFacts.text(signed.json)
        }
    }

    // MARK: Helpers

    /// The bundle's files and their line counts (what a failure summary may point at).
    static func sourceLines(_ bundle: AlgorithmBundle) -> [String: Int] {
        var lines: [String: Int] = [:]
        for entry in bundle.entries {
            guard let contents = entry.contents else { continue }
            lines[entry.displayPath] = contents.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
        }
        return lines
    }

    /// Runs `body` with a deadline: past it, the phase fails (no phase is ever stuck).
    func within<T: Sendable>(
        _ limit: Duration,
        _ phase: JobPhase,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw AgentStop.failed(
                    "\(phase.rawValue) took longer than its deadline of \(limit.components.seconds) s"
                )
            }
            return value
        }
    }

    /// Runs blocking work (the sandbox, FUSE setup) on its own thread, off the cooperative pool.
    static func detached<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}

/// A job's stdout and stderr as the sandbox streams them from the runner's thread (already capped).
final class LogBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [UInt8] = []
    func append(_ chunk: [UInt8]) { lock.withLock { storage += chunk } }
    var bytes: [UInt8] { lock.withLock { storage } }
    var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// Per-job work directories: created 0711 so the job uid can reach its own mount point, removed whole.
enum JobWorkspace {
    /// Creates `root` (missing parents 0711) and checks that every directory on the way lets others through:
    /// a job uid must reach its mount point, or bubblewrap cannot bind it at /data.
    static func prepareRoot(_ root: String) throws {
        let absolute = URL(fileURLWithPath: root).standardizedFileURL.path
        var path = ""
        for component in absolute.split(separator: "/") {
            path += "/" + component
            var st = stat()
            if stat(path, &st) != 0 {
                guard mkdir(path, 0o711) == 0 || errno == EEXIST else {
                    throw ComputingPlaneError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
                }
                chmod(path, 0o711)
                continue
            }
            guard st.st_mode & 0o001 != 0 else {
                throw ComputingPlaneError(
                    .badInput,
                    "the work directory \(absolute) is not reachable by job uids: \(path) has mode \(String(st.st_mode & 0o777, radix: 8)) (others need x); choose another --work-dir"
                )
            }
        }
        chmod(absolute, 0o711)
    }

    static func create(_ path: String) throws {
        guard mkdir(path, 0o711) == 0 else {
            throw AgentStop.failed("cannot create the job's work directory: \(String(cString: strerror(errno)))")
        }
        chmod(path, 0o711)
    }

    static func remove(_ path: String) {
        if MountTable.isMounted(path + "/data") { umount2(path + "/data", Int32(MNT_DETACH)) }
        try? FileManager.default.removeItem(atPath: path)
    }
}
