import ArgumentParser
import Dispatch
import Foundation
import Glibc
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `delong serve --config FILE --one-process`: the node and both planes in this one process, for the devnet
/// only (the planes are separate trust domains; one address space joins them). Each service is built by the
/// same `assemble` its own command uses and runs as one service of one `ServiceGroup`: a service starts once
/// the one before it is listening, and SIGTERM or SIGINT stops them newest first. Prints what the child mode
/// prints (`SERVING NAME URL pid PID`, then `READY`), with this process's pid for every service.
struct OneProcessServe {
    let plan: [ServePlan.Service]
    let readyTimeout: Double
    let stopTimeout: Double

    /// Every service's chain id, read the way the service itself reads it (`--chain-id`, else the deployment
    /// file's `chainId`: what its token and sign-in domains use, and what each of its RPC endpoints must serve
    /// or it refuses to start). Throws exit 2 unless all of them are the devnet's.
    static func refuseUnlessDevnet(_ plan: [ServePlan.Service], file: String) throws {
        let standIns = Dictionary(uniqueKeysWithValues: plan.map { ($0.name, "https://127.0.0.1:1") })
        for service in plan {
            let arguments = ServePlan.substitute(service.options, urls: standIns)
            let sync: SyncOptions
            switch service.name {
            case "node": sync = try NodeRunCommand.parse(arguments).options
            case "privacy": sync = try PrivacyServeCommand.parse(arguments).sync
            default: sync = try ComputeServeCommand.parse(arguments).sync
            }
            let deployment = try CLIFailure.reporting("deployment file \(sync.contracts)") {
                try InputFile.json(
                    InputFile.read(sync.contracts, what: "deployment"),
                    path: sync.contracts,
                    what: "deployment"
                )
                    as? [String: Any]
            }
            let chainID = try sync.configuredChainID(deploymentValue: deployment?["chainId"])
            guard chainID == SyncOptions.devnetChainID else {
                throw CLIFailure.malformed(
                    "\(file): --one-process runs the Privacy Plane and the Computing Plane in one process, so it is refused except on the devnet: expected chain id \(SyncOptions.devnetChainID), found \(chainID) for \(service.name) (\(sync.chainId != nil ? "--chain-id" : "the deployment file \(sync.contracts)")); run without --one-process"
                )
            }
        }
    }

    /// The exit status: 0 stopped on a signal, 1 a service failed, stopped on its own or was not ready in time.
    func run() async -> Int32 {
        ServerAssembly.bootstrapLogging()
        let logger = ServerAssembly.serviceLogger(label: "delong.serve")
        let board = ServeBoard(names: plan.map(\.name))
        var hangups: [UnixSignalsSequence] = []
        for _ in plan { hangups.append(await ServerAssembly.trapHangups()) }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        for (position, service) in plan.enumerated() {
            services.append(
                .init(
                    service: StagedService(
                        service: service,
                        after: position == 0 ? nil : plan[position - 1].name,
                        board: board,
                        hangups: hangups[position]
                    ),
                    successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup,
                    serviceName: service.name
                )
            )
        }
        // Last, so the group's shutdown (newest first) ends it before any service.
        services.append(
            .init(
                service: ReadyWatch(board: board, timeout: readyTimeout),
                successTerminationBehavior: .gracefullyShutdownGroup,
                serviceName: "ready-watch"
            )
        )
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(stopTimeout * Double(plan.count))
        let group = ServiceGroup(configuration: configuration)
        // SIGTERM and SIGINT are ignored from here on, and each starts the group's shutdown, newest first (a
        // signal before the group runs is remembered by it).
        let names = plan.reversed().map(\.name).joined(separator: ", ")
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                ServeBoard.say("signal \(number): stopping \(names)")
                Task { await group.triggerGracefulShutdown() }
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        do { try await group.run() } catch { board.fail("the services stopped with \(error)") }
        return board.failed ? 1 : 0
    }
}

/// What the services of one process tell each other: who is listening where, and whether one failed.
final class ServeBoard: Sendable {
    private struct State {
        var urls: [String: String] = [:]
        var failure: String?
    }

    let names: [String]
    private let state = Mutex(State())

    init(names: [String]) { self.names = names }

    /// A service's READY line: its URL is known; `SERVING` (and `READY` once all are) on stdout.
    func announce(_ name: String, readyLine: String) {
        guard let url = readyLine.split(separator: " ").dropFirst().first.map(String.init) else { return }
        let all = state.withLock { state -> Bool? in
            guard state.urls[name] == nil else { return nil }
            state.urls[name] = url
            return state.urls.count == names.count
        }
        guard let all else { return }
        var lines = "SERVING \(name) \(url) pid \(getpid())\n"
        if all { lines += "READY\n" }
        FileHandle.standardOutput.write(Data(lines.utf8))
    }

    func url(of name: String) -> String? { state.withLock { $0.urls[name] } }
    var urls: [String: String] { state.withLock { $0.urls } }
    var failed: Bool { state.withLock { $0.failure != nil } }

    /// Records the first failure and says it (later ones are its consequences).
    func fail(_ message: String) {
        let first = state.withLock { state -> Bool in
            guard state.failure == nil else { return false }
            state.failure = message
            return true
        }
        if first { Self.say(message) }
    }

    static func say(_ line: String) { FileHandle.standardError.write(Data("delong: serve: \(line)\n".utf8)) }
}

/// One service of the plan: waits until the service before it is listening, builds itself with its command's
/// own `assemble` (its options' `${name}` now that URL), and serves until the group shuts down.
struct StagedService: Service {
    let service: ServePlan.Service
    let after: String?
    let board: ServeBoard
    let hangups: UnixSignalsSequence

    func run() async throws {
        if let after {
            let board = self.board
            let started: Bool =
                (try? await cancelWhenGracefulShutdown {
                    while board.url(of: after) == nil { try await Task.sleep(for: .milliseconds(20)) }
                    return true
                }) ?? false
            guard started, !Task.isShuttingDownGracefully else { return }
        }
        let name = service.name
        let arguments = ServePlan.substitute(service.options, urls: board.urls)
        let logger = ServerAssembly.serviceLogger(label: "delong.\(name)")
        let board = self.board
        let announce: @Sendable (String) -> Void = { board.announce(name, readyLine: $0) }
        do {
            let server: ServerAssembly.Server
            switch name {
            case "node":
                server = try await NodeRunCommand.parse(arguments)
                    .assemble(logger: logger, hangups: hangups, announce: announce)
            case "privacy":
                server = try await PrivacyServeCommand.parse(arguments)
                    .assemble(logger: logger, hangups: hangups, announce: announce)
            default:
                let command = try ComputeServeCommand.parse(arguments)
                server = try await command.assemble(
                    logger: logger,
                    attester: try command.agentEvidence.makeAttester(),
                    hangups: hangups,
                    announce: announce
                )
            }
            try await server.run()
        } catch {
            board.fail("\(name) failed (\(Self.describe(error))); stopping the others")
            throw error
        }
        if !Task.isShuttingDownGracefully { board.fail("\(name) stopped on its own; stopping the others") }
    }

    /// An exit code (its message is already on stderr) or the error itself.
    static func describe(_ error: any Error) -> String {
        if let code = error as? ExitCode { return "exit \(code.rawValue)" }
        return "\(error)"
    }
}

/// Ends the group when a service is not listening within `timeout` seconds of the one before it.
struct ReadyWatch: Service {
    let board: ServeBoard
    let timeout: Double

    func run() async throws {
        var since = ContinuousClock.now
        for name in board.names {
            while board.url(of: name) == nil {
                guard !Task.isShuttingDownGracefully else { return }
                if ContinuousClock.now - since > .seconds(timeout) {
                    board.fail("\(name) was not listening within \(Int(timeout)) s; stopping")
                    return
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
            since = ContinuousClock.now
        }
        try? await gracefulShutdown()
    }
}
