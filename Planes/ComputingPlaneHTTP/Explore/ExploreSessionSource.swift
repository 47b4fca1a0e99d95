public import ChainCore
public import Foundation

/// What the proxy needs to know of a live explore session: where its Jupyter listens and the token to
/// present there. The browser never sees `jupyterToken`.
public struct ExploreTarget: Sendable {
    /// 32 lowercase hex digits.
    public let id: String
    /// Jupyter's UNIX socket on the host.
    public let socketPath: String
    /// The per-session secret Jupyter accepts as `Authorization: token …`.
    public let jupyterToken: String
    /// `/explore/<id>/`, Jupyter's `base_url`.
    public let basePath: String
    public let consumer: Address
    public let expiresAt: Date

    public init(
        id: String,
        socketPath: String,
        jupyterToken: String,
        basePath: String,
        consumer: Address,
        expiresAt: Date
    ) {
        self.id = id
        self.socketPath = socketPath
        self.jupyterToken = jupyterToken
        self.basePath = basePath
        self.consumer = consumer
        self.expiresAt = expiresAt
    }

    /// True for a session id as the explore manager makes them: 32 lowercase hex digits.
    public static func isSessionID(_ id: some StringProtocol) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// The explore sessions the proxy may reach: a live session by id, or nil once it has ended (or never
/// existed). The explore manager satisfies it.
public protocol ExploreSessionSource: Sendable {
    func liveSession(_ id: String) async -> ExploreTarget?
}
