public import Hummingbird
public import HummingbirdWebSocket
import Logging
public import NIOCore
public import NIOHTTP1
import NIOPosix
public import NIOWebSocket
import Synchronization

/// The WebSocket router's request context: it carries the upstream leg, opened while deciding whether to
/// upgrade, to the relay that runs after the upgrade.
public struct ExploreWebSocketContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    let upstream: UpstreamSlot

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        upstream = UpstreamSlot()
    }
}

/// Holds an opened upstream WebSocket until the relay takes it; closes it if the relay never does (the
/// browser went away between the upgrade check and the upgrade).
final class UpstreamSlot: Sendable {
    private let channel = Mutex<NIOAsyncChannel<WebSocketFrame, WebSocketFrame>?>(nil)

    func put(_ value: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>) { channel.withLock { $0 = value } }
    func take() -> NIOAsyncChannel<WebSocketFrame, WebSocketFrame>? { channel.withLock { $0.take() } }

    deinit { channel.withLock { $0?.channel.close(promise: nil) } }
}

/// The upstream leg: a WebSocket client over the session's UNIX socket (swift-websocket's client cannot
/// dial one), and the frame relay between it and the browser's leg.
public enum ExploreWebSocketRelay {
    public enum Outcome: Sendable {
        case opened(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, subprotocol: String?)
        case refused
    }

    /// The upgrade took longer than its timeout.
    public struct UpgradeTimeout: Error, CustomStringConvertible {
        public let seconds: Int64
        public var description: String { "the WebSocket upgrade was not answered within \(seconds) s" }
    }

    /// Opens a WebSocket to `uri` at `address` (the session's UNIX socket) with `headers`; `.refused` when
    /// the server answers without upgrading or closes the connection unanswered. The connect and the upgrade
    /// must each finish within `timeout`: 60 s by default, as Jupyter holds a kernel channel's upgrade until
    /// the kernel answers (its own `kernel_info_timeout` is 60 s), and a kernel just started on a busy
    /// machine took more than 10 s.
    public static func connect(
        to address: SocketAddress,
        uri: String,
        headers: HTTPHeaders,
        maxFrameSize: Int,
        timeout: TimeAmount = .seconds(60)
    ) async throws -> Outcome {
        let started = NIODeadline.now()
        do {
            return try await upgrade(
                to: address,
                uri: uri,
                headers: headers,
                maxFrameSize: maxFrameSize,
                timeout: timeout
            )
        } catch ChannelError.inappropriateOperationForState {
            // NIO's upgrade handler fails this way when it is removed before an answer: the channel closed,
            // by our deadline or by the server.
            if NIODeadline.now() - started >= timeout {
                throw UpgradeTimeout(seconds: timeout.nanoseconds / 1_000_000_000)
            }
            return .refused
        }
    }

    static func upgrade(
        to address: SocketAddress,
        uri: String,
        headers: HTTPHeaders,
        maxFrameSize: Int,
        timeout: TimeAmount
    ) async throws -> Outcome {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers)
        let upgrade: EventLoopFuture<Outcome> = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(timeout)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Outcome>(
                        maxFrameSize: maxFrameSize,
                        upgradePipelineHandler: { channel, response in
                            deadline.cancel()
                            return channel.eventLoop.makeCompletedFuture {
                                let relay = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                                    wrappingChannelSynchronously: channel
                                )
                                return .opened(
                                    relay,
                                    subprotocol: response.headers.first(name: "Sec-WebSocket-Protocol")
                                )
                            }
                        }
                    )
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Outcome>(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            deadline.cancel()
                            channel.close(promise: nil)
                            return channel.eventLoop.makeSucceededFuture(.refused)
                        }
                    )
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: configuration)
                    )
                }
            }
        return try await upgrade.get()
    }

    /// Relays frames both ways until either side closes. Data frames (text, binary, continuation) pass as
    /// they are, fragmentation kept; pings are answered on the leg they arrive on (control frames are per
    /// hop); Jupyter's close code and reason reach the browser, the browser's close reaches Jupyter as 1000.
    static func relay(
        browserIn: WebSocketInboundStream,
        browserOut: WebSocketOutboundWriter,
        upstream: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>
    ) async throws {
        try await upstream.executeThenClose { upstreamIn, upstreamOut in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await frame in browserIn {
                        let opcode: WebSocketOpcode =
                            switch frame.opcode {
                            case .text: .text
                            case .binary: .binary
                            case .continuation: .continuation
                            }
                        try await upstreamOut.write(
                            WebSocketFrame(fin: frame.fin, opcode: opcode, maskKey: .random(), data: frame.data)
                        )
                    }
                    try? await upstreamOut.write(closeFrame(.normalClosure, reason: nil, masked: true))
                }
                group.addTask {
                    for try await frame in upstreamIn {
                        switch frame.opcode {
                        case .text, .binary, .continuation:
                            try await browserOut.write(
                                .custom(WebSocketFrame(fin: frame.fin, opcode: frame.opcode, data: frame.unmaskedData))
                            )
                        case .ping:
                            try await upstreamOut.write(
                                WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
                            )
                        case .connectionClose:
                            var data = frame.unmaskedData
                            let code = data.readWebSocketErrorCode() ?? .normalClosure
                            let reason = data.readString(length: data.readableBytes)
                            try? await upstreamOut.write(closeFrame(code, reason: nil, masked: true))
                            try await browserOut.close(code, reason: reason)
                            return
                        default:
                            break
                        }
                    }
                    try await browserOut.close(.goingAway, reason: "the explore session closed the connection")
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    public static func closeFrame(_ code: WebSocketErrorCode, reason: String?, masked: Bool) -> WebSocketFrame {
        var data = ByteBuffer()
        data.write(webSocketErrorCode: code)
        if let reason { data.writeString(reason) }
        return WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: masked ? .random() : nil, data: data)
    }
}
