import ChainCore
import ComputingPlane
import Foundation
import NIOHTTP1
import PlaneProtocol

/// An out-of-process agent's line to the Computing Plane that launched it: the plane's agent API
/// (docs/jobs.md "Agents out of process"), every call with the job's agent secret as the bearer. It is the
/// agent's review desk and release history (``AgentPlane``), its recordJob sender (``JobRecorder``) and the
/// place its job events go.
struct AgentUplink: AgentPlane, JobRecorder {
    let client: ComputePlaneClient
    let job: Hash32
    let secret: String
    /// The agent's results directory: `published` hands the sealed output over from there first.
    let results: String

    var base: String { "/v1/agent/jobs/" + job.hex }

    /// What the plane launched this agent for.
    struct Assignment {
        let spec: JobSpec
        let operatorAddress: Address
    }

    func assignment() async throws -> Assignment {
        let document = try await client.json(base, bearer: secret)
        let token = try SignedAccessToken(json: document["token"] as Any)
        let request = try SignedJobRequest(json: document["request"] as Any)
        guard let submittedAt = (document["submittedAt"] as? NSNumber)?.int64Value,
            let operatorAddress = (document["operator"] as? String).flatMap({ try? Address(hex: $0) })
        else { throw PlaneProtocolError(.malformed, "the plane's job assignment lacks submittedAt or operator") }
        guard request.request.jobID == job else {
            throw PlaneProtocolError(.malformed, "the plane assigned job \(request.request.jobID.hex), not \(job.hex)")
        }
        return Assignment(
            spec: JobSpec(token: token, request: request, consumer: token.token.consumer, submittedAt: submittedAt),
            operatorAddress: operatorAddress
        )
    }

    /// Reports `event` with the job's facts; the job's state after it, as the plane's job log says.
    func report(_ event: JobEvent, facts: JobFacts.Values) async throws -> JobState {
        if event == .published {
            let path = results + "/" + Hex.encode(job.bytes, prefix: false) + "/output.age"
            guard let sealed = FileManager.default.contents(atPath: path) else {
                throw PlaneProtocolError(.io, "the sealed output is not at \(path)")
            }
            _ = try await client.send(base + "/output", raw: [UInt8](sealed), method: .PUT, bearer: secret)
        }
        let line = JobLog.line(event, job: job.hex, at: Int64(Date().timeIntervalSince1970 * 1000))
        let encoder = JSONEncoder()
        let factsObject = try JSONSerialization.jsonObject(with: try encoder.encode(facts))
        let answer = try await client.json(
            base + "/events",
            ["event": try JSONSerialization.jsonObject(with: Data(line.utf8)), "facts": factsObject],
            bearer: secret
        )
        // The agent needs only whether the job goes on (the plane's log holds the state itself).
        guard let text = answer["state"] as? String, let finished = answer["finished"] as? Bool else {
            throw PlaneProtocolError(.malformed, "the plane's answer to an event names no job state")
        }
        if finished { return .finished(.infraError("ended on the plane: \(text)")) }
        return .active(JobPhase(rawValue: (answer["phase"] as? String) ?? "") ?? .queued)
    }

    // MARK: AgentPlane

    func recordGate(job: Hash32, verdict: GateVerdict, gateDigest: Hash32) async throws {
        _ = try await client.json(
            base + "/gate",
            ["verdict": verdict.rawValue, "gateDigest": gateDigest.hex],
            bearer: secret
        )
    }

    func panel(dataset: Hash32, provider: Address, consumer: Address) async throws -> ReviewDesk.Panel {
        let document = try await client.json(base + "/panel", bearer: secret)
        guard let names = document["reviewers"] as? [String], let required = document["required"] as? Int else {
            throw PlaneProtocolError(.malformed, "the plane's panel lacks reviewers or required")
        }
        let reviewers = try names.map { name throws(PlaneProtocolError) -> Address in
            guard let address = try? Address(hex: name) else {
                throw PlaneProtocolError(.malformed, "the plane's panel names \(name), not an address")
            }
            return address
        }
        return ReviewDesk.Panel(
            reviewers: reviewers,
            required: required,
            version: (document["version"] as? NSNumber)?.uint64Value
        )
    }

    func review(
        job: Hash32,
        dataset: Hash32,
        consumer: Address,
        provider: Address,
        output: OutputPackage,
        report: GateReport,
        deadline: Duration
    ) async throws -> ReviewDesk.Outcome? {
        let reportObject = try JSONSerialization.jsonObject(with: Data(report.json()))
        _ = try await client.json(
            base + "/review",
            ["archive": Data(output.archive).base64EncodedString(), "report": reportObject],
            bearer: secret
        )
        while true {
            try Task.checkCancellation()
            let answer = try await client.json(base + "/review", bearer: secret)
            if answer["pending"] as? Bool == true { continue }
            if answer["ended"] as? Bool == true { return nil }
            guard let approved = answer["approved"] as? Bool, let summary = answer["summary"] as? String,
                let decisions = answer["decisions"] as? [Any]
            else { throw PlaneProtocolError(.malformed, "the plane's review outcome lacks approved or summary") }
            return ReviewDesk.Outcome(
                approved: approved,
                decisions: try decisions.map { try SignedReviewDecision(json: $0) },
                summary: summary,
                list: try (answer["list"]).flatMap { $0 is NSNull ? nil : try SignedReviewerList(json: $0) }
            )
        }
    }

    func decisions(of job: Hash32) async throws -> [DecisionLog.Entry] {
        let document = try await client.json(base + "/decisions", bearer: secret)
        guard let lines = document["entries"] as? [String] else {
            throw PlaneProtocolError(.malformed, "the plane's decision entries are not a list of lines")
        }
        return try lines.enumerated().map { try DecisionLog.parse(Array($1.utf8), line: $0 + 1) }
    }

    func history(of dataset: Hash32) async throws -> [(job: String, archive: [UInt8])] {
        let document = try await client.json(base + "/history", bearer: secret)
        guard let releases = document["releases"] as? [[String: Any]] else {
            throw PlaneProtocolError(.malformed, "the plane's earlier releases are not a list")
        }
        return try releases.map { release in
            guard let job = release["job"] as? String, let encoded = release["archive"] as? String,
                let archive = Data(base64Encoded: encoded)
            else { throw PlaneProtocolError(.malformed, "an earlier release lacks job or archive") }
            return (job, [UInt8](archive))
        }
    }

    func remember(_ archive: [UInt8], job: Hash32, dataset: Hash32) async throws {
        _ = try await client.send(base + "/history", raw: archive, method: .POST, bearer: secret)
    }

    // MARK: JobRecorder

    func recordJob(
        job: Hash32,
        dataset: Hash32,
        consumer: Address,
        imageDigest: Hash32,
        outputDigest: Hash32,
        attestationDigest: Hash32
    ) async throws -> String {
        let answer = try await client.json(
            base + "/record",
            ["outputDigest": outputDigest.hex, "attestationDigest": attestationDigest.hex],
            bearer: secret
        )
        guard let transaction = answer["transaction"] as? String else {
            throw PlaneProtocolError(.malformed, "the plane's recordJob answer names no transaction")
        }
        return transaction
    }
}
