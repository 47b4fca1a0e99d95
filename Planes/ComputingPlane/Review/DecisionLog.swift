public import ChainCore
import Foundation
public import PlaneProtocol

#if canImport(Glibc)
import Glibc
#endif

/// The plane's append-only, hash-chained record of every output decision: the gate's verdict, each
/// reviewer's signed decision and the review's outcome. One line per entry:
///
///     <hash, 0x-hex> <body, canonical JSON>
///     body: {"seq": n, "prev": "0x…", "job": "0x…", "kind": "gate"|"review"|"outcome", …}
///     hash = sha256(prev ‖ body bytes); the first entry's prev is 32 zero bytes
///
/// An entry is fsynced before it takes effect. The hash after a job's last entry (its head) goes into the
/// job's signed result record, so a log cut or rewritten after that entry no longer contains the head the
/// record names. At open the whole chain is verified; a broken chain refuses to open.
public final class DecisionLog: @unchecked Sendable {
    /// One verified entry (the format type the auditor shares).
    public typealias Entry = DecisionLogEntry

    public let path: String
    private let lock = NSLock()
    private var entries: [Entry] = []

    /// Opens (or creates) the log at `path` and verifies its chain.
    public init(path: String) throws(ComputingPlaneError) {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw ComputingPlaneError(.io, "cannot read the decision log \(path)")
            }
            return
        }
        var bytes = Array(data)
        // A line without its newline is a write torn by a crash: it never took effect (an entry takes effect
        // once fsynced whole), so it is cut off before anything is appended.
        if let end = bytes.lastIndex(of: UInt8(ascii: "\n")).map({ $0 + 1 }) ?? (bytes.isEmpty ? nil : 0),
            end < bytes.count
        {
            bytes.removeSubrange(end...)
            guard truncate(path, off_t(end)) == 0 else {
                throw ComputingPlaneError(.io, "cannot cut the torn last line of the decision log \(path)")
            }
        }
        do {
            entries = try Self.verify(bytes)
        } catch {
            throw ComputingPlaneError(.verification, "the decision log \(path): \(error.reason)")
        }
    }

    /// The last entry's hash (32 zero bytes for an empty log).
    public var head: Hash32 { lock.withLock { entries.last?.hash ?? Self.genesis } }

    /// The entries of `job`, in order.
    public func entries(of job: Hash32) -> [Entry] { lock.withLock { entries.filter { $0.job == job } } }

    /// Every entry, in order.
    public var all: [Entry] { lock.withLock { entries } }

    static let genesis = Hash32.zero

    /// Appends an entry of `kind` for `job` with `fields` (beside seq, prev, job and kind) and returns it once
    /// it is on disk.
    @discardableResult
    public func append(job: Hash32, kind: String, fields: [String: Any]) throws(ComputingPlaneError) -> Entry {
        lock.lock()
        defer { lock.unlock() }
        do {
            let prev = entries.last?.hash ?? Self.genesis
            let seq = UInt64(entries.count)
            var object = fields
            object["seq"] = seq
            object["prev"] = prev.hex
            object["job"] = job.hex
            object["kind"] = kind
            let body: [UInt8]
            do {
                body = [UInt8](
                    try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                )
            } catch {
                throw ComputingPlaneError(.io, "cannot encode a decision log entry: \(error)")
            }
            let entry = Entry(
                hash: Self.chain(prev, body),
                body: body,
                seq: seq,
                prev: prev,
                job: job,
                kind: kind
            )
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw ComputingPlaneError(
                    .io,
                    "cannot open the decision log \(path): \(String(cString: strerror(errno)))"
                )
            }
            defer { close(fd) }
            let bytes = Array(entry.line.utf8) + [UInt8(ascii: "\n")]
            guard write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
                throw ComputingPlaneError(.io, "cannot append to the decision log \(path)")
            }
            entries.append(entry)
            return entry
        }
    }

    /// sha256(prev ‖ body).
    public static func chain(_ prev: Hash32, _ body: [UInt8]) -> Hash32 {
        DecisionLogEntry.chain(prev, body)
    }

    /// Parses and verifies a whole log: every line's hash, every prev naming the line before, seq counting
    /// from 0. The error names the first bad line.
    public static func verify(_ bytes: [UInt8]) throws(ComputingPlaneError) -> [Entry] {
        var entries: [Entry] = []
        var prev = genesis
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        // Every line ends with a newline, so the last split is empty.
        if lines.last?.isEmpty == true { lines.removeLast() }
        for (number, raw) in lines.enumerated() {
            let entry = try parse(Array(raw), line: number + 1)
            guard entry.prev == prev, entry.seq == UInt64(entries.count) else {
                throw ComputingPlaneError(
                    .verification,
                    "line \(number + 1): expected seq \(entries.count) after \(prev.hex), found seq \(entry.seq) after \(entry.prev.hex)"
                )
            }
            entries.append(entry)
            prev = entry.hash
        }
        return entries
    }

    /// One line, its own hash checked (not its place in a chain).
    public static func parse(_ line: [UInt8], line number: Int) throws(ComputingPlaneError) -> Entry {
        do { return try DecisionLogEntry.parse(line, line: number) } catch {
            throw ComputingPlaneError(.verification, error.reason.replacingOccurrences(of: "decision log ", with: ""))
        }
    }
}
