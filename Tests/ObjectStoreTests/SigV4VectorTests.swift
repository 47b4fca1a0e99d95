import Foundation
import ObjectStore
import PlaneCrypto
import Testing

/// SigV4 against AWS's published vectors: cases of the Signature Version 4 test suite (credentials AKIDEXAMPLE,
/// 2015-08-30T12:36:00Z, us-east-1, service "service") and the two header-signing examples of the S3 API
/// reference (examplebucket, 2013-05-24). Only suite cases whose path is unreserved text are used, because S3
/// encodes a path once where the generic suite encodes it twice.
@Suite struct SigV4VectorTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let method: String
        let path: String
        let query: [(name: String, value: String)]
        let headers: [(name: String, value: String)]
        let body: String
        let signedHeaders: String
        let signature: String
        var testDescription: String { name }
    }

    static let suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let suiteScope = SigV4.Scope(date: "20150830", region: "us-east-1", service: "service")
    static let suiteDate = "20150830T123600Z"
    static let suiteHost: [(name: String, value: String)] = [
        ("Host", "example.amazonaws.com"), ("X-Amz-Date", suiteDate),
    ]

    static let suite: [Vector] = [
        Vector(
            name: "get-vanilla",
            method: "GET",
            path: "/",
            query: [],
            headers: suiteHost,
            body: "",
            signedHeaders: "host;x-amz-date",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        ),
        Vector(
            name: "get-unreserved",
            method: "GET",
            path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            query: [],
            headers: suiteHost,
            body: "",
            signedHeaders: "host;x-amz-date",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"
        ),
        Vector(
            name: "get-vanilla-query-order-key-case",
            method: "GET",
            path: "/",
            query: [("Param2", "value2"), ("Param1", "value1")],
            headers: suiteHost,
            body: "",
            signedHeaders: "host;x-amz-date",
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        ),
        Vector(
            name: "get-vanilla-query-order-value",
            method: "GET",
            path: "/",
            query: [("Param1", "value2"), ("Param1", "value1")],
            headers: suiteHost,
            body: "",
            signedHeaders: "host;x-amz-date",
            signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"
        ),
        Vector(
            name: "get-vanilla-utf8-query",
            method: "GET",
            path: "/",
            query: [("\u{1234}", "bar")],
            headers: suiteHost,
            body: "",
            signedHeaders: "host;x-amz-date",
            signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"
        ),
        Vector(
            name: "get-header-value-trim",
            method: "GET",
            path: "/",
            query: [],
            headers: suiteHost + [("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
            body: "",
            signedHeaders: "host;my-header1;my-header2;x-amz-date",
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
        ),
        Vector(
            name: "post-x-www-form-urlencoded",
            method: "POST",
            path: "/",
            query: [],
            headers: suiteHost + [("Content-Type", "application/x-www-form-urlencoded")],
            body: "Param1=value1",
            signedHeaders: "content-type;host;x-amz-date",
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        ),
    ]

    @Test(arguments: suite)
    func suiteVectorSignsToItsPublishedAuthorizationHeader(_ v: Vector) throws {
        let request = SigV4.Request(
            method: v.method,
            path: v.path,
            query: v.query,
            headers: v.headers,
            payloadHash: SigV4.hex(Digest.sha256(Array(v.body.utf8)))
        )
        let authorization = try SigV4.authorization(
            request,
            accessKeyID: "AKIDEXAMPLE",
            secret: SecretBytes(copying: Array(Self.suiteSecret.utf8)),
            amzDate: Self.suiteDate,
            scope: Self.suiteScope
        )
        #expect(
            authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                + "SignedHeaders=\(v.signedHeaders), Signature=\(v.signature)"
        )
    }

    /// The suite's post-x-www-form-urlencoded case, line by line: which step is wrong, not only that one is.
    @Test func postFormCanonicalRequestAndStringToSignMatchTheSuite() {
        let request = SigV4.Request(
            method: "POST",
            path: "/",
            headers: Self.suiteHost + [("Content-Type", "application/x-www-form-urlencoded")],
            payloadHash: SigV4.hex(Digest.sha256(Array("Param1=value1".utf8)))
        )
        let canonical = SigV4.canonicalRequest(request)
        #expect(
            canonical.text == """
                POST
                /

                content-type:application/x-www-form-urlencoded
                host:example.amazonaws.com
                x-amz-date:20150830T123600Z

                content-type;host;x-amz-date
                9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e
                """
        )
        #expect(
            SigV4.stringToSign(canonicalRequest: canonical.text, amzDate: Self.suiteDate, scope: Self.suiteScope)
                == "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
                + "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"
        )
    }

    static let s3Secret = SecretBytes(copying: Array("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".utf8))
    static let s3Scope = SigV4.Scope(date: "20130524", region: "us-east-1", service: "s3")

    /// S3 API reference, "Example: GET Object" (the first ten bytes of test.txt).
    @Test func s3GetObjectExampleSignsAsPublished() throws {
        let empty = SigV4.emptyPayloadHash
        let request = SigV4.Request(
            method: "GET",
            path: "/test.txt",
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", empty),
                ("x-amz-date", "20130524T000000Z"),
            ],
            payloadHash: empty
        )
        let canonical = SigV4.canonicalRequest(request).text
        #expect(
            SigV4.stringToSign(canonicalRequest: canonical, amzDate: "20130524T000000Z", scope: Self.s3Scope)
                .hasSuffix("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
        )
        #expect(
            try SigV4.authorization(
                request,
                accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                secret: Self.s3Secret,
                amzDate: "20130524T000000Z",
                scope: Self.s3Scope
            ).hasSuffix(
                "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                    + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            )
        )
    }

    /// S3 API reference, "Example: PUT Object" (a key with `$`, which the canonical URI encodes once).
    @Test func s3PutObjectExampleSignsAsPublished() throws {
        let hash = SigV4.hex(Digest.sha256(Array("Welcome to Amazon S3.".utf8)))
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let request = SigV4.Request(
            method: "PUT",
            path: "/test$file.text",
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", hash),
            ],
            payloadHash: hash
        )
        #expect(SigV4.canonicalURI(request.path) == "/test%24file.text")
        #expect(
            try SigV4.authorization(
                request,
                accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                secret: Self.s3Secret,
                amzDate: "20130524T000000Z",
                scope: Self.s3Scope
            )
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        )
    }

    @Test func amzDateIsUTCInTheBasicFormat() {
        #expect(SigV4.amzDate(Date(timeIntervalSince1970: 1_440_938_160)) == "20150830T123600Z")
    }

    @Test func locationsParseAndBadOnesAreRefusedByName() throws {
        #expect(try S3Location.parse("s3://delong-da") == S3Location(bucket: "delong-da", prefix: ""))
        #expect(try S3Location.parse("s3://delong-da/a/b/") == S3Location(bucket: "delong-da", prefix: "a/b"))
        #expect(try S3Location.parse("s3://delong-da/a").key("sha256/x") == "a/sha256/x")
        for bad in ["s3://", "s3://ab", "s3://Upper", "s3://b_b_b", "s3://bucket/a//b", "s3://bucket/../x", "/tmp/x"] {
            #expect(throws: ObjectStoreError(.malformed, "")) { try S3Location.parse(bad) }
        }
    }
}
