import ArgumentParser
import Dispatch
import Foundation
import Glibc
import Sampling
import Synchronization

/// `delong serve --config FILE`: the light-client node, the Privacy Plane and the Computing Plane of one
/// operator, each as its own child process (the planes are separate trust domains: a process boundary, not a
/// module boundary), started in order, watched, and stopped together.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Start the node, the Privacy Plane and the Computing Plane from one config file, each as a child process.",
        discussion: """
            FILE is JSON (docs/operators.md): {"version": 1, "chain": {…}, "node": {…}, "privacy": {…}, \
            "compute": {…}}. Each section's keys are the long options of `delong node run`, `delong privacy \
            serve` and `delong compute serve` ("data-dir": "/var/lib/delong/node" is --data-dir …; true is a \
            flag; an array repeats the option); "chain" goes to every service. "${node}" and "${privacy}" in a \
            value become those services' URLs once they are ready, e.g. "privacy-plane": "${privacy}". Children \
            run in FILE's folder, so relative paths are relative to it. Every section is checked before anything \
            starts. Prints `SERVING NAME URL pid PID` per service and then `READY`. SIGTERM or SIGINT stops them \
            newest first (SIGKILL after --stop-timeout); if one exits on its own, the others are stopped too. \
            Exit codes: 0 stopped on a signal, 1 a service exited or did not become ready, 2 malformed config, \
            3 the config could not be read. With --one-process the three run in this one process instead (same \
            output, this pid on every SERVING line; SIGTERM stops them newest first; a service that fails or \
            stops stops the others, exit 1): for the devnet only, so refused (exit 2, before anything starts) \
            unless every service's chain id (--chain-id, else its deployment file's chainId, which each of its \
            RPC endpoints must serve) is 31337.
            """
    )

    @Option(help: "The config file (JSON).") var config: String
    @Option(help: "Seconds each service may take to print READY.") var readyTimeout: Double = 180
    @Option(help: "Seconds each service may take to stop on SIGTERM before SIGKILL.") var stopTimeout: Double = 30
    @Flag(help: "Run the node and both planes in this one process: the devnet (chain id 31337) only.")
    var oneProcess = false

    func run() async throws {
        let plan = try CLIFailure.reporting("serve") { try ServePlan.load(path: config) }
        let folder = (URL(fileURLWithPath: config).standardizedFileURL.deletingLastPathComponent()).path
        if oneProcess {
            // Relative paths are the config folder's, as for the children of the other mode.
            guard FileManager.default.changeCurrentDirectoryPath(folder) else {
                FileHandle.standardError.write(Data("delong: serve: cannot enter \(folder)\n".utf8))
                throw ExitCode(ExitCodes.ioError)
            }
            try CLIFailure.reporting("serve") { try OneProcessServe.refuseUnlessDevnet(plan, file: config) }
            let status = await OneProcessServe(plan: plan, readyTimeout: readyTimeout, stopTimeout: stopTimeout).run()
            if status != 0 { throw ExitCode(status) }
            return
        }
        let executable: String
        do { executable = try SandboxRunCommand.ownExecutable() } catch {
            FileHandle.standardError.write(Data("delong: serve: \(error)\n".utf8))
            throw ExitCode(ExitCodes.systemError)
        }
        let supervisor = ServeSupervisor(
            executable: executable,
            folder: folder,
            readyTimeout: readyTimeout,
            stopTimeout: stopTimeout
        )
        let status = supervisor.run(plan)
        if status != 0 { throw ExitCode(status) }
    }
}

/// What `serve` starts: the config file turned into each service's arguments, checked by the service's own
/// parser before anything starts.
enum ServePlan {
    struct Service {
        var name: String
        var command: [String]
        var options: [String]
    }

    /// The services in start order, with the subcommand that runs each and the parser that checks its options.
    static let known: [(name: String, command: [String], check: @Sendable ([String]) throws -> Void)] = [
        ("node", ["node", "run"], { _ = try NodeRunCommand.parse($0) }),
        ("privacy", ["privacy", "serve"], { _ = try PrivacyServeCommand.parse($0) }),
        ("compute", ["compute", "serve"], { _ = try ComputeServeCommand.parse($0) }),
    ]

    static func load(path: String) throws -> [Service] {
        let data = try InputFile.read(path, what: "config", limit: 1 << 20)
        guard let object = (try? JSONDecoder().decode(JSONValue.self, from: data))?.object else {
            throw CLIFailure.malformed("\(path): expected a JSON object")
        }
        return try plan(object, file: path)
    }

    static func plan(_ object: [String: JSONValue], file: String) throws -> [Service] {
        let names = known.map(\.name)
        if let unknown = object.keys.sorted().first(where: { !(["version", "chain"] + names).contains($0) }) {
            throw CLIFailure.malformed(
                "\(file): unknown key \"\(unknown)\" (expected version, chain, \(names.joined(separator: ", ")))"
            )
        }
        guard case .number(_, "1") = object["version"] else {
            throw CLIFailure.malformed(
                "\(file): version: expected 1, found \(DatasetPolicy.describe(object["version"]))"
            )
        }
        let chain = try options(object["chain"] ?? .object([:]), at: "chain", file: file)
        var services: [Service] = []
        for (name, command, check) in known {
            guard let section = object[name] else { continue }
            let service = Service(
                name: name,
                command: command,
                options: chain + (try options(section, at: name, file: file))
            )
            for reference in references(in: service.options) where !services.contains(where: { $0.name == reference }) {
                throw CLIFailure.malformed(
                    "\(file): \(name): ${\(reference)} names no service started before it (started before: \(services.isEmpty ? "none" : services.map(\.name).joined(separator: ", ")))"
                )
            }
            // The URLs of the services before it are not known yet: a stand-in satisfies the parser.
            let standIns = Dictionary(uniqueKeysWithValues: services.map { ($0.name, "https://127.0.0.1:1") })
            do {
                try check(substitute(service.options, urls: standIns))
            } catch {
                let message = NodeRunCommand.message(for: error).split(separator: "\n").first.map(String.init)
                throw CLIFailure.malformed("\(file): \(name): \(message ?? "invalid options")")
            }
            services.append(service)
        }
        guard !services.isEmpty else {
            throw CLIFailure.malformed("\(file): expected at least one of \(names.joined(separator: ", "))")
        }
        return services
    }

    /// A section's keys as long options, in key order: "x": "v" is --x v, true is --x, false is nothing, an
    /// array repeats the option, a number is written as the file spells an integer.
    static func options(_ value: JSONValue, at path: String, file: String) throws -> [String] {
        guard let section = value.object else {
            throw CLIFailure.malformed(
                "\(file): \(path): expected an object of options, found \(DatasetPolicy.describe(value))"
            )
        }
        var arguments: [String] = []
        for key in section.keys.sorted() {
            guard let first = key.first, first.isLetter,
                key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
            else {
                throw CLIFailure.malformed(
                    "\(file): \(path): expected an option's long name (letters, digits, -), found \"\(key)\""
                )
            }
            for item in section[key]!.array ?? [section[key]!] {
                switch item {
                case .bool(let flag): if flag { arguments.append("--\(key)") }
                case .string(let text): arguments += ["--\(key)", text]
                case .number(let number, let integer):
                    arguments += ["--\(key)", integer.isEmpty ? "\(number)" : integer]
                default:
                    throw CLIFailure.malformed(
                        "\(file): \(path).\(key): expected a string, number, boolean or an array of them, found \(DatasetPolicy.describe(item))"
                    )
                }
            }
        }
        return arguments
    }

    static func references(in options: [String]) -> [String] {
        known.map(\.name).filter { name in options.contains { $0.contains("${\(name)}") } }
    }

    static func substitute(_ options: [String], urls: [String: String]) -> [String] {
        options.map { option in
            urls.reduce(option) { text, entry in text.replacingOccurrences(of: "${\(entry.key)}", with: entry.value) }
        }
    }
}

/// Starts the services in order, each once the one before printed READY, then watches them: the first
/// signal or exit stops the rest.
final class ServeSupervisor: Sendable {
    enum Event {
        case ready(String, String)
        case exited(String, Int32)
        case signal(Int32)
    }

    let executable: String
    let folder: String
    let readyTimeout: Double
    let stopTimeout: Double
    private let events = Mutex<[Event]>([])
    private let posted = DispatchSemaphore(value: 0)

    init(executable: String, folder: String, readyTimeout: Double, stopTimeout: Double) {
        self.executable = executable
        self.folder = folder
        self.readyTimeout = readyTimeout
        self.stopTimeout = stopTimeout
    }

    /// The exit status `serve` ends with.
    func run(_ plan: [ServePlan.Service]) -> Int32 {
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in post(.signal(number)) }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        var running: [(name: String, process: Process)] = []
        var urls: [String: String] = [:]
        for service in plan {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = service.command + ServePlan.substitute(service.options, urls: urls)
            process.currentDirectoryURL = URL(fileURLWithPath: folder)
            let output = Pipe()
            process.standardOutput = output
            let name = service.name
            process.terminationHandler = { [self] finished in post(.exited(name, finished.terminationStatus)) }
            do {
                try process.run()
            } catch {
                say("cannot start \(name): \(error)")
                stop(running)
                return 1
            }
            running.append((name, process))
            forwardLines(of: output, from: name)
            switch next(timeout: readyTimeout) {
            case .ready(_, let url)?:
                urls[name] = url
                emit("SERVING \(name) \(url) pid \(process.processIdentifier)")
            case .exited(let who, let status)?:
                say("\(who) exited with status \(status) before it was ready; stopping the others")
                stop(running)
                return 1
            case .signal?:
                stop(running)
                return 0
            case nil:
                say("\(name) printed no READY within \(Int(readyTimeout)) s; stopping")
                stop(running)
                return 1
            }
        }
        emit("READY")
        while true {
            switch next(timeout: nil) {
            case .signal(let number)?:
                say("signal \(number): stopping \(running.reversed().map(\.name).joined(separator: ", "))")
                stop(running)
                return 0
            case .exited(let who, let status)?:
                say("\(who) exited with status \(status); stopping the others")
                stop(running)
                return 1
            case .ready?, nil:
                continue
            }
        }
    }

    /// SIGTERM to each service, newest first; SIGKILL to one that outlives `stopTimeout`.
    private func stop(_ running: [(name: String, process: Process)]) {
        for (name, process) in running.reversed() where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(stopTimeout)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning {
                say("\(name) did not stop within \(Int(stopTimeout)) s: SIGKILL")
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
        }
    }

    /// Reads a service's stdout on a thread of its own: its READY line becomes an event; every other line
    /// is passed on, prefixed with the service's name.
    private func forwardLines(of pipe: Pipe, from name: String) {
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            var pending: [UInt8] = []
            var announced = false
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending += chunk
                while let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[..<end], as: UTF8.self)
                    pending.removeSubrange(...end)
                    if !announced, line.hasPrefix("READY "), let url = line.split(separator: " ").dropFirst().first {
                        announced = true
                        post(.ready(name, String(url)))
                    } else {
                        emit("\(name): \(Terminal.safe(line))")
                    }
                }
            }
        }
    }

    private func post(_ event: Event) {
        events.withLock { $0.append(event) }
        posted.signal()
    }

    private func next(timeout: Double?) -> Event? {
        let waited =
            timeout.map { posted.wait(timeout: .now() + $0) }
            ?? {
                posted.wait()
                return .success
            }()
        guard waited == .success else { return nil }
        return events.withLock { $0.isEmpty ? nil : $0.removeFirst() }
    }

    private func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    private func say(_ line: String) { FileHandle.standardError.write(Data("delong: serve: \(line)\n".utf8)) }
}
