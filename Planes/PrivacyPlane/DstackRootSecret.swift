public import Attestation
import ChainCore
import Foundation
public import PlaneCrypto

/// The root secret from the dstack guest agent — the production provider: inside a dstack CVM the agent answers
/// `POST /GetKey {"path", "purpose"}` with `{"key": hex, "signature_chain": [hex…]}`, a key the dstack KMS
/// derives for this application's measured identity only. The same app on another machine gets the same key; a
/// modified app gets another. The agent is reached through ``DstackGuestAgent`` (Attestation), the one client of
/// its API.
public struct DstackRootSecret: RootSecretProvider {
    /// The key path and purpose DeLong asks for; changing either changes every dataset key.
    public static let keyPath = "delong/privacy-plane/root"
    public static let purpose = "delong-dek-root-v1"
    /// GetKey responses larger than this are refused (a key and its signature chain are a few hundred bytes).
    static let maxResponse = 64 * 1024

    public let agent: DstackGuestAgent

    public init(agent: DstackGuestAgent) { self.agent = agent }

    /// The agent on the socket at `socketPath`.
    public init(socketPath: String, timeoutSeconds: Int = 10) {
        self.init(agent: DstackGuestAgent(endpoint: .unix(socketPath), timeoutSeconds: timeoutSeconds))
    }

    /// The exact body of DeLong's GetKey request.
    package static var keyRequest: [UInt8] {
        Array("{\"path\":\"\(keyPath)\",\"purpose\":\"\(purpose)\"}".utf8)
    }

    /// The key's hex is read straight from the response bytes (never into a Foundation string that cannot be
    /// wiped), and the response, its hex and the decoded key are wiped once the key is in ``SecretBytes``.
    public func rootSecret() throws -> SecretBytes {
        var payload: [UInt8]
        do { payload = try agent.call("GetKey", body: Self.keyRequest, maxResponse: Self.maxResponse) } catch {
            throw PrivacyPlaneError(.keyUnavailable, error.reason)
        }
        defer { SecretBytes.wipe(&payload) }
        guard var key = Self.hexStringField("key", in: payload) else {
            throw unavailable("GetKey response: \"key\" is missing or not hex")
        }
        defer { SecretBytes.wipe(&key) }
        guard key.count == 32 else { throw unavailable("GetKey key: expected 32 bytes, found \(key.count)") }
        return SecretBytes(copying: key)
    }

    /// The bytes a JSON object's top-level `"name": "hex"` member decodes to (optional `0x`), read from the raw
    /// JSON bytes; nil when the member is missing or is not a plain hex string. Intermediate copies are wiped.
    package static func hexStringField(_ name: String, in json: [UInt8]) -> [UInt8]? {
        let needle = Array("\"\(name)\"".utf8)
        guard let found = json.firstRange(of: needle) else { return nil }
        var i = found.upperBound
        func skipSpace() { while i < json.count, [9, 10, 13, 32].contains(json[i]) { i += 1 } }
        skipSpace()
        guard i < json.count, json[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        skipSpace()
        guard i < json.count, json[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        if i + 1 < json.count, json[i] == UInt8(ascii: "0"), json[i + 1] | 0x20 == UInt8(ascii: "x") { i += 2 }
        let start = i
        while i < json.count, SecretBytes.hexValue(json[i]) != nil { i += 1 }
        guard i < json.count, json[i] == UInt8(ascii: "\""), i - start <= 128,
            let decoded = SecretBytes.decodingHex(json[start..<i])
        else { return nil }
        return decoded.withUnsafeBytes { Array($0) }
    }

    private func unavailable(_ what: String) -> PrivacyPlaneError {
        PrivacyPlaneError(.keyUnavailable, "dstack guest agent at \(agent.endpoint): \(what)")
    }
}
