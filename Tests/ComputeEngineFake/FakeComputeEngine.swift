import Crypto
import CryptoExtras
public import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A FAKE of Google's OAuth token endpoint and of the Compute Engine v1 zonal instance and operation calls, built
/// to the published request and response shapes (design note production-backends §3), on 127.0.0.1 with an
/// ephemeral port. It is development evidence only: no TDX, no images, no real zones.
///
/// - `POST /token` takes the jwt-bearer grant and checks the assertion's RS256 signature against the test
///   account's public key and its claims (`iss`, `aud` = this token URI, `scope` with compute, `exp` in the
///   future and at most an hour after `iat`, `iat` not ahead of now by more than a minute). It answers
///   `{access_token, expires_in, token_type}` or `{"error","error_description"}`.
/// - Every compute call needs `Authorization: Bearer <issued token>` (401 in Google's error shape otherwise).
/// - `instances.insert` checks the body strictly (400 naming the field), keeps `requestId`s (the same id returns
///   the same operation and makes no second instance; the same name with another id is 409 `alreadyExists`),
///   and moves the instance PROVISIONING → STAGING → RUNNING. On RUNNING it calls `boot` with the name and the
///   metadata items; the process `boot` returns is the "VM". Deleting the instance, or its `maxRunDuration`
///   passing (`instanceTerminationAction: DELETE`), sends that process SIGTERM, then SIGKILL after a grace, and
///   removes the instance.
/// - `instances.get/list/delete`, `zoneOperations.get/wait` (wait returns when DONE or after ``waitCap``).
public final class FakeComputeEngine: Sendable {
    /// One metadata item as the fake received it.
    public struct MetadataItem: Sendable, Hashable {
        public let key: String
        public let value: String
    }

    /// Starts the "VM": given the instance name and its metadata items, returns a process already launched.
    public typealias Boot = @Sendable (_ name: String, _ metadata: [MetadataItem]) throws -> Process

    /// One request as the fake received it (for tests to read independently of the client).
    public struct Received: Sendable {
        public let method: String
        public let path: String
        public let query: String?
        public let authorization: String?
        public let contentType: String?
        public let body: Data
    }

    /// Why an instance went away.
    public enum DeletionCause: String, Sendable, Hashable {
        /// `instances.delete`.
        case api
        /// Its `maxRunDuration` passed (`instanceTerminationAction: DELETE`).
        case maxRunDuration
    }

    /// An instance as the fake holds it.
    public struct FakeInstance: Sendable {
        public let name: String
        public let status: String
        public let createdAt: Date
        public let labels: [String: String]
        public let metadata: [MetadataItem]
        public let maxRunDurationSeconds: Int
        public let requestID: String
        /// The booted process's id, once RUNNING.
        public let pid: Int32?
        /// What `boot` threw, if it did.
        public let bootError: String?
        /// The insert body exactly as received.
        public let body: Data
    }

    public let project: String
    public let zone: String
    /// `http://127.0.0.1:PORT/token`: the `token_uri` to put in the key JSON.
    public let tokenURI: String
    /// `http://127.0.0.1:PORT/compute/v1`: the client's base URL.
    public let baseURL: String
    /// The fake's state; tests read and steer it through the methods below.
    let state: State
    private let server: Task<Void, any Error>

    private init(project: String, zone: String, port: Int, state: State, server: Task<Void, any Error>) {
        self.project = project
        self.zone = zone
        self.tokenURI = "http://127.0.0.1:\(port)/token"
        self.baseURL = "http://127.0.0.1:\(port)/compute/v1"
        self.state = state
        self.server = server
    }

    /// Starts the fake for `account` in `project`/`zone`. `stepDelay` is each status step's length
    /// (PROVISIONING → STAGING → RUNNING), `killGrace` the time between SIGTERM and SIGKILL, `waitCap` how long
    /// `operations.wait` holds before answering with an operation that is not DONE yet, `tokenLifetime` the
    /// `expires_in` of issued tokens.
    public static func start(
        account: TestServiceAccount,
        project: String? = nil,
        zone: String = "us-central1-a",
        stepDelay: Duration = .milliseconds(150),
        killGrace: Duration = .seconds(2),
        waitCap: Duration = .seconds(1),
        tokenLifetime: Int = 3600,
        boot: @escaping Boot
    ) async throws -> FakeComputeEngine {
        let project = project ?? account.projectID
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let state = State(
            account: account,
            project: project,
            zone: zone,
            stepDelay: stepDelay,
            killGrace: killGrace,
            waitCap: waitCap,
            tokenLifetime: tokenLifetime,
            boot: boot
        )
        let router = Router()
        Routes(state: state).add(to: router)
        // Hummingbird logs its cancellation at shutdown as errors; the fake's own answers are what tests read.
        var logger = Logger(label: "fake-compute-engine")
        logger.logLevel = .critical
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: logger
        )
        // The server's tasks (and the state actor) run on the fake's own thread: in a test process every suite
        // loads the cooperative pool, and a loaded run starved the fake there past the callers' deadlines.
        let server = Task(executorPreference: state.executor) { try await app.runService(gracefulShutdownSignals: []) }
        var port = 0
        for await bound in ports {
            port = bound
            break
        }
        guard port > 0 else {
            server.cancel()
            throw FakeComputeEngineError("the fake did not bind a port")
        }
        await state.setTokenURI("http://127.0.0.1:\(port)/token", baseURL: "http://127.0.0.1:\(port)/compute/v1")
        return FakeComputeEngine(project: project, zone: zone, port: port, state: state, server: server)
    }

    /// Runs `body` with a started fake and always shuts it down (every booted process ended) afterwards.
    public static func with<T: Sendable>(
        account: TestServiceAccount,
        zone: String = "us-central1-a",
        stepDelay: Duration = .milliseconds(150),
        killGrace: Duration = .seconds(2),
        waitCap: Duration = .seconds(1),
        tokenLifetime: Int = 3600,
        boot: @escaping Boot,
        _ body: (FakeComputeEngine) async throws -> T
    ) async throws -> T {
        let fake = try await start(
            account: account,
            zone: zone,
            stepDelay: stepDelay,
            killGrace: killGrace,
            waitCap: waitCap,
            tokenLifetime: tokenLifetime,
            boot: boot
        )
        do {
            let result = try await body(fake)
            await fake.shutdown()
            return result
        } catch {
            await fake.shutdown()
            throw error
        }
    }

    /// Ends every booted process and stops the server.
    public func shutdown() async {
        await state.shutdown()
        server.cancel()
        _ = try? await server.value
        state.executor.finish()
    }

    // MARK: - Reading and steering the fake

    /// Every request received, in order.
    public func received() async -> [Received] { await state.received }

    /// The instances that exist now, by name.
    public func instances() async -> [FakeInstance] { await state.snapshots() }

    /// The instance named `name`, if it exists.
    public func instance(_ name: String) async -> FakeInstance? { await state.snapshot(name) }

    /// Instances removed so far and why, in order.
    public func deletions() async -> [(name: String, cause: DeletionCause)] { await state.deletions }

    /// How many tokens the token endpoint issued.
    public func tokensIssued() async -> Int { await state.tokensIssued }

    /// How many instances insert created (a repeated request id creates none).
    public func instancesCreated() async -> Int { await state.instancesCreated }

    /// Moves `name`'s creation time `seconds` into the past (as if it had been running that long), without
    /// firing its `maxRunDuration`.
    public func backdate(_ name: String, bySeconds seconds: Double) async { await state.backdate(name, by: seconds) }

    /// Does now what Compute Engine does when `name`'s `maxRunDuration` passes.
    public func expireNow(_ name: String) async { await state.expire(name) }

    /// The next insert's operation finishes with this error instead of creating the instance (as a full zone's
    /// does: `ZONE_RESOURCE_POOL_EXHAUSTED`). With `httpStatus`, insert itself answers that status in Google's
    /// error shape with `code` as the reason.
    public func failNextInsert(
        code: String = "ZONE_RESOURCE_POOL_EXHAUSTED",
        message: String = "The zone does not have enough resources available to fulfill the request.",
        httpStatus: Int? = nil
    ) async {
        await state.setInsertFailure(.init(code: code, message: message, httpStatus: httpStatus))
    }

    /// The next `count` token requests are answered 503 `{"error": error}` (a transient refusal).
    public func failNextTokenRequests(_ count: Int, error: String = "temporarily_unavailable") async {
        await state.setTokenFailures(count, error: error)
    }
}

/// A failure of the fake itself (not an answer it gives).
public struct FakeComputeEngineError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A launched process the fake owns (Process is used from the fake's actor only).
final class BootedProcess: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}

extension FakeComputeEngine {
    struct InsertFailure: Sendable {
        let code: String
        let message: String
        let httpStatus: Int?
    }

    struct Operation: Sendable {
        let name: String
        let id: String
        let type: String
        let target: String
        let targetID: String
        let insertTime: Date
        var status: String
        var endTime: Date?
        var errorCode: String?
        var errorMessage: String?
    }

    struct Record: Sendable {
        let name: String
        let id: String
        var status: String
        var createdAt: Date
        let labels: [String: String]
        let metadata: [MetadataItem]
        let maxRunDurationSeconds: Int
        let requestID: String
        let body: Data
        var process: BootedProcess?
        var bootError: String?
        var runningSince: Date?
    }

    /// An answer: status and JSON.
    struct Answer: Sendable {
        let status: HTTPResponse.Status
        let json: Data

        static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Answer {
            let data =
                (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
                ?? Data("{}".utf8)
            return Answer(status: status, json: data)
        }

        /// Google's error shape.
        static func googleError(_ code: Int, reason: String, message: String, status: String? = nil) -> Answer {
            var error: [String: Any] = [
                "code": code, "message": message,
                "errors": [["domain": "global", "reason": reason, "message": message]],
            ]
            if let status { error["status"] = status }
            return .json(["error": error], status: HTTPResponse.Status(code: code))
        }

        /// The token endpoint's error shape.
        static func tokenError(
            _ error: String,
            _ description: String,
            status: HTTPResponse.Status = .badRequest
        )
            -> Answer
        {
            .json(["error": error, "error_description": description], status: status)
        }
    }
}

// MARK: - State

extension FakeComputeEngine {
    actor State {
        let account: TestServiceAccount
        let project: String
        let zone: String
        let stepDelay: Duration
        let killGrace: Duration
        let waitCap: Duration
        let tokenLifetime: Int
        let boot: Boot
        var tokenURI = ""
        var baseURL = ""

        var received: [Received] = []
        var tokens: [String: Date] = [:]
        var tokensIssued = 0
        var tokenFailures = 0
        var tokenFailureError = "temporarily_unavailable"
        var records: [String: Record] = [:]
        var operations: [String: Operation] = [:]
        var insertRequests: [String: String] = [:]  // requestId -> operation name
        var deleteRequests: [String: String] = [:]
        var deletions: [(name: String, cause: DeletionCause)] = []
        var instancesCreated = 0
        var insertFailure: InsertFailure?
        var tasks: [Task<Void, Never>] = []
        var nextID: UInt64 = 1_000_000_000_000
        /// The fake's own thread, on which this actor and the server's tasks run.
        let executor = ThreadTaskExecutor(name: "fake-compute-engine")
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

        init(
            account: TestServiceAccount,
            project: String,
            zone: String,
            stepDelay: Duration,
            killGrace: Duration,
            waitCap: Duration,
            tokenLifetime: Int,
            boot: @escaping Boot
        ) {
            self.account = account
            self.project = project
            self.zone = zone
            self.stepDelay = stepDelay
            self.killGrace = killGrace
            self.waitCap = waitCap
            self.tokenLifetime = tokenLifetime
            self.boot = boot
        }

        func setTokenURI(_ uri: String, baseURL: String) {
            self.tokenURI = uri
            self.baseURL = baseURL
        }
        func setInsertFailure(_ failure: InsertFailure) { insertFailure = failure }
        func setTokenFailures(_ count: Int, error: String) {
            tokenFailures = count
            tokenFailureError = error
        }
        func record(_ request: Received) { received.append(request) }

        func makeID() -> String {
            nextID += 1
            return String(nextID)
        }

        var zonePath: String { "projects/\(project)/zones/\(zone)" }
        func instanceLink(_ name: String) -> String { "\(baseURL)/\(zonePath)/instances/\(name)" }

        // MARK: Token endpoint

        func exchange(form: [String: String]) -> Answer {
            if tokenFailures > 0 {
                tokenFailures -= 1
                return .tokenError(
                    tokenFailureError,
                    "The service is currently unavailable.",
                    status: .serviceUnavailable
                )
            }
            guard form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" else {
                return .tokenError("unsupported_grant_type", "Invalid grant_type: \(form["grant_type"] ?? "")")
            }
            guard let assertion = form["assertion"] else {
                return .tokenError("invalid_request", "Missing required parameter: assertion")
            }
            switch JWTCheck.verify(
                assertion,
                publicKey: account.publicKey,
                keyID: account.keyID,
                issuer: account.email,
                audience: tokenURI,
                now: Date()
            ) {
            case .failure(let refusal):
                return .tokenError("invalid_grant", refusal.description)
            case .success:
                let token =
                    "ya29.fake-" + (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
                tokens[token] = Date().addingTimeInterval(TimeInterval(tokenLifetime))
                tokensIssued += 1
                return .json(["access_token": token, "expires_in": tokenLifetime, "token_type": "Bearer"])
            }
        }

        /// nil when the bearer token is one this fake issued and still valid; else the 401 to answer.
        func authorize(_ header: String?) -> Answer? {
            guard let header, header.hasPrefix("Bearer ") else {
                return .googleError(
                    401,
                    reason: "required",
                    message: "Request is missing required authentication credential. Expected OAuth 2 access token.",
                    status: "UNAUTHENTICATED"
                )
            }
            let token = String(header.dropFirst("Bearer ".count))
            guard let expiry = tokens[token], expiry > Date() else {
                return .googleError(
                    401,
                    reason: "authError",
                    message: "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                    status: "UNAUTHENTICATED"
                )
            }
            return nil
        }

        func checkScope(project p: String, zone z: String) -> Answer? {
            if p != project {
                return .googleError(404, reason: "notFound", message: "The resource 'projects/\(p)' was not found")
            }
            if z != zone {
                return .googleError(
                    404,
                    reason: "notFound",
                    message: "The resource 'projects/\(p)/zones/\(z)' was not found"
                )
            }
            return nil
        }

        // MARK: Instances

        func insert(body: Data, requestID: String?) -> Answer {
            if let requestID {
                guard let uuid = UUID(uuidString: requestID), uuid.uuidString != "00000000-0000-0000-0000-000000000000"
                else {
                    return .googleError(
                        400,
                        reason: "invalid",
                        message: "Invalid value for field 'requestId': '\(requestID)'. Must be a UUID."
                    )
                }
                if let op = insertRequests[requestID.lowercased()], let operation = operations[op] {
                    return .json(json(operation))
                }
            }
            let parsed: InsertBody
            switch InsertBody.check(body, zone: zone) {
            case .failure(let refusal):
                return .googleError(400, reason: "invalid", message: refusal.description)
            case .success(let value):
                parsed = value
            }
            if records[parsed.name] != nil {
                return .googleError(
                    409,
                    reason: "alreadyExists",
                    message: "The resource '\(zonePath)/instances/\(parsed.name)' already exists"
                )
            }
            if let failure = insertFailure {
                insertFailure = nil
                if let status = failure.httpStatus {
                    return .googleError(status, reason: failure.code, message: failure.message)
                }
                var operation = newOperation(type: "insert", target: parsed.name, targetID: makeID())
                operation.status = "DONE"
                operation.endTime = Date()
                operation.errorCode = failure.code
                operation.errorMessage = failure.message
                operations[operation.name] = operation
                if let requestID { insertRequests[requestID.lowercased()] = operation.name }
                return .json(json(operation))
            }
            let id = makeID()
            records[parsed.name] = Record(
                name: parsed.name,
                id: id,
                status: "PROVISIONING",
                createdAt: Date(),
                labels: parsed.labels,
                metadata: parsed.metadata,
                maxRunDurationSeconds: parsed.maxRunDurationSeconds,
                requestID: requestID ?? "",
                body: body
            )
            instancesCreated += 1
            let operation = newOperation(type: "insert", target: parsed.name, targetID: id)
            operations[operation.name] = operation
            if let requestID { insertRequests[requestID.lowercased()] = operation.name }
            let step = stepDelay
            tasks.append(
                Task {
                    await sleepOffPool(for: step)
                    self.advance(parsed.name, id: id, to: "STAGING")
                    await sleepOffPool(for: step)
                    self.advance(parsed.name, id: id, to: "RUNNING", finishing: operation.name)
                }
            )
            return .json(json(operation))
        }

        func newOperation(type: String, target: String, targetID: String) -> Operation {
            Operation(
                name:
                    "operation-\(Int(Date().timeIntervalSince1970 * 1000))-\(UUID().uuidString.prefix(13).lowercased())",
                id: makeID(),
                type: type,
                target: target,
                targetID: targetID,
                insertTime: Date(),
                status: "RUNNING"
            )
        }

        func finish(_ operationName: String) {
            operations[operationName]?.status = "DONE"
            operations[operationName]?.endTime = Date()
        }

        func advance(_ name: String, id: String, to status: String, finishing operationName: String? = nil) {
            guard var record = records[name], record.id == id, record.status != "STOPPING" else { return }
            record.status = status
            if status == "RUNNING" {
                record.runningSince = Date()
                do {
                    let process = try boot(name, record.metadata)
                    record.process = BootedProcess(process)
                } catch {
                    record.bootError = "\(error)"
                }
                let seconds = record.maxRunDurationSeconds
                tasks.append(
                    Task {
                        await sleepOffPool(for: .seconds(seconds))
                        await self.expire(name, id: id)
                    }
                )
            }
            records[name] = record
            if let operationName { finish(operationName) }
        }

        func expire(_ name: String, id: String? = nil) async {
            guard let record = records[name], id == nil || record.id == id, record.status != "STOPPING" else {
                return
            }
            let operation = newOperation(type: "delete", target: name, targetID: record.id)
            operations[operation.name] = operation
            await remove(name, cause: .maxRunDuration, operation: operation.name)
        }

        func get(_ name: String) -> Answer {
            guard let record = records[name] else {
                return .googleError(
                    404,
                    reason: "notFound",
                    message: "The resource '\(zonePath)/instances/\(name)' was not found"
                )
            }
            return .json(json(record))
        }

        func delete(_ name: String, requestID: String?) -> Answer {
            if let requestID, let op = deleteRequests[requestID.lowercased()], let operation = operations[op] {
                return .json(json(operation))
            }
            guard let record = records[name] else {
                return .googleError(
                    404,
                    reason: "notFound",
                    message: "The resource '\(zonePath)/instances/\(name)' was not found"
                )
            }
            let operation = newOperation(type: "delete", target: name, targetID: record.id)
            operations[operation.name] = operation
            if let requestID { deleteRequests[requestID.lowercased()] = operation.name }
            if record.status != "STOPPING" {
                tasks.append(Task { await self.remove(name, cause: .api, operation: operation.name) })
            } else {
                // A delete already under way: this operation ends with it.
                tasks.append(
                    Task {
                        while self.records[name] != nil { await sleepOffPool(for: .milliseconds(20)) }
                        self.finish(operation.name)
                    }
                )
            }
            return .json(json(operation))
        }

        /// STOPPING, the process ended (SIGTERM, then SIGKILL after the grace), the instance removed, the
        /// operation DONE.
        func remove(_ name: String, cause: DeletionCause, operation: String) async {
            guard var record = records[name], record.status != "STOPPING" else { return }
            record.status = "STOPPING"
            records[name] = record
            if let booted = record.process { await terminate(booted, grace: killGrace) }
            records[name] = nil
            deletions.append((name, cause))
            finish(operation)
            // Deleted before it reached RUNNING: its insert is over too (Compute Engine ends it DONE, as the
            // instance was made), so a caller waiting on it is not left waiting.
            for (key, other) in operations where other.type == "insert" && other.targetID == record.id {
                if other.status != "DONE" { finish(key) }
            }
        }

        func terminate(_ booted: BootedProcess, grace: Duration) async {
            let process = booted.process
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGTERM)
            let clock = ContinuousClock()
            let deadline = clock.now + grace
            while process.isRunning && clock.now < deadline { await sleepOffPool(for: .milliseconds(20)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            let reapDeadline = clock.now + .seconds(10)
            while process.isRunning && clock.now < reapDeadline { await sleepOffPool(for: .milliseconds(20)) }
        }

        func list(filter: String?, maxResults: Int, pageToken: String?) -> Answer {
            var matches = records.values.sorted { $0.name < $1.name }
            if let filter, !filter.isEmpty {
                guard let predicate = Self.labelFilter(filter) else {
                    return .googleError(
                        400,
                        reason: "invalid",
                        message:
                            "Invalid value for field 'filter': '\(filter)'. (the fake reads labels.K:* and labels.K=V only)"
                    )
                }
                matches = matches.filter { predicate($0.labels) }
            }
            let start = pageToken.flatMap { Int($0) } ?? 0
            guard start >= 0, start <= matches.count else {
                return .googleError(400, reason: "invalid", message: "Invalid value for field 'pageToken'")
            }
            let end = min(matches.count, start + max(1, min(500, maxResults)))
            var object: [String: Any] = [
                "kind": "compute#instanceList",
                "id": "\(zonePath)/instances",
                "selfLink": "\(baseURL)/\(zonePath)/instances",
                "items": matches[start..<end].map { json($0) },
            ]
            if end < matches.count { object["nextPageToken"] = String(end) }
            return .json(object)
        }

        static func labelFilter(_ filter: String) -> (@Sendable ([String: String]) -> Bool)? {
            let text = filter.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("labels.") else { return nil }
            let rest = text.dropFirst("labels.".count)
            if rest.hasSuffix(":*") {
                let key = String(rest.dropLast(2))
                return { $0[key] != nil }
            }
            let parts = rest.split(separator: "=", maxSplits: 1).map {
                String($0).trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
            guard parts.count == 2 else { return nil }
            let (key, value) = (parts[0], parts[1])
            return { $0[key] == value }
        }

        // MARK: Operations

        func operationAnswer(_ name: String) -> Answer {
            guard let operation = operations[name] else {
                return .googleError(
                    404,
                    reason: "notFound",
                    message: "The resource '\(zonePath)/operations/\(name)' was not found"
                )
            }
            return .json(json(operation))
        }

        func wait(_ name: String) async -> Answer {
            let clock = ContinuousClock()
            let deadline = clock.now + waitCap
            while let operation = operations[name], operation.status != "DONE", clock.now < deadline {
                await sleepOffPool(for: .milliseconds(20))
            }
            return operationAnswer(name)
        }

        // MARK: Test steering

        func snapshot(_ name: String) -> FakeInstance? {
            records[name].map {
                FakeInstance(
                    name: $0.name,
                    status: $0.status,
                    createdAt: $0.createdAt,
                    labels: $0.labels,
                    metadata: $0.metadata,
                    maxRunDurationSeconds: $0.maxRunDurationSeconds,
                    requestID: $0.requestID,
                    pid: $0.process?.process.processIdentifier,
                    bootError: $0.bootError,
                    body: $0.body
                )
            }
        }

        func snapshots() -> [FakeInstance] { records.keys.sorted().compactMap { snapshot($0) } }

        func backdate(_ name: String, by seconds: Double) {
            records[name]?.createdAt.addTimeInterval(-seconds)
        }

        func shutdown() async {
            for task in tasks { task.cancel() }
            tasks = []
            for record in records.values {
                if let booted = record.process { await terminate(booted, grace: .milliseconds(500)) }
            }
        }

        // MARK: JSON

        /// Compute Engine writes Pacific time with its offset, for example 2026-12-04T13:02:11.123-08:00.
        static func stamp(_ date: Date) -> String {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            formatter.timeZone = TimeZone(secondsFromGMT: -8 * 3600)
            return formatter.string(from: date)
        }

        func json(_ operation: Operation) -> [String: Any] {
            var object: [String: Any] = [
                "kind": "compute#operation",
                "id": operation.id,
                "name": operation.name,
                "operationType": operation.type,
                "progress": operation.status == "DONE" ? 100 : 0,
                "status": operation.status,
                "selfLink": "\(baseURL)/\(zonePath)/operations/\(operation.name)",
                "targetLink": instanceLink(operation.target),
                "targetId": operation.targetID,
                "zone": "\(baseURL)/projects/\(project)/zones/\(zone)",
                "user": account.email,
                "insertTime": Self.stamp(operation.insertTime),
                "startTime": Self.stamp(operation.insertTime),
            ]
            if let end = operation.endTime { object["endTime"] = Self.stamp(end) }
            if let code = operation.errorCode {
                object["error"] = ["errors": [["code": code, "message": operation.errorMessage ?? ""]]]
                object["httpErrorStatusCode"] = 503
                object["httpErrorMessage"] = "SERVICE UNAVAILABLE"
            }
            return object
        }

        func json(_ record: Record) -> [String: Any] {
            var object = ((try? JSONSerialization.jsonObject(with: record.body)) as? [String: Any]) ?? [:]
            object["kind"] = "compute#instance"
            object["id"] = record.id
            object["status"] = record.status
            object["creationTimestamp"] = Self.stamp(record.createdAt)
            object["selfLink"] = instanceLink(record.name)
            object["zone"] = "\(baseURL)/projects/\(project)/zones/\(zone)"
            if let machineType = object["machineType"] as? String, !machineType.hasPrefix("http") {
                object["machineType"] = "\(baseURL)/projects/\(project)/\(machineType)"
            }
            if var metadata = object["metadata"] as? [String: Any] {
                metadata["kind"] = "compute#metadata"
                metadata["fingerprint"] = "ZmFrZQ=="
                object["metadata"] = metadata
            }
            return object
        }
    }
}

// MARK: - Routes

extension FakeComputeEngine {
    struct Routes: Sendable {
        let state: State

        func add(to router: Router<BasicRequestContext>) {
            router.post("token") { request, _ in
                let body = try await self.receive(request)
                guard request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true else {
                    return Self.response(
                        .tokenError("invalid_request", "Expected Content-Type application/x-www-form-urlencoded")
                    )
                }
                return Self.response(await self.state.exchange(form: Self.form(body)))
            }
            let zone = "compute/v1/projects/{project}/zones/{zone}"
            router.post("\(zone)/instances") { request, context in
                try await self.compute(request, context) { state, body in
                    await state.insert(body: body, requestID: Self.query(request, "requestId"))
                }
            }
            router.get("\(zone)/instances") { request, context in
                try await self.compute(request, context) { state, body in
                    await state.list(
                        filter: Self.query(request, "filter"),
                        maxResults: Self.query(request, "maxResults").flatMap { Int($0) } ?? 500,
                        pageToken: Self.query(request, "pageToken")
                    )
                }
            }
            router.get("\(zone)/instances/{name}") { request, context in
                try await self.compute(request, context) { state, body in
                    await state.get(context.parameters.get("name") ?? "")
                }
            }
            router.delete("\(zone)/instances/{name}") { request, context in
                try await self.compute(request, context) { state, body in
                    await state.delete(
                        context.parameters.get("name") ?? "",
                        requestID: Self.query(request, "requestId")
                    )
                }
            }
            router.get("\(zone)/operations/{operation}") { request, context in
                try await self.compute(request, context) { state, body in
                    await state.operationAnswer(context.parameters.get("operation") ?? "")
                }
            }
            router.post("\(zone)/operations/{operation}/wait") { request, context in
                try await self.compute(request, context) { state, body in
                    await state.wait(context.parameters.get("operation") ?? "")
                }
            }
        }

        /// Records the request, checks the bearer token and the project and zone, then answers with `handle`.
        func compute(
            _ request: Request,
            _ context: BasicRequestContext,
            _ handle: (State, Data) async throws -> Answer
        ) async throws -> Response {
            let body = try await receive(request)
            if let refusal = await state.authorize(request.headers[.authorization]) { return Self.response(refusal) }
            if let refusal = await state.checkScope(
                project: context.parameters.get("project") ?? "",
                zone: context.parameters.get("zone") ?? ""
            ) {
                return Self.response(refusal)
            }
            return Self.response(try await handle(state, body))
        }

        /// The body, collected once and recorded with the request.
        func receive(_ request: Request) async throws -> Data {
            let data = try await body(request)
            await state.record(
                Received(
                    method: request.method.rawValue,
                    path: request.uri.path,
                    query: request.uri.query,
                    authorization: request.headers[.authorization],
                    contentType: request.headers[.contentType],
                    body: data
                )
            )
            return data
        }

        func body(_ request: Request) async throws -> Data {
            var request = request
            let buffer = try await request.collectBody(upTo: 1 << 20)
            return Data(buffer.readableBytesView)
        }

        static func query(_ request: Request, _ name: String) -> String? {
            request.uri.queryParameters[Substring(name)].map { String($0).removingPercentEncoding ?? String($0) }
        }

        static func form(_ body: Data) -> [String: String] {
            var fields: [String: String] = [:]
            for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map {
                    String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
                }
                fields[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
            return fields
        }

        static func response(_ answer: Answer) -> Response {
            Response(
                status: answer.status,
                headers: [.contentType: "application/json; charset=UTF-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.json))
            )
        }
    }
}
