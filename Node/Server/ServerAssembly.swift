import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import LightClient
import Logging
import NIOCore
import PlaneProtocol
import PrivacyPlane
import ServiceLifecycle
import UnixSignals

/// The one bootstrap of every `delong … serve`-like command (`node run`, `privacy serve`): logging to
/// stderr, the HTTP application on HOST:PORT over TLS (or plain HTTP on loopback when asked) with its
/// background services, `READY https://HOST:PORT … tls-key sha256:…` on stdout once listening, reloads on
/// SIGHUP, and a clean stop on SIGTERM or SIGINT.
enum ServerAssembly {
    /// The process's logger (stderr, info level); bootstraps logging, so call it once per process.
    static func logger(label: String) -> Logger {
        bootstrapLogging()
        return serviceLogger(label: label)
    }

    /// Logging to stderr for the whole process (once: `serve --one-process` runs three services in one).
    static func bootstrapLogging() {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    }

    /// A service's logger (info level), once logging is bootstrapped.
    static func serviceLogger(label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .info
        return logger
    }

    /// Takes SIGHUP over (its default action ends the process): call it first in a serve command, before the
    /// sync catches up, and hand the sequence to ``run``.
    /// What every plane runs beside its routes: its own evidence re-made every `every` seconds, and the light
    /// client following the head every `poll` seconds.
    static func planeServices(
        evidence: OwnEvidence,
        every: Double,
        syncer: Syncer,
        state: NodeState,
        poll: Double,
        freshness: IndexFreshness?,
        logger: Logger
    ) -> [any Service] {
        [
            PeriodicRefresh(interval: .milliseconds(Int64(every * 1000))) { evidence.refresh() },
            SyncService(
                syncer: syncer,
                state: state,
                interval: .milliseconds(Int64(poll * 1000)),
                freshness: freshness,
                logger: logger
            ),
        ]
    }

    static func trapHangups() async -> UnixSignalsSequence {
        await UnixSignalsSequence(trapping: .sighup)
    }

    /// Prints a service's READY line on stdout: what `serve` (and any other supervisor) waits for.
    @Sendable static func printReady(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Serves `router` on `address` with `services`; `readySuffix` follows the URL on the READY line (handed to
    /// `announce` once listening, after `onBound` learnt the port). On each of `hangups` the TLS pair is
    /// re-read and then each of `onHangup` runs (in order); `afterStop` runs once the server stopped (or
    /// failed). `http1` is the plain channel TLS wraps (`ExploreRoutes.serverBuilder` adds WebSocket upgrades).
    /// The one assembly of a served command: ``Server/runAlone()`` serves it in a process of its own, `serve
    /// --one-process` runs several in one service group.
    static func server<Responder: HTTPResponder>(
        router: Responder,
        http1: HTTPServerBuilder = .http1(),
        address: (host: String, port: Int),
        tls: TLSIdentity?,
        serverName: String,
        services: [any Service],
        readySuffix: String = "",
        onBound: @escaping @Sendable (Int) -> Void = { _ in },
        hangups: UnixSignalsSequence,
        onHangup: [@Sendable () async -> Void] = [],
        announce: @escaping @Sendable (String) -> Void,
        afterStop: @escaping @Sendable () async -> Void = {},
        logger: Logger
    ) throws -> Server where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        let server: HTTPServerBuilder =
            try tls.map { try .tls(http1, tlsConfiguration: $0.serverConfiguration()) } ?? http1
        let scheme = tls == nil ? "http" : "https"
        let host = address.host.contains(":") ? "[\(address.host)]" : address.host
        let keySuffix = tls.map { " tls-key \(TLSKeyIdentity.text($0.keyHash))" } ?? ""
        let app = Application(
            responder: router,
            server: server,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: serverName),
            services: services + [HangupService(hangups: hangups, tls: tls, actions: onHangup, logger: logger)],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                onBound(port)
                announce("READY \(scheme)://\(host):\(port)\(readySuffix)\(keySuffix)")
            },
            logger: logger
        )
        if tls == nil { logger.warning("serving plain HTTP on a loopback address (--plain-http)") }
        return Server(application: app, afterStop: afterStop, logger: logger)
    }

    /// An assembled server: its HTTP application with its background services, and what runs once it stopped.
    struct Server: Service {
        let application: any Service
        let afterStop: @Sendable () async -> Void
        let logger: Logger

        func run() async throws {
            do { try await application.run() } catch {
                await afterStop()
                throw error
            }
            await afterStop()
        }

        /// Serves until SIGTERM or SIGINT, as the only service of this process.
        func runAlone() async throws {
            try await ServiceGroup(services: [self], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
                .run()
        }
    }
}

/// SIGHUP: re-read the TLS pair, then run the other reloads (collateral, the plane's own quote).
struct HangupService: Service {
    let hangups: UnixSignalsSequence
    let tls: TLSIdentity?
    let actions: [@Sendable () async -> Void]
    let logger: Logger

    func run() async throws {
        for await _ in hangups.cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading")
            tls?.reload()
            for action in actions { await action() }
        }
    }
}

/// Runs `action` every `interval` until shutdown (the wait ends at shutdown too: a service group waits for
/// every service to return). The plane's own evidence and its DCAP collateral refresh this way.
struct PeriodicRefresh: Service {
    let interval: Duration
    let action: @Sendable () async -> Void
    /// Run once more at graceful shutdown (e.g. a last receipt head).
    let onShutdown: (@Sendable () async -> Void)?

    init(
        interval: Duration,
        onShutdown: (@Sendable () async -> Void)? = nil,
        _ action: @escaping @Sendable () async -> Void
    ) {
        self.interval = interval
        self.onShutdown = onShutdown
        self.action = action
    }

    func run() async throws {
        while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: interval) })) != nil {
            await action()
        }
        await onShutdown?()
    }
}
