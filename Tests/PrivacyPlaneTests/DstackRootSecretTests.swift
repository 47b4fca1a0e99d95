import ChainCore
import Foundation
import PlaneCrypto
import PrivacyPlane
import TestSupport
import Testing

/// The dstack root-secret provider against contrib/dstack's FAKE guest agent, which serves the agent's
/// published API on a Unix socket (no dstack CVM exists on these machines).
@Suite struct DstackRootSecretTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    func agent(seed: String = String(repeating: "11", count: 32), log: URL? = nil) throws -> ReadyService {
        try FakeGuestAgent.start(in: dir, seed: seed, quotes: false, log: log)
    }

    /// A Unix-socket server that answers every connection with `answer`, byte for byte.
    func oneShotServer(answering answer: String) throws -> ReadyService {
        try FakeGuestAgent.answering(answer, in: dir)
    }

    @Test func theRootSecretIsTheAgentsKeyForDeLongsPathAndPurpose() throws {
        let log = dir.appendingPathComponent("requests.jsonl")
        let service = try agent(log: log)
        let secret = try DstackRootSecret(socketPath: service.url).rootSecret()
        // The request on the wire: POST /GetKey, JSON, DeLong's path and purpose.
        let request =
            try JSONSerialization.jsonObject(
                with: Data(try String(contentsOf: log, encoding: .utf8).split(separator: "\n")[0].utf8)
            ) as? [String: Any]
        #expect(request?["path"] as? String == "/GetKey")
        #expect(
            request?["body"] as? String
                == "{\"path\":\"delong/privacy-plane/root\",\"purpose\":\"delong-dek-root-v1\"}"
        )
        // The fake's derivation, recomputed independently: HMAC-SHA256(seed, path ‖ 0x00 ‖ purpose).
        let expected = try ContribTool.systemPython(
            "import hmac, hashlib, sys; print(hmac.new(bytes.fromhex(sys.argv[1]), sys.argv[2].encode() + b'\\x00' + sys.argv[3].encode(), hashlib.sha256).hexdigest())",
            [String(repeating: "11", count: 32), DstackRootSecret.keyPath, DstackRootSecret.purpose]
        )
        #expect(
            secret.withUnsafeBytes { Hex.encode(Array($0), prefix: false) }
                == expected.trimmingCharacters(in: .whitespacesAndNewlines)
        )
        // Same agent, same key: dataset keys survive restarts of the plane.
        #expect(try DstackRootSecret(socketPath: service.url).rootSecret().constantTimeEquals(secret))
    }

    @Test func noAgentIsAClearRefusal() throws {
        let missing = dir.appendingPathComponent("none.sock").path
        #expect {
            _ = try DstackRootSecret(socketPath: missing).rootSecret()
        } throws: { error in
            (error as? PrivacyPlaneError)?.code == .keyUnavailable && "\(error)".contains("cannot connect")
        }
    }

    /// A hostile or broken agent: garbage, a truncated head, a huge body, a non-hex or short key.
    @Test(arguments: [
        ("garbage\r\n\r\n", "status line"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n", "truncated"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"key\": \"zz\"}", "shorter"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"key\": \"zz\"}", "not hex"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"key\": \"0102\"}", "expected 32 bytes"),
        ("HTTP/1.1 500 Oops\r\nContent-Length: 17\r\n\r\n{\"error\": \"boom\"}", "HTTP 500: boom"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunked"),
        ("HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "x", count: 70_000), "larger than"),
    ])
    func brokenAnswersAreRefusedNamingTheProblem(_ answer: String, _ expected: String) throws {
        let server = try oneShotServer(answering: answer)
        #expect {
            _ = try DstackRootSecret(socketPath: server.url).rootSecret()
        } throws: { error in
            (error as? PrivacyPlaneError)?.code == .keyUnavailable && "\(error)".contains(expected)
        }
    }

    @Test func chunkedAnswersAreDecoded() throws {
        let key = String(repeating: "ab", count: 32)
        let body = "{\"key\": \"\(key)\"}"
        let half = body.utf8.count / 2
        let chunked =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "\(String(half, radix: 16))\r\n\(body.prefix(half))\r\n"
            + "\(String(body.utf8.count - half, radix: 16))\r\n\(body.dropFirst(half))\r\n0\r\n\r\n"
        let server = try oneShotServer(answering: chunked)
        let secret = try DstackRootSecret(socketPath: server.url).rootSecret()
        #expect(secret.withUnsafeBytes { Hex.encode(Array($0), prefix: false) } == key)
    }
}

/// The root key's hex is read from the agent's raw JSON bytes (so it never sits in an unwipeable string).
@Suite struct DstackKeyFieldTests {
    func field(_ json: String) -> [UInt8]? { DstackRootSecret.hexStringField("key", in: Array(json.utf8)) }

    @Test func theKeyHexIsReadFromTheRawJSONAndAnythingElseIsRefused() {
        let hex = String(repeating: "ab", count: 31) + "Cd"
        let expected = [UInt8](repeating: 0xAB, count: 31) + [0xCD]
        #expect(field("{\"key\":\"\(hex)\",\"signature_chain\":[\"00\"]}") == expected)
        #expect(field("{ \"signature_chain\": [\"00\"],\n  \"key\" :  \"0x\(hex)\" }") == expected)
        #expect(field("{\"key\":\"\(hex)z\"}") == nil)  // not hex to the closing quote
        #expect(field("{\"key\":\"\(hex)") == nil)  // unterminated
        #expect(field("{\"key\":42}") == nil)
        #expect(field("{\"keys\":\"\(hex)\"}") == nil)
        #expect(field("{\"key\":\"\(String(repeating: "00", count: 65))\"}") == nil)  // longer than 64 bytes
        #expect(field("{\"other\":\"\(hex)\"}") == nil)
    }
}
