public import CryptoExtras
public import Foundation

/// A service account made up for a test: an RSA-2048 key generated in memory (no key file is committed) and the
/// key JSON Google would hand out for it, pointing its `token_uri` at a fake.
public struct TestServiceAccount: Sendable {
    public let email: String
    public let keyID: String
    public let projectID: String
    public let privateKey: _RSA.Signing.PrivateKey

    /// A fresh account with a new 2048-bit key.
    public init(
        email: String = "delong-runner@delong-test.iam.gserviceaccount.com",
        projectID: String = "delong-test"
    ) throws {
        self.email = email
        self.projectID = projectID
        self.keyID = (0..<20).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        self.privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
    }

    /// The public half, which the fake token endpoint checks signatures with.
    public var publicKey: _RSA.Signing.PublicKey { privateKey.publicKey }

    /// The key file's JSON, with the fields of a real one (PKCS#8 PEM, as Google writes it).
    public func keyJSON(tokenURI: String, overriding overrides: [String: Any?] = [:]) throws -> Data {
        var object: [String: Any] = [
            "type": "service_account",
            "project_id": projectID,
            "private_key_id": keyID,
            "private_key": privateKey.pkcs8PEMRepresentation,
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": tokenURI,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        ]
        for (key, value) in overrides {
            if let value { object[key] = value } else { object.removeValue(forKey: key) }
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}
