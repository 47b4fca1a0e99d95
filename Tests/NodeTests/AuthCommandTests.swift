import Foundation
import TestSupport
import Testing

/// `delong auth verify-siwe`, run as a process: JSON {valid, address, reason} and exit codes 0/1/2/3.
@Suite struct AuthCommandTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    func vector(_ file: String, _ name: String) throws -> [String: Any] {
        let cases = try #require(try TestData.json("chain/siwe/\(file)") as? [String: Any])
        return try #require(cases[name] as? [String: Any])
    }

    func write(_ text: String, _ name: String = "message.txt") throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// The "recovery byte starting at 0" vector: a full message and its signature.
    func tally() throws -> (message: String, signature: String) {
        let positive = try vector("parsing_positive.json", "recovery byte starting at 0")
        let signed = try vector("verification_positive.json", "recovery byte starting at 0")
        return (try #require(positive["message"] as? String), try #require(signed["signature"] as? String))
    }

    @Test func aValidAuthMessagePrintsValidWithTheAddressAndExitsZero() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (message, signature) = try tally()
        let r = try DelongProcess.run([
            "auth", "verify-siwe", "--message", try write(message), "--signature", signature,
            "--at", "2022-06-30T14:10:00Z", "--domain", "www.tally.xyz",
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let json = try #require(r.json)
        #expect(json["valid"] as? Bool == true)
        #expect(json["address"] as? String == "0xc95EB884FE852e241D409234bfC7045CB9E31BD7")
        #expect(json["reason"] is NSNull)
        // Keys in the documented order.
        #expect(r.stdout.range(of: "\"valid\"")!.lowerBound < r.stdout.range(of: "\"address\"")!.lowerBound)
    }

    @Test func aWrongDomainOrAWrongTimeExitsOneWithAReason() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (message, signature) = try tally()
        let path = try write(message)
        let wrongDomain = try DelongProcess.run([
            "auth", "verify-siwe", "--message", path, "--signature", signature, "--at", "2022-06-30T14:10:00Z",
            "--domain", "evil.example",
        ])
        #expect(wrongDomain.status == 1)
        #expect(wrongDomain.json?["valid"] as? Bool == false)
        #expect(wrongDomain.json?["address"] as? String == "0xc95EB884FE852e241D409234bfC7045CB9E31BD7")
        #expect((wrongDomain.json?["reason"] as? String)?.contains("evil.example") == true)
        // Issued At 2022-06-30T14:08:51Z lies an hour after this --at.
        let early = try DelongProcess.run([
            "auth", "verify-siwe", "--message", path, "--signature", signature, "--at", "2022-06-30T13:08:51Z",
        ])
        #expect(early.status == 1)
        #expect((early.json?["reason"] as? String)?.contains("future") == true)
    }

    @Test func anExpiredVectorAndAWrongSignatureExitOne() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let expired = try vector("verification_negative.json", "expired message")
        let message = """
            login.xyz wants you to sign in with your Ethereum account:
            0x2ecA0068307e706741445764A3D6A4402aC2A5a9

            Sign-In With Ethereum Example Statement

            URI: https://login.xyz
            Version: 1
            Chain ID: 1
            Nonce: lx2nx4so
            Issued At: 2022-01-05T14:27:30.883Z
            Expiration Time: 2021-01-05T00:00:00Z
            """
        let signature = try #require(expired["signature"] as? String)
        let r = try DelongProcess.run([
            "auth", "verify-siwe", "--message", try write(message), "--signature", signature,
            "--at", "2025-01-01T00:00:00Z", "--domain", "login.xyz",
        ])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect((r.json?["reason"] as? String)?.contains("expired") == true)

        let (tallyMessage, _) = try tally()
        let wrong = try DelongProcess.run([
            "auth", "verify-siwe", "--message", try write(tallyMessage, "tally.txt"), "--signature", signature,
            "--at", "2022-06-30T14:10:00Z",
        ])
        #expect(wrong.status == 1)
        #expect((wrong.json?["reason"] as? String)?.contains("recovers to") == true)
    }

    @Test func aContractWalletSignatureIsAnsweredAsNotSupportedYet() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let loopring = try vector("eip1271.json", "loopring")
        let r = try DelongProcess.run([
            "auth", "verify-siwe", "--message", try write(try #require(loopring["message"] as? String)),
            "--signature", try #require(loopring["signature"] as? String), "--at", "2022-04-19T19:00:00Z",
        ])
        #expect(r.status == 1)
        #expect((r.json?["reason"] as? String)?.contains("EIP-1271 contract wallets are not supported yet") == true)
    }

    @Test func malformedAuthInputExitsTwoAndAMissingFileThree() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (message, signature) = try tally()
        let badHex = try DelongProcess.run([
            "auth", "verify-siwe", "--message", try write(message), "--signature", "0xzz",
        ])
        #expect(badHex.status == 2)
        #expect(badHex.json?["valid"] as? Bool == false)
        let badMessage = try DelongProcess.run([
            "auth", "verify-siwe", "--message", try write(message + "\n", "trailing.txt"), "--signature", signature,
        ])
        #expect(badMessage.status == 2)
        #expect((badMessage.json?["reason"] as? String)?.contains("line 11") == true)
        #expect(badMessage.json?["address"] is NSNull)
        let badTime = try DelongProcess.run([
            "auth", "verify-siwe", "--message", try write(message), "--signature", signature, "--at", "yesterday",
        ])
        #expect(badTime.status == 2)
        #expect(badTime.stderr.contains("--at"))
        let missing = try DelongProcess.run([
            "auth", "verify-siwe", "--message", dir.appendingPathComponent("absent.txt").path, "--signature", signature,
        ])
        #expect(missing.status == 3)
    }
}
