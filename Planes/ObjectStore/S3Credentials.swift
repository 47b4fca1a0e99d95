public import PlaneCrypto

/// The keys and region S3 requests are signed with, from the standard AWS environment variables.
public struct S3Credentials: Sendable {
    /// `AWS_ACCESS_KEY_ID`: not secret, it names the key.
    public let accessKeyID: String
    /// `AWS_SECRET_ACCESS_KEY`, held as a secret (wiped when released, never printed).
    public let secretAccessKey: SecretBytes
    /// `AWS_SESSION_TOKEN` for temporary credentials, sent as `x-amz-security-token`.
    public let sessionToken: String?
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`.
    public let region: String

    public init(accessKeyID: String, secretAccessKey: SecretBytes, sessionToken: String? = nil, region: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
    }

    /// Reads the standard variables; a missing key id or secret is refused by name.
    public static func fromEnvironment(_ environment: [String: String]) throws(ObjectStoreError) -> S3Credentials {
        let id = environment["AWS_ACCESS_KEY_ID"] ?? ""
        let secret = environment["AWS_SECRET_ACCESS_KEY"] ?? ""
        let missing = [("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)].filter { $0.1.isEmpty }
        guard missing.isEmpty else {
            throw ObjectStoreError(
                .credentialsRefused,
                "S3 credentials: expected \(missing.map(\.0).joined(separator: " and ")) in the environment, "
                    + "found none"
            )
        }
        let region =
            environment["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["AWS_DEFAULT_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? "us-east-1"
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return S3Credentials(
            accessKeyID: id,
            secretAccessKey: SecretBytes(copying: Array(secret.utf8)),
            sessionToken: token,
            region: region
        )
    }
}
