import Foundation
import Logging
import ObjectStore
import PlaneCrypto
import TestSupport
import Testing

/// The content-addressed store against a local S3 (moto with signature checks on): what DeLong writes, boto3
/// reads back and hashes; an object is never overwritten; bad buckets, keys and endpoints fail by name and
/// write nothing.
@Suite(.serialized) struct S3ContentStoreTests {
    static let logger = Logger(label: "test.objectstore")

    static func store(
        _ moto: MotoS3,
        secret: String? = nil,
        keyID: String? = nil,
        bucket: String? = nil,
        endpoint: String? = nil,
        prefix: String = "da"
    ) throws -> S3ContentStore {
        var environment = moto.environment
        if let secret { environment["AWS_SECRET_ACCESS_KEY"] = secret }
        if let keyID { environment["AWS_ACCESS_KEY_ID"] = keyID }
        let client = try S3Client(
            endpoint: endpoint ?? moto.endpoint,
            credentials: S3Credentials.fromEnvironment(environment),
            timeout: .seconds(10)
        )
        return S3ContentStore(client: client, location: S3Location(bucket: bucket ?? moto.bucket, prefix: prefix))
    }

    static let readBack = """
        import boto3, hashlib, sys
        s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
        body = s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])["Body"].read()
        print(len(body), hashlib.sha256(body).hexdigest())
        """

    @Test func putWritesTheBytesUnderTheirDigestAndBoto3ReadsThemBack() async throws {
        let moto = try MotoS3()
        defer { moto.stop() }
        var rng = DeterministicBytes(seed: 5)
        let bytes = rng.bytes(300_000)
        let store = try Self.store(moto)
        let (digest, outcome) = try await store.put(bytes, logger: Self.logger)
        #expect(outcome == .written)
        #expect(digest == Digest.sha256(bytes))
        let key = store.key(of: digest)
        #expect(key == "da/sha256/" + SigV4.hex(digest))
        #expect(try moto.boto3(Self.readBack, [key]) == "300000 \(SigV4.hex(digest))\n")
        #expect(try await store.get(digest, limit: 1 << 20, logger: Self.logger) == bytes)
        // Again: found and checked, not rewritten.
        #expect(try await store.put(bytes, logger: Self.logger).outcome == .alreadyPresent)
        #expect(try moto.listing() == [key: 300_000])
    }

    @Test func anObjectHoldingOtherBytesIsAConflictAndIsLeftAsItIs() async throws {
        let moto = try MotoS3()
        defer { moto.stop() }
        let store = try Self.store(moto)
        let bytes = Array("the real bundle".utf8)
        let key = store.key(of: Digest.sha256(bytes))
        // Someone planted other bytes under this address.
        try moto.boto3(
            """
            import boto3, sys
            boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").put_object(
                Bucket=sys.argv[2], Key=sys.argv[3], Body=b"planted bytes!!")
            """,
            [key]
        )
        await #expect(throws: ObjectStoreError(.conflict, "")) { try await store.put(bytes, logger: Self.logger) }
        #expect(try moto.boto3(Self.readBack, [key]).hasPrefix("15 "), "the planted object is untouched")
        await #expect(throws: ObjectStoreError(.mismatch, "")) {
            try await store.get(Digest.sha256(bytes), limit: 100, logger: Self.logger)
        }
    }

    @Test func badBucketKeyAndEndpointFailByNameAndWriteNothing() async throws {
        let moto = try MotoS3()
        defer { moto.stop() }
        let bytes = Array("bundle".utf8)
        let cases: [(String, ObjectStoreError.Code, () throws -> S3ContentStore)] = [
            ("missing bucket", .bucketMissing, { try Self.store(moto, bucket: "no-such-bucket") }),
            ("wrong secret", .credentialsRefused, { try Self.store(moto, secret: "not-the-secret") }),
            ("unknown key id", .credentialsRefused, { try Self.store(moto, keyID: "AKIAUNKNOWNKEY000000") }),
            ("endpoint down", .unreachable, { try Self.store(moto, endpoint: "http://127.0.0.1:1") }),
        ]
        for (name, code, make) in cases {
            let store = try make()
            do {
                _ = try await store.put(bytes, logger: Self.logger)
                Issue.record("\(name): expected \(code), the put succeeded")
            } catch {
                #expect(error.code == code, "\(name): \(error.reason)")
                #expect(!error.reason.contains(moto.secretAccessKey), "\(name): the secret is never printed")
            }
        }
        #expect(try moto.listing().isEmpty, "nothing was written")
        #expect(throws: ObjectStoreError(.credentialsRefused, "")) { try S3Credentials.fromEnvironment([:]) }
        #expect(throws: ObjectStoreError(.malformed, "")) {
            try S3Client(endpoint: "ftp://x/y", credentials: S3Credentials.fromEnvironment(moto.environment))
        }
    }
}
