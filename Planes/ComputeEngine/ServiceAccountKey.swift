public import Foundation
import JWTKit

/// A Google service-account key (the JSON file `gcloud iam service-accounts keys create` writes), parsed strictly.
///
/// The private key is kept only as a parsed RSA key: its PEM text is not stored, and `description` never shows it.
public struct ServiceAccountKey: Sendable, CustomStringConvertible {
    /// `client_email`: the account, and the JWT's `iss`.
    public let clientEmail: String
    /// `private_key_id`: the JWT header's `kid`.
    public let privateKeyID: String
    /// `token_uri`: where the signed assertion is exchanged for an access token (the JWT's `aud`).
    public let tokenURI: String
    /// `project_id`: the project the account belongs to (the default project for Compute Engine calls).
    public let projectID: String
    /// The RSA signing key from `private_key`.
    let privateKey: Insecure.RSA.PrivateKey

    /// Parses the key file's JSON. Every error names the field that is missing or wrong; none quotes the key.
    public init(json: Data) throws(ComputeEngineError) {
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: json) as? [String: Any] else {
                throw ComputeEngineError(
                    .malformedKey,
                    "service-account key: expected a JSON object, found another value"
                )
            }
            object = parsed
        } catch let error as ComputeEngineError {
            throw error
        } catch {
            throw ComputeEngineError(
                .malformedKey,
                "service-account key: expected JSON, found text that does not parse"
            )
        }
        func field(_ name: String) throws(ComputeEngineError) -> String {
            guard let value = object[name] else {
                throw ComputeEngineError(.malformedKey, "service-account key: expected field \(name), found none")
            }
            guard let text = value as? String, !text.isEmpty else {
                throw ComputeEngineError(
                    .malformedKey,
                    "service-account key: expected field \(name) to be a non-empty string, found \(type(of: value))"
                )
            }
            return text
        }
        let kind = try field("type")
        guard kind == "service_account" else {
            throw ComputeEngineError(
                .malformedKey,
                "service-account key: expected type service_account, found \(kind.prefix(60))"
            )
        }
        let email = try field("client_email")
        guard email.contains("@"), !email.contains(where: \.isWhitespace) else {
            throw ComputeEngineError(
                .malformedKey,
                "service-account key: expected client_email to be an account address, found \(email.prefix(100))"
            )
        }
        let keyID = try field("private_key_id")
        let tokenURI = try field("token_uri")
        guard let url = URL(string: tokenURI), let scheme = url.scheme?.lowercased(),
            scheme == "https" || scheme == "http", url.host?.isEmpty == false
        else {
            throw ComputeEngineError(
                .malformedKey,
                "service-account key: expected token_uri to be an http(s) URL, found \(tokenURI.prefix(100))"
            )
        }
        let project = try field("project_id")
        let pem = try field("private_key")
        guard pem.contains("-----BEGIN PRIVATE KEY-----") || pem.contains("-----BEGIN RSA PRIVATE KEY-----") else {
            throw ComputeEngineError(
                .malformedKey,
                "service-account key: expected private_key to be a PEM private key (BEGIN PRIVATE KEY), found other text"
            )
        }
        do {
            self.privateKey = try Insecure.RSA.PrivateKey(pem: pem)
        } catch {
            throw ComputeEngineError(
                .malformedKey,
                "service-account key: expected private_key to hold an RSA private key of at least 2048 bits, found "
                    + "a PEM that does not parse as one"
            )
        }
        self.clientEmail = email
        self.privateKeyID = keyID
        self.tokenURI = tokenURI
        self.projectID = project
    }

    /// Reads and parses the key file at `url`; the bytes read are zeroed once parsed.
    public init(contentsOf url: URL) throws(ComputeEngineError) {
        var data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ComputeEngineError(.malformedKey, "service-account key: cannot read \(url.path): \(error)")
        }
        defer { data.resetBytes(in: 0..<data.count) }
        try self.init(json: data)
    }

    public var description: String {
        "ServiceAccountKey(\(clientEmail), project \(projectID), key id \(privateKeyID), private key redacted)"
    }
}
