public import ChainCore
import Foundation

/// One entry of a Computing Plane's decision log (the gate's verdict, a reviewer's signed decision, the
/// review's outcome), as the plane writes it and as an evidence bundle carries it:
///
///     <hash, 0x-hex> <body, canonical JSON>
///     body: {"seq": n, "prev": "0x…", "job": "0x…", "kind": "gate"|"review"|"outcome", …}
///     hash = sha256(prev ‖ body bytes); the first entry's prev is 32 zero bytes
///
/// A pure format type: the plane's log file (ComputingPlane's `DecisionLog`) and the auditor both parse here.
public struct DecisionLogEntry: Sendable, Hashable {
    public let hash: Hash32
    /// The body's bytes exactly as hashed.
    public let body: [UInt8]
    public let seq: UInt64
    public let prev: Hash32
    public let job: Hash32
    public let kind: String

    public init(hash: Hash32, body: [UInt8], seq: UInt64, prev: Hash32, job: Hash32, kind: String) {
        self.hash = hash
        self.body = body
        self.seq = seq
        self.prev = prev
        self.job = job
        self.kind = kind
    }

    /// The line as written (without its newline).
    public var line: String { hash.hex + " " + String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object (empty when it is not one).
    public var fields: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }

    /// sha256(prev ‖ body).
    public static func chain(_ prev: Hash32, _ body: [UInt8]) -> Hash32 {
        BundleDigest.of(prev.bytes + body)
    }

    /// One line, its own hash checked (not its place in a chain).
    public static func parse(_ line: [UInt8], line number: Int) throws(PlaneProtocolError) -> DecisionLogEntry {
        guard line.count > 67, line[66] == UInt8(ascii: " "),
            let hash = try? Hash32(hex: String(decoding: line[0..<66], as: UTF8.self))
        else {
            throw PlaneProtocolError(
                .malformed,
                "decision log line \(number): expected \"<0x hash> <json>\", found \(line.count) bytes"
            )
        }
        let body = Array(line[67...])
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
            let seq = (object["seq"] as? NSNumber)?.uint64Value,
            let prev = (object["prev"] as? String).flatMap({ try? Hash32(hex: $0) }),
            let job = (object["job"] as? String).flatMap({ try? Hash32(hex: $0) }),
            let kind = object["kind"] as? String
        else {
            throw PlaneProtocolError(
                .malformed,
                "decision log line \(number): expected a JSON body with seq, prev, job and kind"
            )
        }
        guard chain(prev, body) == hash else {
            throw PlaneProtocolError(.malformed, "decision log line \(number): the hash does not match the body")
        }
        return DecisionLogEntry(hash: hash, body: body, seq: seq, prev: prev, job: job, kind: kind)
    }
}
