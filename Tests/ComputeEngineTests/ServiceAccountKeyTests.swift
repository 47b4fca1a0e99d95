import ComputeEngine
import ComputeEngineFake
import Foundation
import Testing

@Suite struct ServiceAccountKeyTests {
    static let tokenURI = "https://oauth2.googleapis.com/token"

    @Test func aKeyFileParsesAndNeverShowsItsPrivateKey() throws {
        let account = try TestServiceAccount()
        let key = try ServiceAccountKey(json: account.keyJSON(tokenURI: Self.tokenURI))
        #expect(key.clientEmail == account.email)
        #expect(key.privateKeyID == account.keyID)
        #expect(key.tokenURI == Self.tokenURI)
        #expect(key.projectID == account.projectID)
        #expect(!"\(key)".contains("PRIVATE KEY"))
        #expect("\(key)".contains("redacted"))

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(UUID().uuidString).json")
        try account.keyJSON(tokenURI: Self.tokenURI).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try ServiceAccountKey(contentsOf: file).clientEmail == account.email)
    }

    /// Each broken field gives an error that names it, and none quotes the key.
    @Test func malformedKeyFilesNameTheField() throws {
        let account = try TestServiceAccount()
        let cases: [(String, [String: Any?])] = [
            ("client_email", ["client_email": nil]),
            ("private_key", ["private_key": nil]),
            ("private_key_id", ["private_key_id": nil]),
            ("token_uri", ["token_uri": nil]),
            ("project_id", ["project_id": nil]),
            ("type", ["type": nil]),
            ("type service_account", ["type": "authorized_user"]),
            ("private_key", ["private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]),
            ("private_key", ["private_key": "not a pem"]),
            ("token_uri", ["token_uri": "oauth2.googleapis.com/token"]),
            ("client_email", ["client_email": 42]),
            ("private_key_id", ["private_key_id": ""]),
        ]
        for (field, overrides) in cases {
            let json = try account.keyJSON(tokenURI: Self.tokenURI, overriding: overrides)
            let error = #expect(throws: ComputeEngineError.self, "\(field)") { try ServiceAccountKey(json: json) }
            #expect(error?.code == .malformedKey)
            #expect(error?.reason.contains(field) == true, "\(field): \(error?.reason ?? "")")
            #expect(error?.reason.contains("BEGIN") != true || field == "private_key")
            #expect(error?.reason.contains("AAAA") != true)
        }
        let notJSON = #expect(throws: ComputeEngineError.self) { try ServiceAccountKey(json: Data("{".utf8)) }
        #expect(notJSON?.reason.contains("expected JSON") == true)
        let array = #expect(throws: ComputeEngineError.self) { try ServiceAccountKey(json: Data("[]".utf8)) }
        #expect(array?.reason.contains("JSON object") == true)
        let missing = #expect(throws: ComputeEngineError.self) {
            try ServiceAccountKey(contentsOf: URL(fileURLWithPath: "/nonexistent/sa.json"))
        }
        #expect(missing?.reason.contains("cannot read") == true)
    }
}

@Suite struct InstanceRequestTests {
    @Test func namesFollowComputeEngineRules() throws {
        let jobID = String(repeating: "ab", count: 32)
        #expect(try InstanceRequest.instanceName(forJobID: jobID) == "delong-job-abababababababababab")
        #expect(
            try InstanceRequest.instanceName(forJobID: "0X" + jobID.uppercased()) == "delong-job-abababababababababab"
        )
        #expect(try InstanceRequest.labelValue(forJobID: jobID) == String(jobID.prefix(63)))
        #expect(throws: ComputeEngineError.self) { try InstanceRequest.instanceName(forJobID: "not-hex") }
        #expect(throws: ComputeEngineError.self) { try InstanceRequest.instanceName(forJobID: "abcd") }

        for good in ["a", "a1", "delong-job-0123456789abcdef0123", String(repeating: "a", count: 63)] {
            #expect(throws: Never.self, "\(good)") { try InstanceRequest.check(name: good) }
        }
        for bad in ["", "1a", "A", "a-", "a_b", "-a", String(repeating: "a", count: 64), "a.b"] {
            let error = #expect(throws: ComputeEngineError.self, "\(bad)") { try InstanceRequest.check(name: bad) }
            #expect(error?.code == .invalidRequest)
        }
    }

    @Test func badFieldsAreRefusedBeforeTheyAreSent() throws {
        func make(
            name: String = "a1",
            machineType: String = "c3-standard-4",
            image: String = "projects/p/global/images/i",
            maxRun: Int = 60,
            metadata: [InstanceRequest.MetadataItem] = [],
            labels: [String: String] = [:]
        ) throws -> InstanceRequest {
            try InstanceRequest(
                name: name,
                zone: "us-central1-a",
                machineType: machineType,
                sourceImage: image,
                maxRunDurationSeconds: maxRun,
                metadata: metadata,
                labels: labels
            )
        }
        let cases: [(String, () throws -> InstanceRequest)] = [
            ("name", { try make(name: "Bad") }),
            ("machineType", { try make(machineType: "C3 standard") }),
            ("sourceImage", { try make(image: "ubuntu") }),
            ("maxRunDuration", { try make(maxRun: 0) }),
            ("metadata keys", { try make(metadata: [.init(key: "a b", value: "")]) }),
            (
                "distinct metadata keys",
                { try make(metadata: [.init(key: "a", value: ""), .init(key: "a", value: "")]) }
            ),
            ("label key", { try make(labels: ["Team": "x"]) }),
            ("label team", { try make(labels: ["team": "Ops"]) }),
        ]
        for (field, build) in cases {
            let error = #expect(throws: ComputeEngineError.self, "\(field)") { try build() }
            #expect(error?.reason.contains(field) == true, "\(field): \(error?.reason ?? "")")
        }
    }
}
