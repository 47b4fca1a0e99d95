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
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
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

    /// Serves `router` on `address` with `services` until a signal; `readySuffix` follows the URL on the
    /// READY line, after `onBound` learnt the port. On each of `hangups` the TLS pair is re-read and then each of
    /// `onHangup` runs (in order).
    /// `http1` is the plain channel TLS wraps (`ExploreRoutes.serverBuilder` adds WebSocket upgrades).
    static func run<Responder: HTTPResponder>(
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
        logger: Logger
    ) async throws where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
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
                FileHandle.standardOutput.write(
                    Data("READY \(scheme)://\(host):\(port)\(readySuffix)\(keySuffix)\n".utf8)
                )
            },
            logger: logger
        )
        if tls == nil { logger.warning("serving plain HTTP on a loopback address (--plain-http)") }
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
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
