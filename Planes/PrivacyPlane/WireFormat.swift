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
                "jobId": t.jobID.hex, "notBefore": "\(t.notBefore)", "expiry": "\(t.expiry)", "nonce": t.nonce.hex,
            ] as [String: Any],
            "signature": Hex.encode(signature.rsv),
        ]
    }

    /// Parses `json`; every field must be present and well-formed (the rental id must match, see
    /// `TokenVerifier`, which also checks the signature).
    public init(json: Any?) throws(PrivacyPlaneError) {
        guard let object = json as? [String: Any], let t = object["token"] as? [String: Any],
            let signature = object["signature"] as? String
        else { throw PrivacyPlaneError(.badRequest, "token: expected {\"token\": {…}, \"signature\": \"0x…\"}") }
        let field = WireField(t, "token")
        let mode = try AccessToken.Mode(name: try field.string("mode"), field: "token.mode")
        var token = AccessToken(
            consumer: try field.address("consumer"),
            dataset: try field.hash("dataset"),
            mode: mode,
            imageDigest: try field.hash("imageDigest"),
            jobID: try field.hash("jobId"),
            notBefore: try field.uint("notBefore"),
            expiry: try field.uint("expiry"),
            nonce: try field.hash("nonce")
        )
        token.rental = try field.hash("rental")
        do { self.init(token: token, signature: try Signature(rsv: Hex.decode(signature))) } catch {
            throw PrivacyPlaneError(.badRequest, "token.signature: \(error)")
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

    public init(json: Any?) throws(PrivacyPlaneError) {
        guard let object = json as? [String: Any] else {
            throw PrivacyPlaneError(.badRequest, "wrapped key: expected a JSON object")
        }
        let field = WireField(object, "wrapped")
        guard let version = object["keyVersion"] as? Int, let keyVersion = UInt32(exactly: version) else {
            throw PrivacyPlaneError(.badRequest, "wrapped.keyVersion: expected 0…4294967295")
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
}

/// Reads typed fields of a JSON object, naming the field in every error.
public struct WireField {
    let object: [String: Any]
    let prefix: String

    public init(_ object: [String: Any], _ prefix: String) {
        self.object = object
        self.prefix = prefix
    }

    func fail(_ key: String, _ expected: String) -> PrivacyPlaneError {
        let found = object[key].map { "\(type(of: $0))" } ?? "nothing"
        return PrivacyPlaneError(.badRequest, "\(prefix).\(key): expected \(expected), found \(found)")
    }

    public func string(_ key: String) throws(PrivacyPlaneError) -> String {
        guard let s = object[key] as? String else { throw fail(key, "a string") }
        return s
    }

    public func hash(_ key: String) throws(PrivacyPlaneError) -> Hash32 {
        guard let s = object[key] as? String, let h = try? Hash32(hex: s) else { throw fail(key, "0x + 64 hex digits") }
        return h
    }

    public func address(_ key: String) throws(PrivacyPlaneError) -> Address {
        guard let s = object[key] as? String, let a = try? Address(hex: s) else {
            throw fail(key, "0x + 40 hex digits")
        }
        return a
    }

    public func bytes(_ key: String, max: Int = 1 << 20) throws(PrivacyPlaneError) -> [UInt8] {
        guard let s = object[key] as? String, s.utf8.count <= 2 * max + 2, let b = try? Hex.decode(s) else {
            throw fail(key, "hex bytes (at most \(max))")
        }
        return b
    }

    /// A decimal string or a JSON integer.
    public func uint(_ key: String) throws(PrivacyPlaneError) -> UInt64 {
        if let s = object[key] as? String, let v = UInt64(s) { return v }
        if let i = object[key] as? Int, let v = UInt64(exactly: i) { return v }
        throw fail(key, "an unsigned integer")
    }
}
