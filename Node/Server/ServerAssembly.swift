import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// The one bootstrap of every `delong … serve`-like command (`node run`, `privacy serve`): logging to
/// stderr, the HTTP application on HOST:PORT with its background services, `READY http://HOST:PORT …` on
/// stdout once listening, and a clean stop on SIGTERM or SIGINT.
enum ServerAssembly {
    /// The process's logger (stderr, info level); bootstraps logging, so call it once per process.
    static func logger(label: String) -> Logger {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: label)
        logger.logLevel = .info
        return logger
    }

    /// Serves `router` on `address` with `services` until a signal; `readySuffix` follows the URL on the
    /// READY line.
    static func run<Responder: HTTPResponder>(
        router: Responder,
        address: (host: String, port: Int),
        serverName: String,
        services: [any Service],
        readySuffix: String = "",
        logger: Logger
    ) async throws where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        let app = Application(
            responder: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: serverName),
            services: services,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                FileHandle.standardOutput.write(Data("READY http://\(address.host):\(port)\(readySuffix)\n".utf8))
            },
            logger: logger
        )
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}
