import PlaneCrypto
import Sealing
import Testing

@Suite struct PlaneCryptoTests {
    private func hex(_ b: [UInt8]) -> String { HexBytes.encode(b) }

    @Test func digestsMatchPublishedVectors() {
        let abc = Array("abc".utf8)
        #expect(hex(Digest.sha256(abc)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(Digest.sha384(abc)).hasPrefix("cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"))
        #expect(hex(Digest.sha512(abc)).hasPrefix("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"))
        #expect(hex(Digest.sha3_256(abc)) == "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")
        #expect(hex(Digest.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func streamingDigestEqualsOneShot() {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let context = DigestContext(.sha256)
        context.update(Array(data[0..<12345]))
        context.update(Array(data[12345...]))
        #expect(context.finalize() == Digest.sha256(data))
    }

    @Test func hkdfMatchesRFC5869TestCase1() throws {
        let ikm = SecretBytes(copying: [UInt8](repeating: 0x0b, count: 22))
        let salt: [UInt8] = Array(0x00...0x0c)
        let info: [UInt8] = Array(0xf0...0xf9)
        let okm = try HKDF.sha256(key: ikm, salt: salt, info: info, outputLength: 42)
        let out = okm.withUnsafeBytes { Array($0) }
        #expect(
            hex(out)
                == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        )
    }

    @Test func aesGCMMatchesNISTVector() throws {
        // NIST GCM test vectors (gcmEncryptExtIV256), Count 0 of Keylen 256, IVlen 96, PTlen 128, AADlen 0.
        let key = SecretBytes(copying: hexBytes("31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22"))
        let gcm = try AES256GCM(key: key)
        let sealed = try gcm.seal(
            nonce: hexBytes("0d18e06c7c725ac9e362e1ce"),
            aad: [],
            plaintext: hexBytes("2db5168e932556f8089a0622981d017d")
        )
        #expect(hex(sealed) == "fa4362189661d163fcd6a56d8bf0405a" + "d636ac1bbedd5cc3ee727dc2ab4a9489")
    }

    @Test func aesGCMRejectsAnyFlippedBit() throws {
        let gcm = try AES256GCM(key: SecretBytes.random(count: 32))
        let nonce = try SecureRandom.bytes(count: 12)
        let sealed = try gcm.seal(nonce: nonce, aad: [1, 2, 3], plaintext: Array("secret".utf8))
        #expect(try gcm.open(nonce: nonce, aad: [1, 2, 3], sealed: sealed) == Array("secret".utf8))
        for i in 0..<sealed.count {
            var bad = sealed
            bad[i] ^= 0x01
            #expect(try gcm.open(nonce: nonce, aad: [1, 2, 3], sealed: bad) == nil)
        }
        #expect(try gcm.open(nonce: nonce, aad: [1, 2, 4], sealed: sealed) == nil)
    }

    @Test func aesGCMRefusesWrongKeyLength() {
        #expect(throws: PlaneCryptoError.self) { try AES256GCM(key: SecretBytes(copying: [1, 2, 3])) }
    }

    @Test func constantTimeCompareAndSecretDescriptionRedacts() throws {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        let secret = SecretBytes(copying: [9, 9, 9])
        #expect(!secret.description.contains("9"))
        #expect(secret.constantTimeEquals(SecretBytes(copying: [9, 9, 9])))
    }
}

func hexBytes(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var chars = Array(text.utf8)[...]
    while chars.count >= 2 {
        out.append(UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16)!)
        chars = chars.dropFirst(2)
    }
    return out
}
