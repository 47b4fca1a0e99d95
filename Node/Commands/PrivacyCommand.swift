import ArgumentParser
import Attestation
import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import Hummingbird
import LightClient
import Logging
import Metrics
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import PrivacyPlaneHTTP
import UnixSignals

/// `delong privacy …`: the Privacy Plane.
struct PrivacyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
        abstract: "The Privacy Plane: wallet sign-in, access tokens and attested key release.",
        subcommands: [
            PrivacyServeCommand.self, PrivacyLoginCommand.self, PrivacyProviderKeyCommand.self,
            PrivacyTokenCommand.self,
            PrivacyReleaseDevCommand.self,
        ]
    )
}

/// `delong privacy serve`: the node's verified sync plus the Privacy Plane's HTTP API, in one process (the
/// plane reads the index it verifies itself; LevelDB allows one process per index).
struct PrivacyServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Sync the chain and serve the Privacy Plane's HTTP API under /v1.",
        discussion: """
            Verifies and follows the chain exactly as `node run` does (same options, same /v1/status and \
            /metrics), and serves: GET /v1/nonce, POST /v1/login (SIWE), POST /v1/tokens, POST \
            /v1/keys/release, POST /v1/keys/renew, POST /v1/keys/provider, GET /v1/receipts, GET /v1/receipts/head, GET \
            /v1/attestation. See docs/privacy-plane.md. When AlgorithmRegistry names a privacy signer other \
            than the signing key's address, the plane refuses to start, and once it is running it refuses \
            tokens and key releases (503 signer_mismatch). It also refuses them (503 index_stale) while the \
            index is older than --max-index-age. DCAP collateral (--collateral FILE or --collateral-url PCS) \
            is reloaded on SIGHUP and every --collateral-refresh seconds; once expired, TDX key releases get \
            503 collateral_expired. A key release grants a lease of --lease-seconds, renewed by the sandbox \
            agent every third of it; a renewal re-checks the rental, dataset, measurement and signer on the \
            latest index state, pending blocks included, and a revocation ends the lease at first sight (403 \
            lease_revoked). Leases live in memory: after a restart every renewal is refused (404 \
            unknown_lease). Root secret: --root-secret file:PATH (development; a missing \
            file is an error unless --create-root-secret is given, which creates it 0600) or dstack[:SOCKET] \
            (the dstack guest agent's GetKey; without SOCKET: DSTACK_SIMULATOR_ENDPOINT, else the first of \
            /var/run/dstack.sock, /run/dstack.sock, /var/run/dstack/dstack.sock, /run/dstack/dstack.sock); with \
            dstack the plane's own evidence is a TDX quote from its GetQuote. \
            Serves HTTPS (see the TLS options; plain HTTP only on loopback with --plain-http); GET /v1/attestation carries the plane's own evidence binding its signer and TLS key. Prints `READY https://HOST:PORT signer 0x… tls-key sha256:…` once listening; SIGHUP reloads the TLS pair and re-makes the evidence. Exit codes: 0 stopped cleanly, 2 malformed \
            options or files, 3 unreadable file or unreachable endpoint, 4 key refused.
            """
    )

    @OptionGroup var sync: SyncOptions
    @Option(help: "Address to serve HTTPS on, HOST:PORT.") var listen: String = "127.0.0.1:8547"
    @OptionGroup var tls: TLSOptions
    @Option(help: "Seconds between fresh quotes of the plane's own attestation (also made on SIGHUP).")
    var evidenceRefresh: Double = 600
    @Option(help: "Seconds between polls of the chain head.") var poll: Double = 2
    @Option(help: "The plane's secp256k1 signing key: a file (mode 0600) of 32 raw bytes or 64 hex digits.")
    var signingKey: String
    @Option(help: "Where the root secret comes from: file:PATH or dstack[:SOCKET].") var rootSecret: String
    @Option(help: "SIWE domain the plane accepts (the host users sign in to).") var domain: String
    @Option(help: "SIWE URI scheme the plane accepts.") var scheme: String = "https"
    @Option(help: "Directory for the nonce store and the receipt log (default: DATA_DIR/privacy).")
    var stateDir: String?
    @Option(
        help:
            "dcap-qvl collateral JSON for verifying TDX quotes (Intel PCS or a PCCS), re-read on SIGHUP and on the refresh timer; none refuses TDX."
    )
    var collateral: String?
    @Option(
        help:
            "Fetch DCAP collateral from an Intel PCS or PCCS (v4 API root, e.g. https://api.trustedservices.intel.com) per FMSPC, instead of --collateral."
    )
    var collateralURL: String?
    @Option(help: "Seconds between DCAP collateral reloads (also on SIGHUP).") var collateralRefresh: UInt64 = 3600
    @Option(help: "TCB statuses accepted besides UpToDate (repeatable), e.g. SWHardeningNeeded.")
    var allowStatus: [String] = []
    @Option(help: "Longest a Secure Mode job may run, in seconds: tokens last this long.") var maxJobSeconds: UInt64 =
        3600
    @Option(help: "Seconds a key lease runs without renewal (3…600); sandboxes renew every third of it.")
    var leaseSeconds: UInt64 = 30
    @Option(help: "Requests per second allowed per address (bursts of 4x).") var rate: Double = 50
    @Flag(help: "Accept the INSECURE development evidence (machines without TDX), on the devnet (chain id 31337) only.")
    var allowInsecureDevelopmentEvidence = false
    @Option(help: "With --allow-insecure-development-evidence: accept it on this chain id, which is not the devnet's.")
    var allowInsecureDevelopmentEvidenceOnChain: UInt64?
    @Option(help: "Accept AMD SEV-SNP evidence whose REPORTED_TCB is at least BL:TEE:SNP:UCODE (e.g. 3:0:8:115).")
    var snpMinTcb: String?
    @Option(help: "With --snp-min-tcb: an AMD CRL file, DER or PEM (repeatable); a revoked ASK or VCEK is refused.")
    var snpCrl: [String] = []
    @Option(help: "With --snp-min-tcb: PEM certificates (VCEK, ASK, ARK) used when the evidence carries none.")
    var snpCertChain: String?
    @Flag(help: "With --snp-min-tcb: accept SNP evidence when no CRL covers its ASK (INSECURE).")
    var snpAllowMissingCrl = false
    @Flag(
        help:
            "Create the file: root secret when it is missing (a new key universe); otherwise a missing one is an error."
    )
    var createRootSecret = false
    @Flag(
        help: "Migration: provider key releases return the version 1 DEK (not bound to the chain), to re-seal under v2."
    )
    var serveV1ProviderKeys = false
    // Freshness (docs/privacy-plane.md, "Freshness").
    @Option(
        help:
            "Refuse tokens and key releases (503 index_stale) when the head block, or the last good sync pass, is older than this many seconds (default: 2 x poll + finality x 12)."
    )
    var maxIndexAge: UInt64?
    @Option(help: "Refuse (503 clock_skew) when the wall clock is more than this many seconds behind the head block.")
    var maxClockSkew: UInt64 = 60
    @Option(
        help:
            "A reverse proxy in front of the plane (IP address, repeatable): its X-Forwarded-For names the client that anonymous rate limits count."
    )
    var trustedProxy: [String] = []
    @Option(
        help:
            "DA store directory to publish the receipt log's signed head to (receipt-heads/latest names it), for auditors."
    )
    var da: String?
    @Option(help: "With --da: publish the receipt log's head every this many receipts (and at shutdown).")
    var receiptHeadEvery: UInt64 = 16

    func validate() throws {
        guard let listenAddress else { throw ValidationError("--listen: expected HOST:PORT, found \"\(listen)\"") }
        try tls.validate(listenHost: listenAddress.host)
        guard poll > 0 && poll <= 3600 else { throw ValidationError("--poll: expected 0 < seconds ≤ 3600") }
        guard evidenceRefresh >= 1 else { throw ValidationError("--evidence-refresh: expected at least 1 second") }
        guard rate > 0 else { throw ValidationError("--rate: expected a positive number") }
        guard KeyLeases.allowedSeconds.contains(leaseSeconds) else {
            throw ValidationError(
                "--lease-seconds: expected \(KeyLeases.allowedSeconds.lowerBound)…\(KeyLeases.allowedSeconds.upperBound), found \(leaseSeconds)"
            )
        }
        if let maxIndexAge, maxIndexAge == 0 { throw ValidationError("--max-index-age: expected a positive number") }
        guard receiptHeadEvery >= 1 else { throw ValidationError("--receipt-head-every: expected at least 1") }
        for proxy in trustedProxy where ClientAddresses.canonical(proxy) == nil {
            throw ValidationError("--trusted-proxy: expected an IP address, found \"\(proxy)\"")
        }
        guard rootSecret.hasPrefix("file:") || rootSecret == "dstack" || rootSecret.hasPrefix("dstack:") else {
            throw ValidationError("--root-secret: expected file:PATH or dstack[:SOCKET], found \"\(rootSecret)\"")
        }
        if allowInsecureDevelopmentEvidenceOnChain != nil && !allowInsecureDevelopmentEvidence {
            throw ValidationError(
                "--allow-insecure-development-evidence-on-chain: expected --allow-insecure-development-evidence too"
            )
        }
        if collateral != nil && collateralURL != nil {
            throw ValidationError(
                "--collateral-url: expected either --collateral FILE or --collateral-url URL, found both"
            )
        }
        if let collateralURL {
            do { _ = try PCSCollateralClient(url: collateralURL) } catch { throw ValidationError(error.reason) }
        }
        guard collateralRefresh > 0 else { throw ValidationError("--collateral-refresh: expected a positive number") }
        if snpMinTcb == nil && (!snpCrl.isEmpty || snpCertChain != nil || snpAllowMissingCrl) {
            throw ValidationError("--snp-crl, --snp-cert-chain, --snp-allow-missing-crl: expected --snp-min-tcb too")
        }
        if let snpMinTcb {
            do { _ = try SNPMinimumTCB(parsing: snpMinTcb) } catch {
                throw ValidationError("--snp-min-tcb: \(error.reason)")
            }
        }
        for status in allowStatus where TCBStatus(rawValue: status) == nil {
            throw ValidationError("--allow-status: unknown TCB status \"\(status)\"")
        }
    }

    var listenAddress: (host: String, port: Int)? { NodeRunCommand.parseListen(listen) }

    var freshnessPolicy: IndexFreshness.Policy {
        IndexFreshness.Policy(
            maxAge: maxIndexAge
                ?? IndexFreshness.Policy.defaultMaxAge(poll: poll, finality: sync.finality),
            maxClockSkew: maxClockSkew
        )
    }

    func run() async throws {
        let logger = ServerAssembly.logger(label: "delong.privacy")
        let hangups = await ServerAssembly.trapHangups()
        try await assemble(logger: logger, hangups: hangups, announce: ServerAssembly.printReady).runAlone()
    }

    /// Syncs and builds the Privacy Plane's server (`run` and `serve --one-process` share it).
    func assemble(
        logger: Logger,
        hangups: UnixSignalsSequence,
        announce: @escaping @Sendable (String) -> Void
    ) async throws -> ServerAssembly.Server {
        let syncer = try await sync.reportingFailures { try await sync.makeSyncer(logger: logger) }
        let index = syncer.index
        let stateDir = self.stateDir ?? (sync.index.dataDir as NSString).appendingPathComponent("privacy")
        if allowInsecureDevelopmentEvidence {
            do {
                try AttestationEvidenceVerifier.checkDevelopmentEvidenceAllowed(
                    chainID: index.config.chainID,
                    namedChainID: allowInsecureDevelopmentEvidenceOnChain
                )
            } catch {
                FileHandle.standardError.write(Data("delong: \(error.reason)\n".utf8))
                throw ExitCode(ExitCodes.malformedInput)
            }
        }
        let freshness = IndexFreshness(policy: freshnessPolicy)
        let metrics = ProcessMetrics()
        let state = NodeState(metrics: metrics)
        let collateralStore = try await keysRefused {
            try makeCollateralStore(logger: logger, metrics: metrics.factory)
        }
        let snpPolicy = try await keysRefused { try makeSNPPolicy() }
        let plane = try await keysRefused {
            () async throws -> (PrivacyRoutes, TokenIssuer, OwnEvidence, TLSIdentity?, KeyLeases, ReceiptHeadPublisher?)
            in
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
            let identity = try tls.identity(
                stateDir: stateDir,
                listenHost: listenAddress!.host,
                chainID: index.config.chainID,
                logger: logger
            )
            let key = try readKeyFile(signingKey, what: "signing key")
            let tokenDomain = TokenDomain(
                chainID: index.config.chainID,
                verifyingContract: index.config.contracts.algorithmRegistry
            )
            let issuer = try TokenIssuer(
                reader: index,
                domain: tokenDomain,
                signingKey: key,
                maxJobDuration: maxJobSeconds,
                freshness: freshness
            )
            // Catch up first, so the on-chain signer is known before anything is signed.
            _ = try await sync.reportingFailures { try await syncer.sync() }
            freshness.recordGoodPass()
            await state.recordGoodPass()
            if let signer = try index.privacySigner(), signer.address != issuer.signer {
                throw CLIFailure(
                    exitCode: ExitCodes.keyRefused,
                    message:
                        "the signing key's address \(issuer.signer.checksummed) is not AlgorithmRegistry's privacy signer \(signer.address.checksummed); tokens would not verify"
                )
            }
            let keys = DatasetKeys(
                root: try makeRootSecret().rootSecret(),
                deployment: .init(chainID: index.config.chainID, dataMarket: index.config.contracts.dataMarket),
                servesV1ToProviders: serveV1ProviderKeys
            )
            let receipts = try ReceiptLog(
                path: (stateDir as NSString).appendingPathComponent("receipts.log"),
                domain: tokenDomain,
                signingKey: key,
                // Explore tokens spend themselves on sample keys too: the log remembers every kind of token
                // for as long as the longest lives.
                tokenLifetime: max(maxJobSeconds, issuer.exploreLifetime)
            )
            let heads = da.map {
                ReceiptHeadPublisher(log: receipts, store: DAStore(root: $0), every: receiptHeadEvery)
            }
            let release = KeyRelease(
                reader: index,
                tokens: TokenVerifier(domain: tokenDomain, signer: issuer.signer),
                evidence: makeEvidenceVerifier(collateralStore, snp: snpPolicy),
                receipts: receipts,
                keys: keys,
                allowDevelopmentEvidence: allowInsecureDevelopmentEvidence,
                freshness: freshness,
                leases: try KeyLeases(seconds: leaseSeconds, metrics: metrics.factory),
                logger: logger,
                metrics: metrics.factory
            )
            let signIn = SignInService(
                verifier: SIWEVerifier(
                    policy: try SIWEPolicy(domain: domain, scheme: scheme, chainIDs: [index.config.chainID])
                ),
                nonces: try FileNonceStore(path: (stateDir as NSString).appendingPathComponent("siwe-nonces.log")),
                sessions: SessionStore(),
                logger: logger
            )
            let ownEvidence = OwnEvidence(
                signer: issuer.signer,
                tls: identity,
                producer: (try makeRootSecret() as? DstackRootSecret).map { .dstack($0.agent) } ?? .development,
                logger: logger
            )
            let routes = PrivacyRoutes(
                signIn: signIn,
                issuer: issuer,
                release: release,
                ownEvidence: { ownEvidence.document },
                perAddress: RateLimiter(burst: Int(max(4, rate * 4)), perSecond: rate),
                // Anonymous routes: each client as much as one signed-in address, all clients together at
                // most eight times that (per route).
                anonymous: ClientRateLimiter(
                    perClient: RateLimiter(burst: Int(max(4, rate * 4)), perSecond: rate),
                    ceiling: RateLimiter(burst: Int(max(32, rate * 32)), perSecond: rate * 8)
                ),
                clients: ClientAddresses(trustedProxies: Set(trustedProxy.compactMap(ClientAddresses.canonical))),
                logger: logger,
                collateral: collateralStore
            )
            return (routes, issuer, ownEvidence, identity, release.leases, heads)
        }
        if allowInsecureDevelopmentEvidence {
            logger.warning("INSECURE development evidence is accepted: never run this in production")
        }
        if let snpPolicy {
            logger.info(
                "SEV-SNP evidence accepted",
                metadata: ["snp.minTCB": "\(snpPolicy.minimumTCB)", "snp.crls": "\(snpPolicy.crls.count)"]
            )
            if snpAllowMissingCrl {
                logger.warning(
                    "INSECURE: --snp-allow-missing-crl: SEV-SNP evidence is accepted without an AMD CRL covering its ASK; a revoked ASK would go unnoticed"
                )
            }
        }
        if serveV1ProviderKeys {
            logger.warning("migration mode: providers receive version 1 dataset keys (not bound to this chain)")
        }
        let router = Router(context: PlaneRequestContext.self)
        let routes = plane.0
        NodeRoutes(
            index: index,
            state: state,
            freshness: freshness,
            maxRows: 1000,
            collectMetrics: { [leases = plane.4] in
                collateralStore.recordGauges()
                leases.recordGauges(now: UInt64(Date().timeIntervalSince1970))
            }
        ).addRoutes(to: router) {
            request,
            context in
            routes.admitNodeRoute(request, context)
        }
        routes.addRoutes(to: router)
        let ownEvidence = plane.2
        return try ServerAssembly.server(
            router: router.buildResponder(),
            address: listenAddress!,
            tls: plane.3,
            serverName: "delong-privacy",
            services: ServerAssembly.planeServices(
                evidence: ownEvidence,
                every: evidenceRefresh,
                syncer: syncer,
                state: state,
                poll: poll,
                freshness: freshness,
                logger: logger
            ) + [
                PeriodicRefresh(interval: .seconds(Int64(clamping: collateralRefresh))) {
                    await collateralStore.refresh()
                }
            ] + (plane.5.map { heads in [Self.headService(heads, logger: logger)] } ?? []),
            readySuffix: " signer \(plane.1.signer.checksummed)",
            hangups: hangups,
            onHangup: [
                { await collateralStore.refresh() },
                { ownEvidence.refresh() },
            ],
            announce: announce,
            logger: logger
        )
    }

    /// Publishes the receipt log's head when due (checked every 200 ms), and whatever is left at shutdown.
    static func headService(_ heads: ReceiptHeadPublisher, logger: Logger) -> PeriodicRefresh {
        let publish: @Sendable (Bool) -> Void = { force in
            do throws(PrivacyPlaneError) {
                if let head = try heads.publishIfDue(force: force) {
                    logger.info("privacy.receipts.head", metadata: ["receipts.count": "\(head.head.count)"])
                }
            } catch {
                logger.error("privacy.receipts.head", metadata: ["error": "\(error.reason)"])
            }
        }
        return PeriodicRefresh(interval: .milliseconds(200), onShutdown: { publish(true) }, { publish(false) })
    }

    /// `file:PATH`, or the dstack guest agent: `dstack:SOCKET`, or with `dstack` alone the SDKs' rule
    /// (`DSTACK_SIMULATOR_ENDPOINT`, then the first of the usual socket paths that exists).
    func makeRootSecret() throws -> any RootSecretProvider {
        if rootSecret.hasPrefix("file:") {
            return LocalRootSecretFile(path: String(rootSecret.dropFirst(5)), createIfMissing: createRootSecret)
        }
        do {
            guard let agent = try DstackGuestAgent.named(rootSecret) else {
                throw CLIFailure.malformed("--root-secret: expected file:PATH or dstack[:SOCKET], found \(rootSecret)")
            }
            return DstackRootSecret(agent: agent)
        } catch let error as AttestationError {
            throw CLIFailure.malformed("--root-secret \(rootSecret): \(error.reason)")
        }
    }

    /// The DCAP collateral: the file's (read and verified now; reloaded on SIGHUP and the timer), or a PCS's
    /// (fetched per FMSPC when a quote first needs it), or none.
    func makeCollateralStore(logger: Logger, metrics: any MetricsFactory) throws -> DCAPCollateralStore {
        if let collateralURL {
            do {
                return DCAPCollateralStore(
                    source: .pcs(try PCSCollateralClient(url: collateralURL)),
                    logger: logger,
                    metrics: metrics
                )
            } catch { throw CLIFailure.malformed(error.reason) }
        }
        let prepared = try collateral.map { path -> VerifiedCollateral in
            let bytes = [UInt8](try InputFile.read(path, what: "collateral"))
            do { return try DCAPVerifier.prepare(QuoteCollateral(json: bytes)) } catch {
                throw CLIFailure.malformed("collateral file \(path): \(error)")
            }
        }
        return DCAPCollateralStore(
            source: collateral.map { .file($0) },
            initial: prepared,
            logger: logger,
            metrics: metrics
        )
    }

    /// The SEV-SNP policy of `--snp-min-tcb`, `--snp-crl`, `--snp-cert-chain`, `--snp-allow-missing-crl`; nil
    /// without `--snp-min-tcb` (SNP evidence refused).
    func makeSNPPolicy() throws -> SNPPolicy? {
        guard let snpMinTcb else { return nil }
        do {
            let crls = try snpCrl.flatMap { path throws -> [X509CRL] in
                try SNPPolicy.crls(fileContents: [UInt8](try InputFile.read(path, what: "SNP CRL")), name: path)
            }
            let chain = try snpCertChain.map { path throws -> [X509Certificate] in
                try SNPEvidence.certificates(in: [UInt8](try InputFile.read(path, what: "SNP certificate chain")))
            }
            return SNPPolicy(
                minimumTCB: try SNPMinimumTCB(parsing: snpMinTcb),
                crls: crls,
                allowMissingCRL: snpAllowMissingCrl,
                chain: chain ?? []
            )
        } catch let error as AttestationError {
            throw CLIFailure.malformed("\(error)")
        }
    }

    func makeEvidenceVerifier(_ store: DCAPCollateralStore, snp: SNPPolicy? = nil) -> AttestationEvidenceVerifier {
        AttestationEvidenceVerifier(
            store: store,
            policy: AttestationPolicy(
                acceptableStatuses: Set([.upToDate] + allowStatus.compactMap(TCBStatus.init(rawValue:))),
                allowInsecureDevelopment: allowInsecureDevelopmentEvidence
            ),
            snp: snp
        )
    }

    /// Runs `body`, turning key and configuration failures into a message and the right exit code.
    func keysRefused<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as CLIFailure {
            throw ExitCodes.report(error)
        } catch let error as PrivacyPlaneError {
            throw ExitCodes.report(error)
        }
    }
}
