import Foundation
import PlaneCrypto
import TestSupport
import Testing

/// `delong bundle publish --da s3://…` against a local S3 store (moto, signatures checked): the bundle lands
/// content-addressed in the bucket, boto3 reads it back and hashes it; a missing bucket, refused credentials,
/// a dead endpoint and planted bytes each fail with their own exit status, and nothing is half-written.
@Suite(.serialized) struct BundlePublishS3Tests {
    static let readBack = """
        import boto3, hashlib, sys
        s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
        body = s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])["Body"].read()
        open(sys.argv[4], "wb").write(body)
        print(hashlib.sha256(body).hexdigest())
        """

    static let plant = """
        import boto3, sys
        boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").put_object(
            Bucket=sys.argv[2], Key=sys.argv[3], Body=b"planted, not the bundle")
        """

    @Test func publishWritesTheBundleToS3AndBadStoresFailWithTheirOwnStatus() throws {
        let moto = try MotoS3()
        defer { moto.stop() }
        let devnet = try Devnet(arguments: ["--deterministic"])
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let deployment = dir.appendingPathComponent("deployment.json")
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--out", deployment.path])
        let wallet = try ContribTool.python(BundlePublishTests.walletKey, [deployment.path]).split(separator: " ")
        let keyFile = dir.appendingPathComponent("wallet.key")
        try Data(wallet[0].utf8).write(to: keyFile)
        chmod(keyFile.path, 0o600)
        let bundle = dir.appendingPathComponent("algo")
        try FileManager.default.createDirectory(at: bundle, withIntermediateDirectories: true)
        let main = bundle.appendingPathComponent("main.py")
        try Data("print('hello from s3')\n".utf8).write(to: main)
        func publish(
            da: String = "s3://\(moto.bucket)/algorithms",
            endpoint: String? = nil,
            env: [String: String] = [:]
        )
            throws -> DelongProcess.Result
        {
            try DelongProcess.run(
                [
                    "bundle", "publish", bundle.path, "--da", da, "--s3-endpoint", endpoint ?? moto.endpoint,
                    "--rpc", devnet.url, "--contracts", deployment.path, "--wallet-key", keyFile.path,
                    "--runtime", "sha256:" + String(repeating: "ab", count: 32), "--json",
                ],
                environment: moto.environment.merging(env) { $1 }
            )
        }
        func packedDigest() throws -> String {
            let packed = dir.appendingPathComponent("algo-\(UUID().uuidString).tar")
            #expect(try DelongProcess.run(["bundle", "pack", bundle.path, "-o", packed.path]).status == 0)
            return SigV4Hex.of(Digest.sha256([UInt8](try Data(contentsOf: packed))))
        }

        let expected = try packedDigest()
        let r = try publish()
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json, "\(r.stdout)\(r.stderr)")
        let key = "algorithms/sha256/\(expected)"
        #expect(json["daPath"] as? String == "s3://\(moto.bucket)/\(key)")
        #expect(json["bundleDigest"] as? String == "sha256:\(expected)")
        let copy = dir.appendingPathComponent("read-back.tar")
        #expect(try moto.boto3(Self.readBack, [key, copy.path]) == expected + "\n", "boto3 reads the digest's bytes")
        #expect(try moto.listing() == [key: try Data(contentsOf: copy).count])

        // Each bad store on a new bundle: its own status, a message that names the cause, nothing written.
        var n = 0
        func nextBundle() throws {
            n += 1
            try Data("print(\(n))\n".utf8).write(to: main)
        }
        try nextBundle()
        let noBucket = try publish(da: "s3://no-such-bucket/algorithms")
        #expect(noBucket.status == 2, "\(noBucket.stderr)")
        #expect(noBucket.stderr.contains("expected bucket no-such-bucket to exist"), "\(noBucket.stderr)")

        let wrongSecret = try publish(env: ["AWS_SECRET_ACCESS_KEY": "not-the-secret"])
        #expect(wrongSecret.status == 4, "\(wrongSecret.stderr)")
        #expect(
            wrongSecret.stderr.contains("refused access key \(moto.accessKeyID) (HTTP 403)"),
            "\(wrongSecret.stderr)"
        )
        #expect(!wrongSecret.stderr.contains("not-the-secret"), "the secret is never printed")

        let noCredentials = try publish(env: ["AWS_ACCESS_KEY_ID": ""])
        #expect(noCredentials.status == 4, "\(noCredentials.stderr)")
        #expect(noCredentials.stderr.contains("expected AWS_ACCESS_KEY_ID"), "\(noCredentials.stderr)")

        let down = try publish(endpoint: "http://127.0.0.1:1")
        #expect(down.status == 3, "\(down.stderr)")
        #expect(down.stderr.contains("no answer from the S3 endpoint"), "\(down.stderr)")

        let badLocation = try publish(da: "s3://Bad_Bucket")
        #expect(badLocation.status == 2, "\(badLocation.stderr)")

        let endpointForDirectory = try publish(da: dir.appendingPathComponent("da").path)
        #expect(endpointForDirectory.status == 64, "\(endpointForDirectory.stderr)")
        #expect(endpointForDirectory.stderr.contains("--s3-endpoint is only for an s3:// --da"))

        #expect(try moto.listing() == [key: try Data(contentsOf: copy).count], "the failures wrote nothing")

        // Other bytes planted at the next bundle's address: refused, left as they are, nothing sent on chain.
        let plantedKey = "algorithms/sha256/\(try packedDigest())"
        try moto.boto3(Self.plant, [plantedKey])
        let conflict = try publish()
        #expect(conflict.status == 1, "\(conflict.stderr)")
        #expect(conflict.stderr.contains("do not hash to its address"), "\(conflict.stderr)")
        #expect(try moto.listing()[plantedKey] == 23, "the planted object is untouched")
        #expect(!conflict.stderr.contains("transaction"))
    }
}

/// Lower-case hex, for expected keys.
enum SigV4Hex {
    static func of(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
