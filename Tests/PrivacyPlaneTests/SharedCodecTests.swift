import Attestation
import ChainCore
import Foundation
import PlaneCrypto
import Testing

/// The one RFC 3339 parser (two strictness modes), the one hex codec with its lenient and secret entry
/// points, and the one 0600 secret-file helper.
@Suite struct SharedCodecTests {
    @Test func oneRFC3339ParserReadsSIWEStrictlyAndCollateralLeniently() throws {
        let space = Array("2021-09-30 16:25:24Z".utf8)
        #expect(RFC3339.parse(space, .strict) == nil)
        #expect(RFC3339.parse(space, .lenient)?.seconds == 1_633_019_124)
        // A leap second: strict takes it only at minute 59 and counts it; lenient reads 60 as 59 anywhere.
        #expect(RFC3339.parse(Array("2016-12-31T23:59:60Z".utf8), .strict)?.seconds == 1_483_228_800)
        #expect(RFC3339.parse(Array("2016-12-31T23:58:60Z".utf8), .strict) == nil)
        #expect(RFC3339.parse(Array("2016-12-31T23:58:60Z".utf8), .lenient)?.seconds == 1_483_228_739)
        #expect(RFC3339.parse(Array("2021-09-30T16:25:24.25+01:00".utf8), .strict)! == (1_633_015_524, 250_000_000))
        #expect(RFC3339.seconds("2025-06-19T10:16:03Z") == 1_750_328_163)
        #expect(RFC3339.format(1_750_328_163) == "2025-06-19T10:16:03Z")
        #expect(RFC3339.format(-62_167_219_200) == "0000-01-01T00:00:00Z", "years below 1000 are padded")
    }

    @Test func hexIsChainCoresWithALenientEntryForWrappedText() {
        #expect(Hex.decode(lenient: "0x0a 0B\n\t0c") == [0x0A, 0x0B, 0x0C])
        #expect(Hex.decode(lenient: "0a0") == nil)
        #expect(Hex.encode([0xAB], prefix: false) == "ab")
        let secret = SecretBytes.decodingHex(Array("00ffA0".utf8))
        #expect(secret?.withUnsafeBytes { Array($0) } == [0x00, 0xFF, 0xA0])
        #expect(SecretBytes.decodingHex(Array("0g".utf8)) == nil)
        #expect(SecretBytes.decodingHex(Array("abc".utf8)) == nil)
    }

    @Test func secretFilesAreWritten0600AndLooserOnesAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("secretfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("key").path
        let key = SecretBytes(copying: [UInt8](repeating: 7, count: 32))
        try SecretFile.write(key, to: path)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(try SecretFile.readKey(path).constantTimeEquals(key))
        #expect(throws: PlaneCryptoError.self) { try SecretFile.write(key, to: path, exclusive: true) }

        let hexPath = dir.appendingPathComponent("hex").path
        try SecretFile.write(Array(("0x" + String(repeating: "07", count: 32) + "\n").utf8), to: hexPath)
        #expect(try SecretFile.readKey(hexPath).constantTimeEquals(key))

        chmod(path, 0o640)
        #expect { try SecretFile.readKey(path) } throws: { error in
            (error as? PlaneCryptoError)?.code == .secretFile && "\(error)".contains("expected 600")
        }
        let short = dir.appendingPathComponent("short").path
        try SecretFile.write([1, 2, 3], to: short)
        #expect { try SecretFile.readKey(short) } throws: { error in
            "\(error)".contains("expected 32 raw bytes or 64 hex digits")
        }
    }
}
