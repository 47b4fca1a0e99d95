public import ChainCore

/// JSON shapes of the Privacy Plane's HTTP API (docs/privacy-plane.md): tokens, wrapped keys, receipts.
/// Bytes are 0x-hex, integers that may exceed 2^53 are decimal strings, modes are "explore" / "secure".
extension SignedAccessToken {
    public var json: [String: Any] {
        let t = token
        return [
            "token": [
                "consumer": t.consumer.checksummed, "dataset": t.dataset.hex, "rental": t.rental.hex,
                "mode": t.mode.name, "imageDigest": t.imageDigest.hex,
                "jobId": t.jobID.hex, "audience": t.audience.checksummed, "notBefore": "\(t.notBefore)",
                "expiry": "\(t.expiry)", "nonce": t.nonce.hex,
            ] as [String: Any],
            "signature": Hex.encode(signature.rsv),
        ]
    }

    /// Parses `json`; every field must be present and well-formed (the rental id must match, see
    /// `TokenVerifier`, which also checks the signature).
    public init(json: Any?) throws(PlaneProtocolError) {
        guard let object = json as? [String: Any], let t = object["token"] as? [String: Any],
            let signature = object["signature"] as? String
        else { throw PlaneProtocolError(.malformed, "token: expected {\"token\": {…}, \"signature\": \"0x…\"}") }
        let field = WireField(t, "token")
        let mode = try AccessToken.Mode(name: try field.string("mode"), field: "token.mode")
        var token = AccessToken(
            consumer: try field.address("consumer"),
            dataset: try field.hash("dataset"),
            mode: mode,
            imageDigest: try field.hash("imageDigest"),
            jobID: try field.hash("jobId"),
            audience: try field.address("audience"),
            notBefore: try field.uint("notBefore"),
            expiry: try field.uint("expiry"),
            nonce: try field.hash("nonce")
        )
        token.rental = try field.hash("rental")
        do { self.init(token: token, signature: try Signature(rsv: Hex.decode(signature))) } catch {
            throw PlaneProtocolError(.malformed, "token.signature: \(error)")
        }
    }
}

extension KeyWrap.Wrapped {
    public var json: [String: Any] {
        [
            "dataset": dataset.hex, "keyVersion": Int(keyVersion), "token": tokenHash.hex, "evidence": evidenceHash.hex,
            "planeKey": Hex.encode(planeKey), "nonce": Hex.encode(nonce), "sealed": Hex.encode(sealed),
        ]
    }

    public init(json: Any?) throws(PlaneProtocolError) {
        guard let object = json as? [String: Any] else {
            throw PlaneProtocolError(.malformed, "wrapped key: expected a JSON object")
        }
        let field = WireField(object, "wrapped")
        guard let version = object["keyVersion"] as? Int, let keyVersion = UInt32(exactly: version) else {
            throw PlaneProtocolError(.malformed, "wrapped.keyVersion: expected 0…4294967295")
        }
        self.init(
            dataset: try field.hash("dataset"),
            keyVersion: keyVersion,
            tokenHash: try field.hash("token"),
            evidenceHash: try field.hash("evidence"),
            planeKey: try field.bytes("planeKey"),
            nonce: try field.bytes("nonce"),
            sealed: try field.bytes("sealed")
        )
    }
}

extension SignedReceipt {
    public var json: [String: Any] {
        ["receipt": receipt.json, "hash": hash.hex, "signature": Hex.encode(signature.rsv)]
    }

    /// Parses `json` (the shape of `json`). The hash is taken as sent: `verify(domain:signer:)` checks it.
    public init(json: Any?) throws(PlaneProtocolError) {
        guard let object = json as? [String: Any] else {
            throw PlaneProtocolError(.malformed, "receipt: expected {\"receipt\", \"hash\", \"signature\"}")
        }
        let field = WireField(object, "receipt")
        let signature: Signature
        do { signature = try Signature(rsv: try field.bytes("signature", max: 65)) } catch let error
            as PlaneProtocolError
        {
            throw error
        } catch { throw PlaneProtocolError(.malformed, "receipt.signature: \(error)") }
        self.init(
            receipt: try KeyReleaseReceipt(json: object["receipt"]),
            hash: try field.hash("hash"),
            signature: signature
        )
    }
}

extension KeyReleaseReceipt {
    /// Parses the message of `json`: numbers as decimal strings, kinds as small integers, bytes as 0x-hex.
    public init(json: Any?) throws(PlaneProtocolError) {
        guard let object = json as? [String: Any] else {
            throw PlaneProtocolError(.malformed, "receipt.receipt: expected a JSON object")
        }
        let field = WireField(object, "receipt.receipt")
        guard let kind = Kind(rawValue: try field.small("kind")) else {
            throw field.fail("kind", "0 (sandbox), 1 (provider) or 2 (sample)")
        }
        guard let evidenceKind = EvidenceKind(rawValue: try field.small("evidenceKind")) else {
            throw field.fail("evidenceKind", "0, 1, 2 or 255")
        }
        guard let keyVersion = UInt32(exactly: try field.decimal("keyVersion")) else {
            throw field.fail("keyVersion", "a decimal string 0…4294967295")
        }
        self.init(
            sequence: try field.decimal("sequence"),
            previous: try field.hash("previous"),
            kind: kind,
            rental: try field.hash("rental"),
            dataset: try field.hash("dataset"),
            recipient: try field.address("recipient"),
            blockNumber: try field.decimal("blockNumber"),
            blockHash: try field.hash("blockHash"),
            token: try field.hash("token"),
            evidence: try field.hash("evidence"),
            evidenceKind: evidenceKind,
            imageDigest: try field.hash("imageDigest"),
            jobID: try field.hash("jobId"),
            keyVersion: keyVersion,
            releasedAt: try field.decimal("releasedAt")
        )
    }
}

extension KeyReleaseRequest {
    public var json: [String: Any] {
        [
            "token": token.json, "evidence": Hex.encode(evidence), "sandboxKey": Hex.encode(sandboxKey),
            "agentSigner": agentSigner.checksummed, "keyVersion": Int(keyVersion),
        ]
    }

    /// Parses a request body: the token first, then the evidence, the sandbox key, the agent's signer address
    /// and the key version (1 when absent).
    public init(json: [String: Any]) throws(PlaneProtocolError) {
        let field = WireField(json, "request")
        self.init(
            token: try SignedAccessToken(json: json["token"]),
            evidence: try field.bytes("evidence"),
            sandboxKey: try field.bytes("sandboxKey", max: 64),
            agentSigner: try field.address("agentSigner"),
            keyVersion: try field.keyVersion()
        )
    }
}

extension SampleKeyRequest {
    public var json: [String: Any] {
        [
            "token": token.json, "sample": sample.hex, "evidence": Hex.encode(evidence),
            "recipientKey": Hex.encode(recipientKey), "keyVersion": Int(keyVersion),
        ]
    }

    /// Parses a request body: the token first, then the sample dataset, the evidence, the recipient key and the
    /// key version (1 when absent).
    public init(json: [String: Any]) throws(PlaneProtocolError) {
        let field = WireField(json, "request")
        self.init(
            token: try SignedAccessToken(json: json["token"]),
            sample: try field.hash("sample"),
            evidence: try field.bytes("evidence"),
            recipientKey: try field.bytes("recipientKey", max: 64),
            keyVersion: try field.keyVersion()
        )
    }
}

extension ProviderKeyRequest {
    public var json: [String: Any] {
        ["dataset": dataset.hex, "recipientKey": Hex.encode(recipientKey), "keyVersion": Int(keyVersion)]
    }

    public init(json: [String: Any]) throws(PlaneProtocolError) {
        let field = WireField(json, "request")
        self.init(
            dataset: try field.hash("dataset"),
            recipientKey: try field.bytes("recipientKey", max: 64),
            keyVersion: try field.keyVersion()
        )
    }
}

extension TokenRequest {
    /// Explore requests carry no image digest or job id; the audience is sent whenever it is not zero.
    public var json: [String: Any] {
        var object: [String: Any] = ["dataset": dataset.hex, "mode": mode.name]
        if mode == .secure {
            object["imageDigest"] = imageDigest.hex
            object["jobId"] = jobID.hex
        }
        if audience != .zero { object["audience"] = audience.checksummed }
        return object
    }

    /// Parses a request body: the mode, the dataset, for Secure Mode the image digest and job id, and the
    /// audience when present (zero when absent; the plane refuses a request without one, naming what it
    /// found).
    public init(json: [String: Any]) throws(PlaneProtocolError) {
        let field = WireField(json, "request")
        let mode = try AccessToken.Mode(name: try field.string("mode"), field: "request.mode")
        let secure = mode == .secure
        self.init(
            dataset: try field.hash("dataset"),
            mode: mode,
            imageDigest: secure ? try field.hash("imageDigest") : .zero,
            jobID: secure ? try field.hash("jobId") : .zero,
            audience: json["audience"] == nil ? .zero : try field.address("audience")
        )
    }
}

extension KeyReleaseResponse {
    public var json: [String: Any] {
        var object: [String: Any] = ["wrapped": wrapped.json, "receipt": receipt.json]
        if lease != .none { object["lease"] = lease.json }
        return object
    }

    /// Parses an answer: the wrapped key and its receipt, and the lease (sandbox releases always carry one;
    /// a provider's key none, which parses as `KeyLease.none`).
    public init(json: [String: Any]) throws(PlaneProtocolError) {
        self.init(
            wrapped: try KeyWrap.Wrapped(json: json["wrapped"]),
            receipt: try SignedReceipt(json: json["receipt"]),
            lease: json["lease"] == nil ? .none : try KeyLease(json: json["lease"])
        )
    }
}

extension KeyLease {
    /// `{"id": "0x…", "expiresAt": "…", "renewEvery": "…"}` (numbers as decimal strings).
    public var json: [String: Any] {
        ["id": id.hex, "expiresAt": "\(expiresAt)", "renewEvery": "\(renewEvery)"]
    }

    /// Parses a lease; numbers may be decimal strings or JSON integers.
    public init(json: Any?) throws(PlaneProtocolError) {
        guard let object = json as? [String: Any] else {
            throw PlaneProtocolError(.malformed, "lease: expected {\"id\", \"expiresAt\", \"renewEvery\"}")
        }
        let field = WireField(object, "lease")
        self.init(
            id: try field.hash("id"),
            expiresAt: try field.uint("expiresAt"),
            renewEvery: try field.uint("renewEvery")
        )
    }
}

extension LeaseRenewal {
    /// `{"lease": "0x<token hash>", "at": "<unix seconds>", "signature": "0x<65 bytes r‖s‖v>"}`.
    public var json: [String: Any] {
        ["lease": lease.hex, "at": "\(at)", "signature": Hex.encode(signature.rsv)]
    }

    public init(json: [String: Any]) throws(PlaneProtocolError) {
        let field = WireField(json, "renewal")
        let rsv = try field.bytes("signature", max: 65)
        let signature: Signature
        do { signature = try Signature(rsv: rsv) } catch {
            throw field.fail("signature", "65 bytes r ‖ s ‖ v")
        }
        self.init(lease: try field.hash("lease"), at: try field.uint("at"), signature: signature)
    }
}

/// Reads typed fields of a JSON object, naming the field in every error.
public struct WireField {
    let object: [String: Any]
    let prefix: String

    public init(_ object: [String: Any], _ prefix: String) {
        self.object = object
        self.prefix = prefix
    }

    public func fail(_ key: String, _ expected: String) -> PlaneProtocolError {
        let found = object[key].map { "\(type(of: $0))" } ?? "nothing"
        return PlaneProtocolError(.malformed, "\(prefix).\(key): expected \(expected), found \(found)")
    }

    public func string(_ key: String) throws(PlaneProtocolError) -> String {
        guard let s = object[key] as? String else { throw fail(key, "a string") }
        return s
    }

    public func hash(_ key: String) throws(PlaneProtocolError) -> Hash32 {
        guard let s = object[key] as? String, let h = try? Hash32(hex: s) else { throw fail(key, "0x + 64 hex digits") }
        return h
    }

    public func address(_ key: String) throws(PlaneProtocolError) -> Address {
        guard let s = object[key] as? String, let a = try? Address(hex: s) else {
            throw fail(key, "0x + 40 hex digits")
        }
        return a
    }

    public func bytes(_ key: String, max: Int = 1 << 20) throws(PlaneProtocolError) -> [UInt8] {
        guard let s = object[key] as? String, s.utf8.count <= 2 * max + 2, let b = try? Hex.decode(s) else {
            throw fail(key, "hex bytes (at most \(max))")
        }
        return b
    }

    /// A decimal string only (how receipts write 64-bit numbers).
    public func decimal(_ key: String) throws(PlaneProtocolError) -> UInt64 {
        guard let s = object[key] as? String, let v = UInt64(s) else { throw fail(key, "a decimal string") }
        return v
    }

    /// A JSON integer 0…255.
    public func small(_ key: String) throws(PlaneProtocolError) -> UInt8 {
        guard let i = object[key] as? Int, let v = UInt8(exactly: i) else { throw fail(key, "an integer 0…255") }
        return v
    }

    /// The optional `keyVersion`: 1 when absent, else a JSON integer (the plane checks its range).
    public func keyVersion() throws(PlaneProtocolError) -> UInt32 {
        guard let raw = object["keyVersion"] else { return 1 }
        guard let i = raw as? Int, let v = UInt32(exactly: i) else {
            throw fail("keyVersion", "an integer 0…4294967295")
        }
        return v
    }

    /// A decimal string or a JSON integer.
    public func uint(_ key: String) throws(PlaneProtocolError) -> UInt64 {
        if let s = object[key] as? String, let v = UInt64(s) { return v }
        if let i = object[key] as? Int, let v = UInt64(exactly: i) { return v }
        throw fail(key, "an unsigned integer")
    }
}
