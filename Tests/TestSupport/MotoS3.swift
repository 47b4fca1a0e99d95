public import Foundation
import Glibc

/// A local S3 store for tests: moto in server mode (contrib/references/.venv, PyPI `moto[server]`) on
/// 127.0.0.1 at an ephemeral port, by default with signature checking on.
///
/// moto checks SigV4 signatures and access keys once its first `INITIAL_NO_AUTH_ACTION_COUNT` requests are
/// spent; those three create an IAM user, its access key and an allow-all S3 policy. From then on a request
/// signed with another secret gets 403 `SignatureDoesNotMatch` and an unknown key id 403 `InvalidAccessKeyId`,
/// so a passing request shows that DeLong's signature verified. The bucket is created with the user's key.
/// moto 5.2.1's check refuses correctly signed listings whose query holds a `/` (`prefix=a/b/`, which rclone
/// and boto3 send), so a store that rclone lists is started with `checkSignatures: false`.
public final class MotoS3: @unchecked Sendable {
    public let endpoint: String
    public let bucket: String
    public let accessKeyID: String
    public let secretAccessKey: String
    public let region = "us-east-1"
    private let process: Process
    private let log: URL

    static let setup = """
        import boto3, json, sys
        ep, bucket = sys.argv[1], sys.argv[2]
        kw = dict(endpoint_url=ep, region_name="us-east-1")
        iam = boto3.client("iam", aws_access_key_id="AKIAMOTOSETUP", aws_secret_access_key="setup", **kw)
        iam.create_user(UserName="delong")
        key = iam.create_access_key(UserName="delong")["AccessKey"]
        iam.put_user_policy(UserName="delong", PolicyName="s3", PolicyDocument=json.dumps({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        s3 = boto3.client("s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], **kw)
        s3.create_bucket(Bucket=bucket)
        print(key["AccessKeyId"], key["SecretAccessKey"])
        """

    /// The reference venv's Python (moto, boto3).
    public static var python: URL { TestData.packageRoot.appendingPathComponent("contrib/references/.venv/bin/python") }

    /// Starts moto, waits for its port, creates the user and `bucket`.
    public init(bucket: String = "delong-da", checkSignatures: Bool = true) throws {
        let server = TestData.packageRoot.appendingPathComponent("contrib/references/.venv/bin/moto_server")
        guard FileManager.default.isExecutableFile(atPath: server.path) else {
            throw CocoaError(
                .fileNoSuchFile,
                userInfo: [NSLocalizedDescriptionKey: "moto_server is missing: run contrib/references/venv.sh"]
            )
        }
        log = FileManager.default.temporaryDirectory.appendingPathComponent("delong-moto-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        process = Process()
        process.executableURL = server
        process.arguments = ["-H", "127.0.0.1", "-p", "0"]
        var environment = ProcessInfo.processInfo.environment
        if checkSignatures { environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3" }
        process.environment = environment
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try? output.close()
        var port: String?
        for _ in 0..<300 where port == nil && process.isRunning {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: "Running on http://127.0.0.1:") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if !digits.isEmpty { port = String(digits) }
            }
            if port == nil { usleep(50_000) }
        }
        guard let port else {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if process.isRunning { process.terminate() }
            throw CocoaError(
                .executableLoad,
                userInfo: [NSLocalizedDescriptionKey: "moto_server did not start within 15 s: \(text.suffix(2000))"]
            )
        }
        endpoint = "http://127.0.0.1:\(port)"
        self.bucket = bucket
        let keys: [Substring]
        do {
            keys = try ContribTool.run([Self.python.path, "-c", Self.setup, endpoint, bucket]).split(separator: " ")
        } catch {
            process.terminate()
            throw error
        }
        accessKeyID = String(keys[0])
        secretAccessKey = String(keys[1]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit { stop() }

    /// Stops moto (idempotent) and removes its log. moto exits on SIGTERM only once its request threads
    /// end, and a client's pooled keep-alive connection holds one open, so SIGKILL follows after 2 s.
    public func stop() {
        if process.isRunning {
            process.terminate()
            for _ in 0..<40 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: log)
    }

    /// The environment a client of this store needs (the standard AWS variables).
    public var environment: [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey, "AWS_REGION": region]
    }

    /// Runs `script` with boto3 against this store; `sys.argv[1]` is the endpoint, `[2]` the bucket, then
    /// `arguments`. The AWS variables are set to the store's key.
    @discardableResult
    public func boto3(_ script: String, _ arguments: [String] = []) throws -> String {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "AWS_CA_BUNDLE")
        for (k, v) in self.environment { environment[k] = v }
        return try ContribTool.run(
            [Self.python.path, "-c", script, endpoint, bucket] + arguments,
            environment: environment
        )
    }

    /// The keys in the bucket under `prefix`, sorted, with their sizes.
    public func listing(prefix: String = "") throws -> [String: Int] {
        let text = try boto3(
            """
            import boto3, json, sys
            s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
            items = {}
            # The whole bucket, filtered here: moto's signature check refuses boto3's Prefix= with a slash.
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2]):
                for o in page.get("Contents", []):
                    if o["Key"].startswith(sys.argv[3]):
                        items[o["Key"]] = o["Size"]
            print(json.dumps(items))
            """,
            [prefix]
        )
        return (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Int]) ?? [:]
    }
}
