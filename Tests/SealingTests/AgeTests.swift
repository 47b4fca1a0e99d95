import Foundation
import PlaneCrypto
import Sealing
import TestSupport
import Testing

/// The age v1 format (X25519 recipients): the C2SP testkit, interoperability with Debian's `age` and
/// `age-keygen`, and tampering.
@Suite struct AgeTests {
    // MARK: the testkit

    /// One testkit vector: its `key: value` header lines and the age file after the empty line.
    struct Vector {
        let name: String
        let fields: [(String, String)]
        let file: [UInt8]
        func values(_ key: String) -> [String] { fields.filter { $0.0 == key }.map(\.1) }
        func value(_ key: String) -> String? { values(key).first }
    }

    static func loadVector(_ name: String) throws -> Vector {
        let bytes = [UInt8](try TestData.data("age/testkit/\(name)"))
        var fields: [(String, String)] = []
        var offset = 0
        while true {
            let lf = try #require(bytes[offset...].firstIndex(of: 10), "\(name): no empty line after the header")
            let line = String(decoding: bytes[offset..<lf], as: UTF8.self)
            offset = lf + 1
            if line.isEmpty { break }
            let parts = line.split(separator: ":", maxSplits: 1)
            try #require(parts.count == 2, "\(name): header line '\(line)' is not key: value")
            fields.append((String(parts[0]), parts[1].trimmingCharacters(in: .whitespaces)))
        }
        var file = Array(bytes[offset...])
        if fields.contains(where: { $0.0 == "compressed" && $0.1 == "zlib" }) { file = try inflate(file) }
        return Vector(name: name, fields: fields, file: file)
    }

    /// zlib-inflates with the system's python3 (Foundation on Linux has no zlib API).
    static func inflate(_ data: [UInt8]) throws -> [UInt8] {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("deflated")
        try Data(data).write(to: path)
        let result = try DelongProcess.run(
            executable:
                "/usr/bin/python3",
            [
                "-c", "import sys,zlib; sys.stdout.buffer.write(zlib.decompress(open(sys.argv[1],'rb').read()))",
                path.path,
            ]
        )
        try #require(result.status == 0, "python3 zlib: \(result.stderr)")
        return [UInt8](result.stdoutData)
    }

    /// Why a vector is not run, or nil when it is: DeLong uses X25519 recipients and binary files only.
    static func skipReason(_ vector: Vector) -> String? {
        if vector.value("armored") == "yes" { return "ASCII armor (DeLong writes and reads binary age files only)" }
        let x25519 = vector.values("identity").contains { $0.hasPrefix("AGE-SECRET-KEY-1") }
        if !x25519 && vector.value("passphrase") != nil { return "scrypt passphrase recipient (not used by DeLong)" }
        if !x25519 && vector.values("identity").contains(where: { $0.hasPrefix("AGE-SECRET-KEY-PQ-") }) {
            return "ML-KEM-768+X25519 hybrid recipient (not used by DeLong)"
        }
        return nil
    }

    static func outcome(_ error: PlaneCryptoError) -> String {
        switch error.code {
        case .ageHeader: "header failure"
        case .ageHeaderMAC: "HMAC failure"
        case .agePayload: "payload failure"
        case .ageNoMatch: "no match"
        default: "unexpected \(error)"
        }
    }

    @Test func everyX25519AndStreamTestkitVectorGivesItsExpectedOutcome() throws {
        let names = try TestData.files(in: "age/testkit")
        var skipped: [String: String] = [:]
        var ran = 0
        for name in names {
            let vector = try Self.loadVector(name)
            if let reason = Self.skipReason(vector) {
                skipped[name] = reason
                continue
            }
            ran += 1
            let expected = try #require(vector.value("expect"), "\(name): no expect line")
            let identities = try vector.values("identity").filter { $0.hasPrefix("AGE-SECRET-KEY-1") }.map {
                try AgeIdentity(parsing: Array($0.utf8))
            }
            do throws(PlaneCryptoError) {
                let plaintext = try Age.decrypt(vector.file, identities: identities)
                #expect(expected == "success", "\(name): decrypted, expected \(expected)")
                if expected == "success" {
                    #expect(HexBytes.encode(Digest.sha256(plaintext)) == vector.value("payload"), "\(name): payload")
                }
            } catch {
                #expect(Self.outcome(error) == expected, "\(name): \(error)")
            }
        }
        // Nothing is skipped silently: exactly the armor, scrypt-only and hybrid-only vectors.
        let expectedSkips = names.filter {
            $0.hasPrefix("armor_") || ($0.hasPrefix("scrypt") && $0 != "scrypt_and_x25519")
                || ($0.hasPrefix("hybrid") && $0 != "hybrid_x25519_arg")
        }
        #expect(skipped.keys.sorted() == expectedSkips)
        #expect(skipped.count == 74 && ran == names.count - 74 && ran >= 69, "ran \(ran), skipped \(skipped.count)")
        for (name, reason) in skipped.sorted(by: { $0.key < $1.key }) {
            print("age testkit: skipped \(name): \(reason)")
        }
        print("age testkit: ran \(ran) vectors, skipped \(skipped.count)")
    }

    @Test func testkitIdentityParsesAndRoundTripsAndRefusesBadForms() throws {
        let text = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
        let identity = try AgeIdentity(parsing: Array(text.utf8))
        #expect(identity.encoded().withUnsafeBytes { String(decoding: $0, as: UTF8.self) } == text)
        let recipient = try AgeRecipient(parsing: identity.recipient.description)
        #expect(recipient == identity.recipient)
        #expect(identity.recipient.description.hasPrefix("age1"))
        #expect(throws: PlaneCryptoError.self) { try AgeIdentity(parsing: Array(text.lowercased().utf8)) }
        #expect(throws: PlaneCryptoError.self) {
            try AgeRecipient(parsing: identity.recipient.description.uppercased())
        }
        var flipped = Array(text.utf8)
        flipped[30] = flipped[30] == UInt8(ascii: "Q") ? UInt8(ascii: "P") : UInt8(ascii: "Q")
        #expect(throws: PlaneCryptoError.self) { try AgeIdentity(parsing: flipped) }
        #expect(throws: PlaneCryptoError.self) { try AgeRecipient(parsing: "age1qqqqqqqqqqqqqqqqqqqqqqq") }
    }

    @Test func hmacSHA256MatchesRFC4231TestCase2() throws {
        let key = SecretBytes(copying: Array("Jefe".utf8))
        let tag = try HMAC.sha256(key: key, data: Array("what do ya want for nothing?".utf8))
        #expect(HexBytes.encode(tag) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    // MARK: interoperability with Debian's age

    /// Debian's `age` binaries (the `age` package; CI installs it). Missing tools fail the test, never skip it.
    static func tool(_ name: String) throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        throw CocoaError(
            .fileNoSuchFile,
            userInfo: [NSLocalizedDescriptionKey: "\(name) not found: apt-get install age"]
        )
    }

    static let sizes = [0, 1, 65535, 65536, 65537, 3 << 20]

    static func payload(_ size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) } }

    @Test func debianAgeDecryptsWhatSwiftEncryptedWithASwiftWrittenIdentityFile() throws {
        let age = try Self.tool("age")
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let identity = try AgeIdentity.generate()
        let keyPath = dir.appendingPathComponent("key.txt").path
        try SecretFile.write(identity.fileContents(created: "2026-01-01T00:00:00Z"), to: keyPath, exclusive: true)
        for size in Self.sizes {
            let plain = Self.payload(size)
            let plainPath = dir.appendingPathComponent("plain-\(size)").path
            let sealedPath = dir.appendingPathComponent("sealed-\(size).age").path
            try Data(plain).write(to: URL(fileURLWithPath: plainPath))
            try Age.encryptFile(atPath: plainPath, toPath: sealedPath, recipients: [identity.recipient])
            let sealed = try Data(contentsOf: URL(fileURLWithPath: sealedPath))
            // One 16-byte tag per chunk; an empty payload is one empty final chunk.
            let chunks = max(1, (size + Age.chunkSize - 1) / Age.chunkSize)
            #expect(sealed.count > size + 16 * chunks + 16, "size \(size)")
            let openedPath = dir.appendingPathComponent("opened-\(size)").path
            let r = try DelongProcess.run(executable: age, ["-d", "-i", keyPath, "-o", openedPath, sealedPath])
            #expect(r.status == 0, "age -d on \(size) bytes: \(r.stderr)")
            // age 1.1 creates its -o file lazily: an empty plaintext leaves none.
            let opened =
                FileManager.default.fileExists(atPath: openedPath)
                ? try Data(contentsOf: URL(fileURLWithPath: openedPath)) : Data()
            #expect([UInt8](opened) == plain, "age -d output for \(size) bytes")
        }
        // The in-memory API produces files age reads too (two recipients: both stanzas are well-formed).
        let other = try AgeIdentity.generate()
        let memory = try Age.encrypt(Self.payload(1000), to: [other.recipient, identity.recipient])
        let memoryPath = dir.appendingPathComponent("memory.age").path
        try Data(memory).write(to: URL(fileURLWithPath: memoryPath))
        let r = try DelongProcess.run(executable: age, ["-d", "-i", keyPath, memoryPath])
        #expect(r.status == 0 && [UInt8](r.stdoutData) == Self.payload(1000), "\(r.stderr)")
    }

    @Test func swiftDecryptsWhatDebianAgeEncryptedToAnAgeKeygenIdentity() throws {
        let age = try Self.tool("age")
        let keygen = try Self.tool("age-keygen")
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let keyPath = dir.appendingPathComponent("key.txt").path
        let generated = try DelongProcess.run(executable: keygen, ["-o", keyPath])
        try #require(generated.status == 0, "age-keygen: \(generated.stderr)")
        let identities = try AgeIdentity.parseFile(SecretFile.read(keyPath))
        try #require(identities.count == 1)
        let derived = try DelongProcess.run(executable: keygen, ["-y", keyPath])
        let recipient = derived.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(identities[0].recipient.description == recipient)
        #expect(try AgeRecipient(parsing: recipient) == identities[0].recipient)
        for size in Self.sizes {
            let plain = Self.payload(size)
            let plainPath = dir.appendingPathComponent("plain-\(size)").path
            let sealedPath = dir.appendingPathComponent("sealed-\(size).age").path
            let openedPath = dir.appendingPathComponent("opened-\(size)").path
            try Data(plain).write(to: URL(fileURLWithPath: plainPath))
            let r = try DelongProcess.run(executable: age, ["-r", recipient, "-o", sealedPath, plainPath])
            try #require(r.status == 0, "age -r: \(r.stderr)")
            try Age.decryptFile(atPath: sealedPath, toPath: openedPath, identities: identities)
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: openedPath))) == plain, "size \(size)")
            let inMemory = try Age.decrypt(
                [UInt8](try Data(contentsOf: URL(fileURLWithPath: sealedPath))),
                identities: identities
            )
            #expect(inMemory == plain, "size \(size) in memory")
        }
    }

    // MARK: tampering and truncation

    @Test func aFlippedByteAnywhereFailsAndReleasesNothing() throws {
        let identity = try AgeIdentity.generate()
        let plain = Self.payload(2 * Age.chunkSize + 100)
        let sealed = try Age.encrypt(plain, to: [identity.recipient])
        let headerEnd =
            try #require(
                sealed.indices.first { i in
                    sealed[i] == 10
                        && sealed[..<i].lastIndex(of: 10).map { sealed[($0 + 1)...].starts(with: Array("---".utf8)) }
                            == true
                }
            ) + 1
        // Every header byte, the nonce, and bytes across each chunk (start, middle, tag).
        var offsets = Array(0..<(headerEnd + 16))
        for chunk in 0..<3 {
            let start = headerEnd + 16 + chunk * Age.encryptedChunkSize
            offsets += [start, start + 50, start + 1000, start + Age.encryptedChunkSize - 1].map {
                min($0, sealed.count - 1)
            }
        }
        offsets.append(sealed.count - 1)
        for offset in offsets {
            var tampered = sealed
            tampered[offset] ^= 0x01
            #expect(throws: PlaneCryptoError.self, "flip at \(offset)") {
                _ = try Age.decrypt(tampered, identities: [identity])
            }
        }
        // A flip in the last chunk releases no plaintext of that chunk through the streaming API.
        var tampered = sealed
        tampered[sealed.count - 5] ^= 0x80
        var released = 0
        var offset = 0
        #expect(throws: PlaneCryptoError.self) {
            try Age.decrypt(
                identities: [identity],
                input: { (buffer) throws(PlaneCryptoError) -> Int in
                    let n = min(buffer.count, tampered.count - offset)
                    tampered.withUnsafeBytes {
                        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)]))
                    }
                    offset += n
                    return n
                },
                output: { (b) throws(PlaneCryptoError) in released += b.count }
            )
        }
        #expect(released == 2 * Age.chunkSize, "only the two authenticated chunks were released")
    }

    @Test func aCutFileFailsAtEveryOffsetAndLeavesNoOutputFile() throws {
        let identity = try AgeIdentity.generate()
        let plain = Self.payload(2 * Age.chunkSize)  // exactly two full chunks: a cut at the boundary is the trap
        let sealed = try Age.encrypt(plain, to: [identity.recipient])
        let payloadStart = sealed.count - 2 * Age.encryptedChunkSize - 16
        let cuts = [
            0, 10, payloadStart - 1, payloadStart, payloadStart + 8, payloadStart + 16,
            payloadStart + 16 + Age.encryptedChunkSize,  // after the first full chunk: looks like a shorter file
            payloadStart + 16 + Age.encryptedChunkSize + 16, sealed.count - 16, sealed.count - 1,
        ]
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for cut in cuts {
            let cutBytes = Array(sealed[..<cut])
            #expect(throws: PlaneCryptoError.self, "cut at \(cut)") {
                _ = try Age.decrypt(cutBytes, identities: [identity])
            }
            let cutPath = dir.appendingPathComponent("cut-\(cut).age").path
            let outPath = dir.appendingPathComponent("out-\(cut)").path
            try Data(cutBytes).write(to: URL(fileURLWithPath: cutPath))
            #expect(throws: PlaneCryptoError.self) {
                try Age.decryptFile(atPath: cutPath, toPath: outPath, identities: [identity])
            }
            #expect(!FileManager.default.fileExists(atPath: outPath), "no plaintext file after a cut at \(cut)")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter {
                $0.contains("partial")
            }
            #expect(leftovers.isEmpty)
        }
        // Appended bytes fail too.
        #expect(throws: PlaneCryptoError.self) { _ = try Age.decrypt(sealed + [0], identities: [identity]) }
        #expect(try Age.decrypt(sealed, identities: [identity]) == plain)
    }

    @Test func aWrongIdentityIsNoMatchAndAnEmptyPayloadRoundTrips() throws {
        let identity = try AgeIdentity.generate()
        let sealed = try Age.encrypt([], to: [identity.recipient])
        #expect(try Age.decrypt(sealed, identities: [identity]) == [])
        do throws(PlaneCryptoError) {
            _ = try Age.decrypt(sealed, identities: [try AgeIdentity.generate()])
            Issue.record("a wrong identity decrypted")
        } catch {
            #expect(error.code == .ageNoMatch)
        }
    }
}
