import Foundation
public import Metrics
import PlaneProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The Computing Plane's durable job log: one JSON line per event, appended and fsynced before the event
/// takes effect, replayed through ``JobMachine`` at start. A crash can cut only the last line; a cut line is
/// dropped at open (it never took effect). Any other line that does not parse, or an event the machine calls
/// invalid, is corruption and refuses to open: nothing is guessed.
///
///     {"job":"<id>","at":<unix ms>,"event":"submitted"}
///     {"job":"<id>","at":<unix ms>,"event":"advanced","phase":"fetching"}
///     {"job":"<id>","at":<unix ms>,"event":"refused","reason":"rental","detail":"…"}
///     {"job":"<id>","at":<unix ms>,"event":"exited","code":0}
///     {"job":"<id>","at":<unix ms>,"event":"killed","reason":"revoked"}
///     {"job":"<id>","at":<unix ms>,"event":"gated","verdict":"review"}
///     {"job":"<id>","at":<unix ms>,"event":"reviewed","approved":true}
///     {"job":"<id>","at":<unix ms>,"event":"published"}
///     {"job":"<id>","at":<unix ms>,"event":"failed","detail":"…"}
public final class JobLog: Sendable {
    public struct Entry: Sendable, Hashable {
        public let job: String
        /// Milliseconds since the Unix epoch.
        public let at: Int64
        public let event: JobEvent
    }

    struct Contents {
        var states: [String: JobState] = [:]
        var entries: [String: [Entry]] = [:]
        var order: [String] = []
    }

    public let path: String
    private let fd: Int32
    private let contents: Mutex<Contents>
    /// Where jobs that finish are counted by outcome name (`delong_compute_job_outcomes_total`); a replay at
    /// open counts nothing (those jobs finished under an earlier process).
    private let outcomes: [String: Counter]

    /// Opens (creating, mode 0600) and replays the log.
    public init(path: String, metrics: any MetricsFactory = NOOPMetricsHandler.instance) throws(ComputingPlaneError) {
        self.path = path
        outcomes = Dictionary(
            uniqueKeysWithValues: JobOutcome.names.map { name in
                (
                    name,
                    Counter(
                        label: "delong_compute_job_outcomes_total",
                        dimensions: [("outcome", name)],
                        factory: metrics
                    )
                )
            }
        )
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ComputingPlaneError(.io, "cannot open the job log \(path): \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        var replayed = Contents()
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            var bytes = [UInt8](data)
            if let last = bytes.lastIndex(of: UInt8(ascii: "\n")), last != bytes.count - 1 {
                // A cut last line: the event it held was never acted on.
                bytes.removeSubrange((last + 1)...)
                guard ftruncate(fd, off_t(bytes.count)) == 0 else {
                    throw ComputingPlaneError(.io, "cannot drop the cut last line of \(path)")
                }
            } else if !bytes.isEmpty && bytes.last != UInt8(ascii: "\n") {
                bytes = []
                guard ftruncate(fd, 0) == 0 else { throw ComputingPlaneError(.io, "cannot truncate \(path)") }
            }
            for (number, line) in bytes.split(separator: UInt8(ascii: "\n")).enumerated() {
                let entry = try Self.decode(Array(line), line: number + 1, path: path)
                try Self.apply(entry, to: &replayed, line: number + 1, path: path)
            }
        } catch let error as ComputingPlaneError {
            close(fd)
            throw error
        } catch {
            close(fd)
            throw ComputingPlaneError(.io, "cannot read the job log \(path): \(error)")
        }
        contents = Mutex(replayed)
    }

    deinit { close(fd) }

    /// The state of `job`, nil if the log has never seen it.
    public func state(of job: String) -> JobState? { contents.withLock { $0.states[job] } }

    /// Every event of `job`, in order.
    public func entries(of job: String) -> [Entry] { contents.withLock { $0.entries[job] ?? [] } }

    /// Every job, in the order the log first saw them, with its state.
    public var jobs: [(job: String, state: JobState)] {
        contents.withLock { c in c.order.compactMap { job in c.states[job].map { (job, $0) } } }
    }

    /// Records `event` for `job` (durably, before returning) when it moves the job; an event for a finished
    /// job is ignored and not written; an invalid one throws and is not written.
    @discardableResult
    public func append(_ event: JobEvent, job: String, at: Int64) throws(ComputingPlaneError) -> JobTransition {
        try contents.withLock { (c: inout Contents) throws(ComputingPlaneError) -> JobTransition in
            let transition = JobMachine.next(c.states[job], event)
            switch transition {
            case .ignored: return transition
            case .invalid(let why): throw ComputingPlaneError(.badInput, "job \(job): \(why)")
            case .moved: break
            }
            let entry = Entry(job: job, at: at, event: event)
            var line = Array(Self.encode(entry).utf8)
            line.append(UInt8(ascii: "\n"))
            let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == line.count, fdatasync(fd) == 0 else {
                // Undo a partial write so the log stays a sequence of whole lines.
                _ = ftruncate(fd, lseek(fd, 0, SEEK_END) - off_t(max(written, 0)))
                throw ComputingPlaneError(
                    .io,
                    "cannot append to the job log \(path): \(String(cString: strerror(errno)))"
                )
            }
            try Self.apply(entry, to: &c, line: 0, path: path)
            if case .moved(.finished(let outcome)) = transition { outcomes[outcome.name]?.increment() }
            return transition
        }
    }

    /// At start: every job the log holds unfinished lost its runner (this process was killed mid-job).
    /// Records `killed(runnerLost)` for each and returns their ids, for the caller to sweep what they left.
    public func recordLostRunners(at: Int64) throws(ComputingPlaneError) -> [String] {
        let unfinished = jobs.filter { !$0.state.isFinished }.map(\.job)
        for job in unfinished { try append(.killed(.runnerLost), job: job, at: at) }
        return unfinished
    }

    // MARK: Encoding

    /// The event for people: "advanced to fetching", "exited 0", "killed: revoked", "refused (rental): …".
    public static func describe(_ event: JobEvent) -> String {
        switch event {
        case .submitted: "submitted"
        case .advanced(let phase): phase.rawValue
        case .refused(let reason, let detail): "refused (\(reason.rawValue)): \(detail)"
        case .exited(let code): "exited \(code)"
        case .killed(let reason): "killed: \(reason.rawValue)"
        case .gated(let verdict): "gate verdict: \(verdict.rawValue)"
        case .reviewed(let approved): approved ? "review: approved" : "review: rejected"
        case .published: "published: released"
        case .failed(let detail): "failed: \(detail)"
        }
    }

    /// An event as the agent API carries it: the log line it would be.
    public static func line(_ event: JobEvent, job: String, at: Int64) -> String {
        encode(Entry(job: job, at: at, event: event))
    }

    /// An event the agent API carried, parsed as strictly as the log's own lines.
    public static func entry(line: [UInt8]) throws(ComputingPlaneError) -> Entry {
        try decode(line, line: 1, path: "(an agent's report)")
    }

    static func encode(_ entry: Entry) -> String {
        var fields = ["\"job\":\(OrderedJSON.quote(entry.job))", "\"at\":\(entry.at)"]
        func add(_ name: String, _ value: String) { fields.append("\"\(name)\":\(value)") }
        switch entry.event {
        case .submitted: add("event", "\"submitted\"")
        case .advanced(let phase):
            add("event", "\"advanced\"")
            add("phase", OrderedJSON.quote(phase.rawValue))
        case .refused(let reason, let detail):
            add("event", "\"refused\"")
            add("reason", OrderedJSON.quote(reason.rawValue))
            add("detail", OrderedJSON.quote(detail))
        case .exited(let code):
            add("event", "\"exited\"")
            add("code", "\(code)")
        case .killed(let reason):
            add("event", "\"killed\"")
            add("reason", OrderedJSON.quote(reason.rawValue))
        case .gated(let verdict):
            add("event", "\"gated\"")
            add("verdict", OrderedJSON.quote(verdict.rawValue))
        case .reviewed(let approved):
            add("event", "\"reviewed\"")
            add("approved", approved ? "true" : "false")
        case .published: add("event", "\"published\"")
        case .failed(let detail):
            add("event", "\"failed\"")
            add("detail", OrderedJSON.quote(detail))
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func decode(_ line: [UInt8], line number: Int, path: String) throws(ComputingPlaneError) -> Entry {
        func corrupt(_ why: String) -> ComputingPlaneError {
            ComputingPlaneError(.badInput, "job log \(path) line \(number): \(why)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
            let job = object["job"] as? String, !job.isEmpty, let at = (object["at"] as? NSNumber)?.int64Value,
            let name = object["event"] as? String
        else { throw corrupt("expected a JSON object with job, at and event") }
        let string = { (key: String) in object[key] as? String }
        let event: JobEvent
        switch name {
        case "submitted": event = .submitted
        case "advanced":
            guard let phase = string("phase").flatMap(JobPhase.init(rawValue:)) else { throw corrupt("unknown phase") }
            event = .advanced(to: phase)
        case "refused":
            guard let reason = string("reason").flatMap(RefusalReason.init(rawValue:)), let detail = string("detail")
            else { throw corrupt("expected a refusal reason and detail") }
            event = .refused(reason, detail: detail)
        case "exited":
            guard let code = (object["code"] as? NSNumber)?.int32Value else { throw corrupt("expected an exit code") }
            event = .exited(code: code)
        case "killed":
            guard let reason = string("reason").flatMap(KillReason.init(rawValue:)) else {
                throw corrupt("unknown kill reason")
            }
            event = .killed(reason)
        case "gated":
            guard let verdict = string("verdict").flatMap(GateVerdict.init(rawValue:)) else {
                throw corrupt("unknown gate verdict")
            }
            event = .gated(verdict)
        case "reviewed":
            guard let approved = object["approved"] as? Bool else { throw corrupt("expected approved true or false") }
            event = .reviewed(approved: approved)
        case "published": event = .published
        case "failed":
            guard let detail = string("detail") else { throw corrupt("expected a detail") }
            event = .failed(detail)
        default: throw corrupt("unknown event \"\(name)\"")
        }
        return Entry(job: job, at: at, event: event)
    }

    private static func apply(
        _ entry: Entry,
        to contents: inout Contents,
        line: Int,
        path: String
    ) throws(ComputingPlaneError) {
        let current = contents.states[entry.job]
        switch JobMachine.next(current, entry.event) {
        case .moved(let state):
            if current == nil { contents.order.append(entry.job) }
            contents.states[entry.job] = state
            contents.entries[entry.job, default: []].append(entry)
        case .ignored: return
        case .invalid(let why):
            throw ComputingPlaneError(.badInput, "job log \(path) line \(line), job \(entry.job): \(why)")
        }
    }
}
