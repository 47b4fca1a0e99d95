import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import PrivacyPlaneHTTP
import Synchronization

/// Key release over real HTTP: the Privacy Plane's own routes (PrivacyPlaneHTTP, as `privacy serve` mounts
/// them) in a Hummingbird server on loopback in this process, driven by `clients` keep-alive connections for
/// `duration` seconds. Every release runs every check, including the full DCAP verification of a real TDX
/// quote (`TDXCostedEvidence`), and group-commits its signed receipt (fsync) before answering. Hummingbird's
/// hello route on the same server, measured with the same client in the same run, is the reference.
///
/// Each request carries its own fresh token, all minted before the timed window. Afterwards a sample of the
/// released tokens is sent again: the plane must refuse every one (409), and the receipt log must hold exactly
/// one receipt per release; any other answer is counted as a double release.
///
/// `developmentEvidence` skips the DCAP verification (a profiling aid: the difference is what the quote costs).
/// `tls` serves and drives both routes over TLS (a fresh self-signed P-256 pair, as `privacy serve` makes on
/// the devnet; the clients verify it), as every listener serves by default.
func keyReleaseHTTPBench(
    testData: URL?,
    duration: Double,
    clients: Int,
    maxRate: Int,
    developmentEvidence: Bool = false,
    tls: Bool = false
) async -> Int32 {
    do {
        guard let world = try BenchWorld(testData: testData) else {
            print("(shared test data not found: key-release HTTP benchmark needs it; set DELONG_TESTDATA)")
            return 2
        }
        defer { world.removeScratch() }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let scheme = tls ? "HTTPS" : "HTTP"
        print("key release over \(scheme): \(clients) keep-alive clients, \(duration) s per run, \(cores) cores")

        // The plane as `privacy serve` assembles it, with the bench's TDX-costed evidence; the plane logs each
        // release at info level to stderr as the served plane does.
        var planeLogger = Logger(label: "delong.privacy")
        planeLogger.logLevel = .info
        let evidence: any EvidenceVerifier = developmentEvidence ? world.verifier : world.tdxCosted
        let release = try world.plane(evidence, "receipts.log", logger: planeLogger)
        var quiet = Logger(label: "delong.bench.http")
        quiet.logLevel = .warning
        let signIn = SignInService(
            verifier: SIWEVerifier(
                policy: try SIWEPolicy(domain: "bench.invalid", scheme: "https", chainIDs: [world.domain.chainID])
            ),
            nonces: try FileNonceStore(path: world.directory.appendingPathComponent("siwe-nonces.log").path),
            sessions: SessionStore(),
            logger: quiet
        )
        // The rate limits run on every release as served, with a ceiling the bench cannot reach (one consumer
        // address and one loopback client send everything).
        let unlimited = { RateLimiter(burst: 1 << 30, perSecond: 1e9) }
        let routes = PrivacyRoutes(
            signIn: signIn,
            issuer: world.issuer,
            release: release,
            ownEvidence: { .object([("unavailable", .string("bench"))]) },
            perAddress: unlimited(),
            anonymous: ClientRateLimiter(perClient: unlimited(), ceiling: unlimited()),
            clients: ClientAddresses(trustedProxies: []),
            logger: planeLogger
        )
        let router = Router(context: PlaneRequestContext.self)
        routes.addRoutes(to: router)
        router.get("/hello") { _, _ in "Hello" }

        let port = Mutex<Int?>(nil)
        var serverBuilder: HTTPServerBuilder = .http1()
        var clientTLS: (context: NIOSSLContext, serverName: String)? = nil
        if tls {
            let pair = try SelfSignedCertificate(commonName: "delong-bench", hosts: ["localhost", "127.0.0.1"])
            let certificate = try NIOSSLCertificate.fromPEMBytes(pair.certificatePEM)
            let key = try pair.privateKeyPEM.withUnsafeBytes { try NIOSSLPrivateKey(bytes: Array($0), format: .pem) }
            serverBuilder = try .tls(
                .http1(),
                tlsConfiguration: TLSConfiguration.makeServerConfiguration(
                    certificateChain: certificate.map { .certificate($0) },
                    privateKey: .privateKey(key)
                )
            )
            var client = TLSConfiguration.makeClientConfiguration()
            client.trustRoots = .certificates(certificate)
            clientTLS = (try NIOSSLContext(configuration: client), "localhost")
        }
        let app = Application(
            router: router,
            server: serverBuilder,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "delong-privacy"),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
            logger: quiet
        )
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }

        // Mint every token before the timed window, on all cores.
        let count = clients + Int(duration * Double(maxRate))
        let mintStart = ContinuousClock.now
        let bodies = try mint(world, count: count, cores: cores)
        print(
            String(
                format: "minted %d fresh tokens + bound evidence in %.1f s (%d B per request body)",
                count,
                (ContinuousClock.now - mintStart).seconds,
                bodies.first?.readableBytes ?? 0
            )
        )

        var listening: Int? = nil
        for _ in 0..<500 where listening == nil {
            listening = port.withLock { $0 }
            if listening == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        guard let listening else {
            print("the bench server did not start")
            return 1
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let load = LoadGenerator(group: group, host: "127.0.0.1", port: listening, tls: clientTLS)

        // Warm-up.
        _ = try await load.run(path: "/hello", bodies: nil, connections: clients, duration: min(2, duration))
        let hello = try await load.run(path: "/hello", bodies: nil, connections: clients, duration: duration)
        let releases = try await load.run(
            path: "/v1/keys/release",
            bodies: bodies,
            connections: clients,
            duration: duration
        )

        // Single use: replay up to 2,000 released tokens; each must be refused 409 token_already_used.
        let replayed = Array(releases.succeeded.prefix(2000)).map { bodies[$0] }
        let replay = try await load.run(
            path: "/v1/keys/release",
            bodies: replayed,
            connections: min(clients, max(1, replayed.count)),
            duration: 3600
        )
        let doubleReleases = replay.ok
        let receipts = release.receipts.count
        let receiptMismatch = receipts != UInt64(releases.ok)

        row(
            developmentEvidence
                ? "key release over \(scheme), dev evidence only" : "key release over \(scheme), TDX quote verified",
            releases.rate,
            hello.rate,
            "Hummingbird hello route",
            unit: "req/s"
        )
        print(
            String(
                format: "    releases: p50 %.2f ms, p99 %.2f ms;   hello: p50 %.2f ms, p99 %.2f ms",
                releases.quantile(0.5) * 1000,
                releases.quantile(0.99) * 1000,
                hello.quantile(0.5) * 1000,
                hello.quantile(0.99) * 1000
            )
        )
        print(
            "    \(releases.ok) releases in \(String(format: "%.1f", releases.elapsed)) s, \(releases.errors) errors"
                + (releases.errors > 0 ? " \(releases.statuses)" : "")
                + "; hello \(hello.ok) ok, \(hello.errors) errors"
        )
        print(
            "    double releases: \(doubleReleases) (\(replay.statuses[409] ?? 0) of \(replayed.count) replayed tokens refused 409);"
                + " receipts in the log: \(receipts) for \(releases.ok) releases"
        )
        if let refusal = releases.firstRefusal { print("    first refusal: \(refusal)") }
        if releases.exhausted {
            print("    note: the \(count) pre-minted tokens ran out before \(duration) s (raise --max-rate)")
        }
        print("    goal: >= 5,000 releases/s with p99 < 20 ms, 0 errors, 0 double releases")
        try await group.shutdownGracefully()
        let clean =
            releases.errors == 0 && doubleReleases == 0 && !receiptMismatch
            && replay.statuses[409] ?? 0 == replayed.count
        return clean ? 0 : 1
    } catch {
        print("key-release HTTP benchmark failed: \(error)")
        return 1
    }
}

/// `count` release request bodies (compact JSON), each with a fresh token, minted on `cores` threads.
func mint(_ world: BenchWorld, count: Int, cores: Int) throws -> [ByteBuffer] {
    let slices = Mutex<[Int: [ByteBuffer]]>([:])
    let failure = Mutex<(any Error)?>(nil)
    let per = (count + cores - 1) / cores
    DispatchQueue.concurrentPerform(iterations: cores) { part in
        do {
            var mine: [ByteBuffer] = []
            for i in (part * per)..<min(count, (part + 1) * per) {
                let data = try JSONSerialization.data(withJSONObject: try world.request(i, tag: "http").json)
                mine.append(ByteBuffer(bytes: data))
            }
            slices.withLock { $0[part] = mine }
        } catch {
            failure.withLock { $0 = error }
        }
    }
    if let error = failure.withLock({ $0 }) { throw error }
    return slices.withLock { s in (0..<cores).flatMap { s[$0] ?? [] } }
}
