internal import ChainCore
internal import Foundation
internal import PlaneCrypto

// Formats:
//   CCEL (TCG PC Client crypto-agile log, as the TDX firmware writes it to the ACPI CCEL area):
//     first event TCG_PCR_EVENT: index u32 | type u32 | SHA-1 digest (20) | size u32 | Spec ID Event03
//       (signature "Spec ID Event03\0" (16) | platform class u32 | version (3) | uintn size u8
//        | algorithm count u32 | { algorithm id u16, digest size u16 }* | vendor info size u8 | vendor info)
//     then TCG_PCR_EVENT2: MR index u32 | type u32 | digest count u32 | { algorithm id u16, digest }*
//       | event size u32 | event; the log ends at index 0xFFFFFFFF (erased flash) or at the end of the bytes.
//     MR index 1…4 is RTMR0…3 (0 is MRTD, never extended at runtime); EV_NO_ACTION (3) events are not extended.
//   dstack JSON: [{ "imr": 0…3, "event_type": u32, "digest": hex(48), "event": name, "event_payload": hex }]
//     (or an object holding it under "event_log", possibly as a JSON string). RTMR3 runtime events
//     (event_type 0x08000001) have digest SHA-384(event_type as u32 LE ‖ ":" ‖ event ‖ ":" ‖ payload).

/// A TDX measurement event log, from CCEL binary or dstack JSON, replayable into RTMR0…3.
public struct EventLog: Sendable {
    /// One extend operation.
    public struct Event: Sendable, Hashable {
        /// RTMR index 0…3.
        public let rtmr: Int
        /// TCG event type (0x08000001 for dstack runtime events).
        public let eventType: UInt32
        /// The SHA-384 digest that was extended.
        public let digest: [UInt8]
        /// dstack: the event name (`compose-hash`, `app-id`, …); empty for firmware events.
        public let name: String
        /// The event data (CCEL) or payload (dstack).
        public let payload: [UInt8]
    }

    /// dstack's event type for runtime (RTMR3) events; not a TCG-defined type.
    public static let dstackRuntimeEventType: UInt32 = 0x0800_0001
    /// TCG EV_NO_ACTION: informational, never extended.
    public static let evNoAction: UInt32 = 3

    /// The events in log order (EV_NO_ACTION events are omitted).
    public let events: [Event]

    /// An event log made of `events`.
    public init(events: [Event]) {
        self.events = events
    }

    /// Parses a file: JSON (dstack) when it starts with `[` or `{`, else CCEL binary.
    public init(fileContents bytes: [UInt8]) throws(AttestationError) {
        let first = bytes.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if first == UInt8(ascii: "[") || first == UInt8(ascii: "{") {
            self = try Self.dstackJSON(bytes)
        } else {
            self = try Self.ccel(bytes)
        }
    }

    /// RTMR0…3 replayed from the zero value: RTMR = SHA-384(RTMR ‖ digest) for each event in order.
    public func replay() -> [[UInt8]] {
        var rtmr = [[UInt8]](repeating: [UInt8](repeating: 0, count: 48), count: 4)
        for event in events { rtmr[event.rtmr] = Self.extend(rtmr[event.rtmr], with: event.digest) }
        return rtmr
    }

    /// RTMR_new = SHA-384(RTMR_old ‖ digest).
    public static func extend(_ rtmr: [UInt8], with digest: [UInt8]) -> [UInt8] {
        Digest.sha384(rtmr + digest)
    }

    /// dstack's RTMR3 runtime-event digest: SHA-384(event_type as u32 little-endian ‖ ":" ‖ name ‖ ":" ‖ payload)
    /// (dstack `cc-eventlog/src/runtime_events.rs`, `RuntimeEvent::digest`).
    public static func dstackRuntimeDigest(eventType: UInt32, name: String, payload: [UInt8]) -> [UInt8] {
        let type: [UInt8] = [
            UInt8(eventType & 0xFF), UInt8(eventType >> 8 & 0xFF), UInt8(eventType >> 16 & 0xFF),
            UInt8(eventType >> 24),
        ]
        return Digest.sha384(type + Array(":".utf8) + Array(name.utf8) + Array(":".utf8) + payload)
    }

    /// Per RTMR, whether the replayed value equals `report`'s.
    public func matches(_ report: TDReport) -> [Bool] {
        let replayed = replay()
        return (0..<4).map { replayed[$0] == report.rtmr[$0] }
    }

    /// The payload of the last dstack runtime event named `name` (e.g. `compose-hash`), if any.
    public func runtimePayload(named name: String) -> [UInt8]? {
        events.last { $0.rtmr == 3 && $0.eventType == Self.dstackRuntimeEventType && $0.name == name }?.payload
    }

    // MARK: CCEL

    /// Parses a CCEL (TCG2 crypto-agile) binary log; only SHA-384 digests are extended.
    public static func ccel(_ bytes: [UInt8]) throws(AttestationError) -> EventLog {
        var r = ByteReader(bytes, what: "CCEL event log", code: .malformedEventLog)
        try r.skip(8, "first event index and type")
        try r.skip(20, "first event SHA-1 digest")
        let specSize = Int(try r.u32("Spec ID event size"))
        var spec = ByteReader(
            bytes,
            from: r.offset,
            to: r.offset + min(specSize, r.remaining),
            what: "Spec ID event",
            code: .malformedEventLog
        )
        try r.skip(specSize, "Spec ID event")
        let signature = try spec.take(16, "signature")
        guard signature.starts(with: Array("Spec ID Event03".utf8)) else {
            throw AttestationError(
                .malformedEventLog,
                "CCEL: expected a TCG2 crypto-agile log (Spec ID Event03), found another first event"
            )
        }
        try spec.skip(4 + 3 + 1, "platform class, version, uintn size")
        let algorithmCount = Int(try spec.u32("algorithm count"))
        guard algorithmCount >= 1, algorithmCount <= 32 else {
            throw AttestationError(.malformedEventLog, "CCEL: expected 1…32 digest algorithms, found \(algorithmCount)")
        }
        var sizes: [UInt16: Int] = [:]
        for _ in 0..<algorithmCount {
            let id = try spec.u16("algorithm id")
            sizes[id] = Int(try spec.u16("digest size"))
        }
        guard sizes[0x000C] == 48 else {
            throw AttestationError(.malformedEventLog, "CCEL: expected SHA-384 (algorithm 0x000C, 48 bytes) in the log")
        }
        var events: [Event] = []
        while r.remaining >= 8 {
            let index = try r.u32("MR index")
            let type = try r.u32("event type")
            if index == 0xFFFF_FFFF { break }
            let count = Int(try r.u32("digest count"))
            guard count <= algorithmCount else {
                throw AttestationError(
                    .malformedEventLog,
                    "CCEL event \(events.count): \(count) digests, log declares \(algorithmCount)"
                )
            }
            var sha384: [UInt8]?
            for _ in 0..<count {
                let id = try r.u16("digest algorithm")
                guard let size = sizes[id] else {
                    throw AttestationError(
                        .malformedEventLog,
                        "CCEL event \(events.count): undeclared digest algorithm \(id)"
                    )
                }
                let digest = try r.take(size, "digest")
                if id == 0x000C { sha384 = digest }
            }
            let size = Int(try r.u32("event size"))
            let data = try r.take(size, "event data")
            guard type != evNoAction, index != 0 else { continue }
            guard (1...4).contains(index), let sha384 else {
                throw AttestationError(
                    .malformedEventLog,
                    "CCEL event \(events.count): expected MR index 1…4 with a SHA-384 digest, found index \(index)"
                )
            }
            events.append(Event(rtmr: Int(index) - 1, eventType: type, digest: sha384, name: "", payload: data))
        }
        return EventLog(events: events)
    }

    // MARK: dstack JSON

    /// Parses dstack's JSON event log. RTMR3 runtime events must carry the digest dstack's rule gives for
    /// their name and payload; replay uses that recomputed digest, so the payloads (e.g. `compose-hash`) are
    /// bound to RTMR3.
    public static func dstackJSON(_ bytes: [UInt8]) throws(AttestationError) -> EventLog {
        guard var value = try? JSONSerialization.jsonObject(with: Data(bytes)) else {
            throw AttestationError(.malformedEventLog, "event log: expected JSON, found unparsable text")
        }
        if let object = value as? [String: Any], let inner = object["event_log"] {
            value = inner
        }
        if let text = value as? String {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else {
                throw AttestationError(.malformedEventLog, "event log: event_log string is not JSON")
            }
            value = parsed
        }
        guard let array = value as? [[String: Any]] else {
            throw AttestationError(.malformedEventLog, "event log: expected an array of event objects")
        }
        var events: [Event] = []
        for (i, object) in array.enumerated() {
            let e = JSONFields(object: object, what: "event log[\(i)]")
            let imr: Int
            let type: Int
            do {
                imr = try e.int("imr", max: 3)
                type = try e.int("event_type", max: Int(UInt32.max))
            } catch {
                throw AttestationError(.malformedEventLog, error.reason)
            }
            let name = (object["event"] as? String) ?? ""
            guard let digest = (object["digest"] as? String).flatMap({ Hex.decode(lenient: $0) }), digest.count == 48,
                let payload = Hex.decode(lenient: (object["event_payload"] as? String) ?? "")
            else {
                throw AttestationError(
                    .malformedEventLog,
                    "event log[\(i)]: expected a 48-byte hex digest and a hex event_payload"
                )
            }
            if UInt32(type) == evNoAction { continue }
            var extended = digest
            if imr == 3, UInt32(type) == dstackRuntimeEventType {
                extended = dstackRuntimeDigest(eventType: UInt32(type), name: name, payload: payload)
                guard extended == digest else {
                    throw AttestationError(
                        .measurementMismatch,
                        "event log[\(i)] \(name): digest \(Hex.encode(digest, prefix: false)) is not dstack's "
                            + "SHA-384(type ‖ \":\" ‖ name ‖ \":\" ‖ payload) = \(Hex.encode(extended, prefix: false))"
                    )
                }
            }
            events.append(Event(rtmr: imr, eventType: UInt32(type), digest: extended, name: name, payload: payload))
        }
        return EventLog(events: events)
    }
}
