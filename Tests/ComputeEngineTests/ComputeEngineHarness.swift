import AsyncHTTPClient
import ComputeEngine
import ComputeEngineFake
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A fake Compute Engine with a fresh test account, a token source and a client pointed at it; each booted "VM"
/// is `/bin/sleep 300` (or what `command` says), recorded in ``booted``.
struct ComputeEngineHarness: Sendable {
    let account: TestServiceAccount
    let fake: FakeComputeEngine
    let key: ServiceAccountKey
    let tokens: GoogleAccessTokens
    let client: ComputeEngineClient
    let booted: BootLog

    /// What the fake's boot closure was given.
    final class BootLog: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [(name: String, metadata: [FakeComputeEngine.MetadataItem])] = []
        func append(_ name: String, _ metadata: [FakeComputeEngine.MetadataItem]) {
            lock.withLock { entries.append((name, metadata)) }
        }
        var all: [(name: String, metadata: [FakeComputeEngine.MetadataItem])] { lock.withLock { entries } }
    }

    static func with<T: Sendable>(
        stepDelay: Duration = .milliseconds(100),
        killGrace: Duration = .seconds(2),
        waitCap: Duration = .seconds(1),
        tokenLifetime: Int = 3600,
        command: [String] = ["/bin/sleep", "300"],
        now: @escaping @Sendable () -> Date = { Date() },
        _ body: (ComputeEngineHarness) async throws -> T
    ) async throws -> T {
        let account = try TestServiceAccount()
        let log = BootLog()
        let boot: FakeComputeEngine.Boot = { name, metadata in
            log.append(name, metadata)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst())
            // Not the test process's stdout: `swift test` reads it to its end, which a VM outliving a crashed
            // test would hold off for as long as it runs.
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        // The test's own calls run on a thread of their own too (the fake has its own): neither waits for a
        // cooperative thread the other suites hold.
        return try await onOwnThread("compute-engine-test") {
            try await FakeComputeEngine.with(
                account: account,
                stepDelay: stepDelay,
                killGrace: killGrace,
                waitCap: waitCap,
                tokenLifetime: tokenLifetime,
                boot: boot
            ) { fake in
                let key = try ServiceAccountKey(json: try account.keyJSON(tokenURI: fake.tokenURI))
                // Long deadlines all the same: the machine itself is loaded in CI.
                let tokens = GoogleAccessTokens(
                    key: key,
                    timeout: .seconds(180),
                    retryDelay: .milliseconds(50),
                    now: now
                )
                let client = ComputeEngineClient(
                    project: key.projectID,
                    zone: fake.zone,
                    tokens: tokens,
                    baseURL: fake.baseURL,
                    timeout: .seconds(180)
                )
                return try await body(
                    ComputeEngineHarness(
                        account: account,
                        fake: fake,
                        key: key,
                        tokens: tokens,
                        client: client,
                        booted: log
                    )
                )
            }
        }
    }

    /// A job request as the Computing Plane would make it (image and machine type as in the design note).
    func jobRequest(
        _ jobID: String,
        maxRun: Int = 3600,
        metadata: [InstanceRequest.MetadataItem] = []
    )
        throws -> InstanceRequest
    {
        try InstanceRequest.forJob(
            jobID,
            zone: fake.zone,
            machineType: "c3-standard-4",
            sourceImage: "projects/delong-images/global/images/delong-runner-1",
            diskSizeGb: 20,
            maxRunDurationSeconds: maxRun,
            metadata: metadata
        )
    }

    /// A random 32-byte job id in hex.
    static func jobID() -> String {
        (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// Inserts `request` and waits until its operation is DONE.
    func insertAndWait(_ request: InstanceRequest) async throws {
        let operation = try await client.insert(request, requestID: UUID())
        try await client.wait(operation, timeout: .seconds(180))
    }

    /// A raw request to the fake, without the client.
    func raw(
        _ method: HTTPMethod,
        _ path: String,
        headers: [(String, String)] = [],
        body: Data? = nil
    )
        async throws -> (status: Int, json: [String: Any])
    {
        var request = HTTPClientRequest(url: fake.baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(180))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }

    /// Whether a process with `pid` exists (a reaped child no longer does).
    static func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }
}

/// A token source that always hands out the same (unissued) token.
struct FixedToken: AccessTokenProvider {
    let value: String
    func token() async throws(ComputeEngineError) -> String { value }
    func invalidate() async {}
}
