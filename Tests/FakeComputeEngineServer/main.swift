import ComputeEngineFake
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import UnixSignals

/// `fake-compute-engine --key-out FILE --boot FILE`: the FAKE Compute Engine and token endpoint
/// (ComputeEngineFake, development evidence only) in a process of its own, for tests that run the plane against
/// it. In the test process the fake's tasks share a cooperative pool that every other suite loads at once; a
/// loaded run starved it for minutes. Here nothing else runs on its threads.
///
/// - Makes a test service account and writes its key JSON (`token_uri` = this fake) to `--key-out` (0600).
/// - "Boots" each RUNNING instance as the boot image would: `EXECUTABLE agent --job 0x<job-id> --plane
///   <delong-plane> --state-dir ROOT/NAME --data-dir ROOT/NAME/index ARGUMENTS…`, the `delong-agent-secret`
///   metadata item on its stdin and its stderr in `ROOT/NAME.log`. `--boot` names a JSON object
///   `{"executable", "arguments", "root"}`.
/// - Prints `READY http://127.0.0.1:PORT` when both servers listen. `GET PORT/state` answers the fake's
///   addresses and what it holds (instances, deletions, tokens issued, instances created) and what it has seen
///   (every insert body, every boot with its pid) as JSON.
/// - On SIGTERM ends every booted process, then exits.

struct BootConfig: Decodable {
    let executable: String
    let arguments: [String]
    let root: String
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fake-compute-engine: \(message)\n".utf8))
    exit(2)
}

func option(_ name: String) -> String {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else {
        fail("expected \(name) VALUE, found \(arguments.dropFirst())")
    }
    return arguments[index + 1]
}

let keyOut = option("--key-out")
let bootPath = option("--boot")
let config: BootConfig
do { config = try JSONDecoder().decode(BootConfig.self, from: Data(contentsOf: URL(fileURLWithPath: bootPath))) } catch
{
    fail("--boot \(bootPath): expected {\"executable\", \"arguments\", \"root\"}: \(error)")
}

/// Every instance booted so far, with its process id (kept after the instance is gone).
final class BootLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [[String: Any]] = []
    func append(_ name: String, _ pid: Int32) { lock.withLock { entries.append(["name": name, "pid": Int(pid)]) } }
    var all: [[String: Any]] { lock.withLock { entries } }
}
let booted = BootLog()

let boot: FakeComputeEngine.Boot = { name, metadata in
    func value(_ key: String) -> String { metadata.first { $0.key == key }?.value ?? "" }
    let state = config.root + "/" + name
    try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    let log = config.root + "/" + name + ".log"
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: config.executable)
    process.arguments =
        [
            "agent", "--job", "0x" + value("job-id"), "--plane", value("delong-plane"), "--state-dir", state,
            "--data-dir", state + "/index",
        ] + config.arguments
    let input = Pipe()
    process.standardInput = input
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle(forWritingAtPath: log)
    try process.run()
    try input.fileHandleForWriting.write(contentsOf: Data((value("delong-agent-secret") + "\n").utf8))
    try input.fileHandleForWriting.close()
    booted.append(name, process.processIdentifier)
    return process
}

let account: TestServiceAccount
let fake: FakeComputeEngine
do {
    account = try TestServiceAccount()
    fake = try await FakeComputeEngine.start(account: account, boot: boot)
    try account.keyJSON(tokenURI: fake.tokenURI).write(to: URL(fileURLWithPath: keyOut))
    chmod(keyOut, 0o600)
} catch {
    fail("could not start: \(error)")
}

/// The fake's state as JSON (what the in-process tests read through FakeComputeEngine's methods).
func stateJSON() async -> Data {
    let instances: [[String: Any]] = await fake.instances().map { instance in
        [
            "name": instance.name, "status": instance.status,
            "pid": instance.pid.map { Int($0) } ?? NSNull(),
            "bootError": instance.bootError ?? NSNull(),
            "metadataKeys": instance.metadata.map(\.key),
            "labels": instance.labels,
            "maxRunDurationSeconds": instance.maxRunDurationSeconds,
            "requestID": instance.requestID,
            "body": (try? JSONSerialization.jsonObject(with: instance.body)) ?? NSNull(),
        ]
    }
    // Every insert body received, as sent (an instance may be gone by the time a test looks).
    let inserts: [Any] = await fake.received().filter { $0.method == "POST" && $0.path.hasSuffix("/instances") }.map {
        (try? JSONSerialization.jsonObject(with: $0.body)) ?? NSNull()
    }
    let object: [String: Any] = [
        "project": fake.project, "zone": fake.zone, "baseURL": fake.baseURL, "tokenURI": fake.tokenURI,
        "instances": instances, "inserts": inserts, "booted": booted.all,
        "deletions": await fake.deletions().map { ["name": $0.name, "cause": $0.cause.rawValue] },
        "tokensIssued": await fake.tokensIssued(),
        "instancesCreated": await fake.instancesCreated(),
    ]
    return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
}

let router = Router()
router.get("state") { _, _ in
    Response(
        status: .ok,
        headers: [.contentType: "application/json"],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: await stateJSON()))
    )
}
var logger = Logger(label: "fake-compute-engine-control")
logger.logLevel = .critical
let control = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: 0)),
    onServerRunning: { channel in
        FileHandle.standardOutput.write(Data("READY http://127.0.0.1:\(channel.localAddress?.port ?? 0)\n".utf8))
    },
    logger: logger
)
do { try await control.runService(gracefulShutdownSignals: [.sigterm, .sigint]) } catch {
    FileHandle.standardError.write(Data("fake-compute-engine: control server: \(error)\n".utf8))
}
await fake.shutdown()
