import ArgumentParser
import ChainIndex
import ChainRecords
import Hummingbird
import LightClient
import Logging
import UnixSignals

/// `delong node run`: sync, keep following the head, and serve the index over HTTP.
struct NodeRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Sync, keep following the head, and serve /v1/status, read-only record queries and /metrics.",
        discussion: """
            Verifies exactly as `node sync` does, then polls the endpoints every --poll seconds. HTTP (GET): \
            /v1/status, /v1/datasets/ID, /v1/rentals?consumer=0x… or ?dataset=0x…, /v1/algorithms/DIGEST, \
            /metrics (Prometheus text). Serves HTTPS (a self-signed pair under DATA_DIR/tls on the devnet unless --tls-cert/--tls-key; plain \
            HTTP only on loopback with --plain-http). Prints `READY https://HOST:PORT tls-key sha256:…` on stdout \
            once listening (use port 0 for any free port); SIGHUP reloads the TLS pair. Stops cleanly on SIGTERM or SIGINT.
            """
    )

    @OptionGroup var options: SyncOptions
    @Option(help: "Address to serve HTTPS on, HOST:PORT.") var listen: String = "127.0.0.1:8546"
    @OptionGroup var tls: TLSOptions
    @Option(help: "Seconds between polls of the chain head.") var poll: Double = 2

    func validate() throws {
        guard let listenAddress else { throw ValidationError("--listen: expected HOST:PORT, found \"\(listen)\"") }
        try tls.validate(listenHost: listenAddress.host)
        guard poll > 0 && poll <= 3600 else { throw ValidationError("--poll: expected 0 < seconds ≤ 3600") }
    }

    var listenAddress: (host: String, port: Int)? { Self.parseListen(listen) }

    /// HOST:PORT (the last colon splits, so IPv6 hosts work); nil unless the port is 0…65535.
    static func parseListen(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        return (String(text[..<colon]), port)
    }

    func run() async throws {
        let logger = ServerAssembly.logger(label: "delong.node")
        let hangups = await ServerAssembly.trapHangups()
        try await assemble(logger: logger, hangups: hangups, announce: ServerAssembly.printReady).runAlone()
    }

    /// Syncs and builds the node's server (`run` and `serve --one-process` share it).
    func assemble(
        logger: Logger,
        hangups: UnixSignalsSequence,
        announce: @escaping @Sendable (String) -> Void
    ) async throws -> ServerAssembly.Server {
        let syncer = try await options.reportingFailures { try await options.makeSyncer(logger: logger) }
        let identity: TLSIdentity?
        do {
            identity = try tls.identity(
                stateDir: options.index.dataDir,
                listenHost: listenAddress!.host,
                chainID: syncer.index.config.chainID,
                logger: logger
            )
        } catch { throw ExitCodes.report(error) }
        let state = NodeState(metrics: ProcessMetrics())
        let router = Router()
        NodeRoutes(index: syncer.index, state: state).addRoutes(to: router)
        return try ServerAssembly.server(
            router: router.buildResponder(),
            address: listenAddress!,
            tls: identity,
            serverName: "delong",
            services: [
                SyncService(syncer: syncer, state: state, interval: .milliseconds(Int64(poll * 1000)), logger: logger)
            ],
            hangups: hangups,
            announce: announce,
            logger: logger
        )
    }
}
