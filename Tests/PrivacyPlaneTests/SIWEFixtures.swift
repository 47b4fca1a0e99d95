import ChainCore
import Foundation
import PrivacyPlane
import TestSupport

/// Helpers shared by the SIWE tests: spruceid/siwe vectors, messages from field objects, a fixed clock.
enum SIWEFixtures {
    /// The spruceid/siwe vector file `name` (under chain/siwe) as a dictionary of cases.
    static func vectors(_ name: String) throws -> [String: Any] {
        guard let cases = try TestData.json("chain/siwe/\(name)") as? [String: Any] else {
            throw FixtureError(description: "chain/siwe/\(name) is not a JSON object of cases")
        }
        return cases
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
    }

    /// The message text a field object describes, laid out as EIP-4361 does (as spruceid/siwe's
    /// `prepareMessage` does), whatever the fields hold: the parser then decides whether it is valid.
    static func messageText(_ fields: [String: Any]) -> String {
        func field(_ key: String) -> String? {
            switch fields[key] {
            case let s as String: return s
            case let n as NSNumber: return n.stringValue
            default: return nil
            }
        }
        var lines: [String] = []
        let scheme = field("scheme").map { "\($0)://" } ?? ""
        lines.append(scheme + (field("domain") ?? "") + " wants you to sign in with your Ethereum account:")
        lines.append(field("address") ?? "")
        lines.append("")
        if let statement = field("statement") { lines.append(statement) }
        lines.append("")
        var tail: [String] = []
        if let v = field("uri") { tail.append("URI: \(v)") }
        if let v = field("version") { tail.append("Version: \(v)") }
        if let v = field("chainId") { tail.append("Chain ID: \(v)") }
        if let v = field("nonce") { tail.append("Nonce: \(v)") }
        if let v = field("issuedAt") { tail.append("Issued At: \(v)") }
        if let v = field("expirationTime") { tail.append("Expiration Time: \(v)") }
        if let v = field("notBefore") { tail.append("Not Before: \(v)") }
        if let v = field("requestId") { tail.append("Request ID: \(v)") }
        if let resources = fields["resources"] as? [String] {
            tail.append("Resources:")
            tail += resources.map { "- \($0)" }
        }
        return (lines + tail).joined(separator: "\n")
    }

    /// A fixed "now" for vectors that name no time (after every Issued At, before every Expiration Time).
    static let defaultNow = try! RFC3339Timestamp(parsing: "2025-01-01T00:00:00Z")

    /// A private key and its address for messages signed inside the tests.
    static let privateKey: [UInt8] = Array(repeating: 0, count: 31) + [0x2A]
    static var signer: Address { try! Secp256k1.shared.address(privateKey: privateKey) }

    /// A message for `signer` with the given nonce and times.
    static func message(
        domain: String = "privacy.delong.example",
        nonce: String = "abcdefgh12345678",
        issuedAt: String = "2026-11-24T21:00:00Z",
        expirationTime: String? = "2026-11-24T22:00:00Z",
        notBefore: String? = nil,
        uri: String = "https://privacy.delong.example/login",
        chainID: UInt64 = 1
    ) throws -> SIWEMessage {
        try SIWEMessage(
            domain: domain,
            address: signer,
            statement: "Sign in to the DeLong Privacy Plane",
            uri: uri,
            chainID: chainID,
            nonce: nonce,
            issuedAt: RFC3339Timestamp(parsing: issuedAt),
            expirationTime: expirationTime.map { try RFC3339Timestamp(parsing: $0) },
            notBefore: notBefore.map { try RFC3339Timestamp(parsing: $0) }
        )
    }

    /// `message` signed by `privateKey` (EIP-191), as 0x-hex r ‖ s ‖ v.
    static func sign(_ message: SIWEMessage) throws -> String {
        Hex.encode(try Secp256k1.shared.sign(message.signingHash, privateKey: privateKey).rsv)
    }

    static func time(_ text: String) -> RFC3339Timestamp { try! RFC3339Timestamp(parsing: text) }
}
