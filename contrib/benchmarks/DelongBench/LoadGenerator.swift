import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A closed-loop HTTP/1.1 load generator on raw SwiftNIO: `connections` keep-alive connections to a loopback
/// server, each sending its next request as soon as the previous answer ends, until `duration` has passed or
/// the requests run out. POST runs send each pre-made body exactly once (request i goes out once, on one
/// connection); GET runs repeat `path`.
struct LoadGenerator {
    let group: MultiThreadedEventLoopGroup
    let host: String
    let port: Int
    /// TLS to the server (verified against its certificate for `serverName`), or nil for plain HTTP.
    var tls: (context: NIOSSLContext, serverName: String)? = nil

    /// What one run saw. `latencies` are sorted, in seconds; `succeeded` lists the indices of POST bodies
    /// answered 200.
    struct Result: Sendable {
        var ok = 0
        var errors = 0
        var statuses: [Int: Int] = [:]
        var latencies: [Double] = []
        var succeeded: [Int] = []
        var elapsed = 0.0
        var exhausted = false
        /// The body of the first answer that was not 200, to say why.
        var firstRefusal: String? = nil

        var rate: Double { Double(ok) / elapsed }
        func quantile(_ q: Double) -> Double {
            latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))]
        }

        mutating func merge(_ other: Result) {
            ok += other.ok
            errors += other.errors
            statuses.merge(other.statuses, uniquingKeysWith: +)
            latencies += other.latencies
            succeeded += other.succeeded
            firstRefusal = firstRefusal ?? other.firstRefusal
        }
    }

    /// The shared source of requests and the run's deadline.
    final class Source: Sendable {
        let path: String
        let bodies: [ByteBuffer]?
        let deadline: NIODeadline
        let next = Atomic<Int>(0)
        let exhausted = Atomic<Bool>(false)

        init(path: String, bodies: [ByteBuffer]?, deadline: NIODeadline) {
            self.path = path
            self.bodies = bodies
            self.deadline = deadline
        }

        /// The next request's body index (0 for GET), or nil once the window is over or the bodies are spent.
        func take() -> Int? {
            guard NIODeadline.now() < deadline else { return nil }
            guard let bodies else { return 0 }
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard i < bodies.count else {
                exhausted.store(true, ordering: .relaxed)
                return nil
            }
            return i
        }
    }

    /// One connection: sends, waits for the whole answer, records it, sends the next.
    final class Connection: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        let source: Source
        let host: String
        let done: EventLoopPromise<Result>
        var result = Result()
        var current: Int? = nil
        var sentAt = NIODeadline.now()
        var status = 0
        var body = ByteBuffer()

        init(source: Source, host: String, done: EventLoopPromise<Result>) {
            self.source = source
            self.host = host
            self.done = done
        }

        func channelActive(context: ChannelHandlerContext) { sendNext(context: context) }

        func sendNext(context: ChannelHandlerContext) {
            guard let i = source.take() else {
                current = nil
                context.close(promise: nil)
                return
            }
            current = i
            let body = source.bodies?[i]
            var head = HTTPRequestHead(version: .http1_1, method: body == nil ? .GET : .POST, uri: source.path)
            head.headers.add(name: "Host", value: host)
            if let body {
                head.headers.add(name: "Content-Type", value: "application/json")
                head.headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            }
            sentAt = .now()
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
                body.clear()
            case .body(var part): if status != 200, result.firstRefusal == nil { body.writeBuffer(&part) }
            case .end:
                let latency = Double((NIODeadline.now() - sentAt).nanoseconds) / 1e9
                result.latencies.append(latency)
                result.statuses[status, default: 0] += 1
                if status == 200 {
                    result.ok += 1
                    if source.bodies != nil, let current { result.succeeded.append(current) }
                } else {
                    result.errors += 1
                    if result.firstRefusal == nil { result.firstRefusal = "\(status) " + String(buffer: body) }
                }
                current = nil
                sendNext(context: context)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if current != nil {  // closed with a request outstanding
                result.errors += 1
                result.statuses[0, default: 0] += 1
            }
            done.succeed(result)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    /// Runs `connections` connections against `path` for `duration` seconds (or until `bodies` run out).
    func run(path: String, bodies: [ByteBuffer]?, connections: Int, duration: Double) async throws -> Result {
        let start = NIODeadline.now()
        let source = Source(
            path: path,
            bodies: bodies,
            deadline: start + .nanoseconds(Int64(duration * 1e9))
        )
        let host = "\(self.host):\(port)"
        var futures: [EventLoopFuture<Result>] = []
        for _ in 0..<connections {
            let loop = group.next()
            let done = loop.makePromise(of: Result.self)
            let connect = ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { [tls] in
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(
                                try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName)
                            )
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            Connection(source: source, host: host, done: done)
                        )
                    }
                }
                .connect(host: self.host, port: port)
            connect.whenFailure { done.fail($0) }
            futures.append(done.futureResult)
        }
        var total = Result()
        for future in futures { total.merge(try await future.get()) }
        total.elapsed = Double((NIODeadline.now() - start).nanoseconds) / 1e9
        total.latencies.sort()
        total.exhausted = source.exhausted.load(ordering: .relaxed)
        return total
    }
}
