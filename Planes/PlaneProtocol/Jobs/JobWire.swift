import ChainCore
import Foundation
import PlaneCrypto

/// JSON forms of the signed job records (docs/jobs.md, "Signed records"): `{"<record>": {…}, "signature":
/// "0x<65 bytes r ‖ s ‖ v>"}` with the EIP-712 member names as keys. Bytes are 0x-hex, addresses EIP-55,
/// 64-bit numbers decimal strings, 32-bit numbers JSON integers, `approve` a JSON boolean. Parsing is strict:
/// every member present with its type, no other key (an unsigned extra field could only mislead), and every
/// error names the field, what was expected and what was found.
extension SignedJobRequest {
    public var json: [String: Any] {
        let r = request
        return [
            "request": [
                "jobId": r.jobID.hex, "dataset": r.dataset.hex, "imageDigest": r.imageDigest.hex,
                "tokenHash": r.tokenHash.hex, "plane": r.plane.checksummed,
                "outputRecipient": r.outputRecipient.description, "cpus": Int(r.limits.cpus),
                "memoryBytes": "\(r.limits.memoryBytes)", "timeoutSeconds": Int(r.limits.timeoutSeconds),
            ] as [String: Any],
            "signature": Hex.encode(signature.rsv),
        ]
    }

    /// Parses the shape of `json`; `signer(_:)` then says who signed it.
    public init(json: Any?) throws(PlaneProtocolError) {
        let (body, signature) = try JobField.envelope(json, record: "request")
        let field = try JobField(body, "request", keys: JobRequest.members)
        let recipientText = try field.text("outputRecipient", maximumBytes: 128)
        let recipient: AgeRecipient
        do { recipient = try AgeRecipient(parsing: recipientText) } catch {
            throw PlaneProtocolError(.malformed, "request.outputRecipient: \(error.reason)")
        }
        self.init(
            request: JobRequest(
                jobID: try field.hash("jobId"),
                dataset: try field.hash("dataset"),
                imageDigest: try field.hash("imageDigest"),
                tokenHash: try field.hash("tokenHash"),
                plane: try field.address("plane"),
                outputRecipient: recipient,
                limits: JobLimits(
                    cpus: try field.uint32("cpus"),
                    memoryBytes: try field.decimal("memoryBytes"),
                    timeoutSeconds: try field.uint32("timeoutSeconds")
                )
            ),
            signature: signature
        )
    }
}

extension SignedReviewDecision {
    public var json: [String: Any] {
        let d = decision
        return [
            "review": [
                "jobId": d.jobID.hex, "outputDigest": d.outputDigest.hex, "approve": d.approve, "reason": d.reason,
                "decidedAt": "\(d.decidedAt)",
            ] as [String: Any],
            "signature": Hex.encode(signature.rsv),
        ]
    }

    /// Parses the shape of `json`; `signer(_:)` then says who signed it.
    public init(json: Any?) throws(PlaneProtocolError) {
        let (body, signature) = try JobField.envelope(json, record: "review")
        let field = try JobField(body, "review", keys: ReviewDecision.members)
        self.init(
            decision: try ReviewDecision(
                jobID: try field.hash("jobId"),
                outputDigest: try field.hash("outputDigest"),
                approve: try field.bool("approve"),
                reason: try field.text("reason", maximumBytes: ReviewDecision.maximumReasonBytes),
                decidedAt: try field.decimal("decidedAt")
            ),
            signature: signature
        )
    }
}

extension SignedResultRecord {
    public var json: [String: Any] {
        let r = record
        return [
            "result": [
                "jobId": r.jobID.hex, "dataset": r.dataset.hex, "consumer": r.consumer.checksummed,
                "imageDigest": r.imageDigest.hex, "runtimeDigest": r.runtimeDigest.hex, "outcome": r.outcome,
                "gateDigest": r.gateDigest.hex, "reviewDigest": r.reviewDigest.hex,
                "outputSha256": r.outputSha256.hex, "cipherSha256": r.cipherSha256.hex,
                "finishedAt": "\(r.finishedAt)",
            ] as [String: Any],
            "signature": Hex.encode(signature.rsv),
        ]
    }

    /// Parses the shape of `json`; `signer(_:)` then says who signed it.
    public init(json: Any?) throws(PlaneProtocolError) {
        let (body, signature) = try JobField.envelope(json, record: "result")
        let field = try JobField(body, "result", keys: ResultRecord.members)
        self.init(
            record: try ResultRecord(
                jobID: try field.hash("jobId"),
                dataset: try field.hash("dataset"),
                consumer: try field.address("consumer"),
                imageDigest: try field.hash("imageDigest"),
                runtimeDigest: try field.hash("runtimeDigest"),
                outcome: try field.text("outcome", maximumBytes: ResultRecord.maximumOutcomeBytes),
                gateDigest: try field.hash("gateDigest"),
                reviewDigest: try field.hash("reviewDigest"),
                outputSha256: try field.hash("outputSha256"),
                cipherSha256: try field.hash("cipherSha256"),
                finishedAt: try field.decimal("finishedAt")
            ),
            signature: signature
        )
    }
}

/// Strict typed reads of a signed record's JSON, naming the field in every error.
struct JobField {
    let object: [String: Any]
    let prefix: String

    /// `object` must hold exactly the members `keys`.
    init(_ object: [String: Any], _ prefix: String, keys: [TypedData.Member]) throws(PlaneProtocolError) {
        let expected = Set(keys.map(\.name))
        if let extra = object.keys.sorted().first(where: { !expected.contains($0) }) {
            let shown = extra.utf8.count <= 64 ? extra : String(decoding: extra.utf8.prefix(64), as: UTF8.self) + "…"
            throw PlaneProtocolError(
                .malformed,
                "\(prefix): unexpected field \"\(shown)\" (expected only \(keys.map(\.name).joined(separator: ", ")))"
            )
        }
        self.object = object
        self.prefix = prefix
    }

    /// `{"<record>": {…}, "signature": "0x…"}` and nothing else; the signature parsed (65 bytes, low s).
    static func envelope(_ json: Any?, record: String) throws(PlaneProtocolError) -> ([String: Any], Signature) {
        guard let object = json as? [String: Any] else {
            throw PlaneProtocolError(
                .malformed,
                "\(record): expected {\"\(record)\": {…}, \"signature\": \"0x…\"}, found \(found(json))"
            )
        }
        if let extra = object.keys.sorted().first(where: { $0 != record && $0 != "signature" }) {
            let shown = extra.utf8.count <= 64 ? extra : String(decoding: extra.utf8.prefix(64), as: UTF8.self) + "…"
            throw PlaneProtocolError(
                .malformed,
                "\(record): unexpected field \"\(shown)\" (expected only \(record) and signature)"
            )
        }
        guard let body = object[record] as? [String: Any] else {
            throw PlaneProtocolError(
                .malformed,
                "\(record).\(record): expected a JSON object, found \(found(object[record]))"
            )
        }
        guard let text = object["signature"] as? String else {
            throw PlaneProtocolError(
                .malformed,
                "\(record).signature: expected 0x + 130 hex digits, found \(found(object["signature"]))"
            )
        }
        guard text.utf8.count == 132, let bytes = try? Hex.decode(text) else {
            throw PlaneProtocolError(
                .malformed,
                "\(record).signature: expected 0x + 130 hex digits (65 bytes r ‖ s ‖ v), found a string of \(text.utf8.count) characters"
            )
        }
        do { return (body, try Signature(rsv: bytes)) } catch {
            throw PlaneProtocolError(.malformed, "\(record).signature: \(error.reason)")
        }
    }

    /// A short description of a JSON value's type (never its contents).
    static func found(_ value: Any?) -> String {
        guard let value else { return "nothing" }
        if isBoolean(value) { return "a boolean" }
        switch value {
        case is String: return "a string"
        case is NSNumber: return "a number"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case is NSNull: return "null"
        default: return "\(type(of: value))"
        }
    }

    /// JSON `true`/`false` (Foundation bridges them to NSNumber, which also converts to Int: tell them apart).
    static func isBoolean(_ value: Any) -> Bool {
        if type(of: value) == Bool.self { return true }
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    func fail(_ key: String, _ expected: String) -> PlaneProtocolError {
        PlaneProtocolError(.malformed, "\(prefix).\(key): expected \(expected), found \(Self.found(object[key]))")
    }

    func hash(_ key: String) throws(PlaneProtocolError) -> Hash32 {
        guard let s = object[key] as? String, s.utf8.count == 66, let h = try? Hash32(hex: s) else {
            throw fail(key, "0x + 64 hex digits")
        }
        return h
    }

    func address(_ key: String) throws(PlaneProtocolError) -> Address {
        guard let s = object[key] as? String, s.utf8.count == 42 else { throw fail(key, "0x + 40 hex digits") }
        do { return try Address(hex: s) } catch {
            throw PlaneProtocolError(.malformed, "\(prefix).\(key): expected an EIP-55 address, \(error.reason)")
        }
    }

    /// A decimal string 0…2^64−1 (digits only, at most 20).
    func decimal(_ key: String) throws(PlaneProtocolError) -> UInt64 {
        guard let s = object[key] as? String, (1...20).contains(s.utf8.count),
            s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = UInt64(s)
        else { throw fail(key, "a decimal string 0…18446744073709551615") }
        return v
    }

    /// A JSON integer 0…4294967295 (not a boolean, string or fraction).
    func uint32(_ key: String) throws(PlaneProtocolError) -> UInt32 {
        guard let raw = object[key], !Self.isBoolean(raw), !(raw is String), let i = raw as? Int,
            let v = UInt32(exactly: i)
        else { throw fail(key, "an integer 0…4294967295") }
        return v
    }

    /// A JSON boolean (not 0 or 1).
    func bool(_ key: String) throws(PlaneProtocolError) -> Bool {
        guard let raw = object[key], Self.isBoolean(raw), let b = raw as? Bool else { throw fail(key, "true or false") }
        return b
    }

    /// A string of at most `maximumBytes` UTF-8 bytes (the record's own check then applies).
    func text(_ key: String, maximumBytes: Int) throws(PlaneProtocolError) -> String {
        guard let s = object[key] as? String else { throw fail(key, "a string") }
        guard s.utf8.count <= maximumBytes else {
            throw PlaneProtocolError(
                .malformed,
                "\(prefix).\(key): expected at most \(maximumBytes) UTF-8 bytes, found \(s.utf8.count)"
            )
        }
        return s
    }
}
