import Foundation
import TestSupport
import Testing

/// `delong key new` and `delong key recipient`, run as processes, checked against Debian's age.
@Suite struct KeyCommandTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    @Test func keyNewWritesA0600IdentityFileThatAgeDecryptsWithAndPrintsItsRecipient() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("key.txt").path
        let r = try DelongProcess.run(["key", "new", "--out", key])
        #expect(r.status == 0, "\(r.stderr)")
        let recipient = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(recipient.hasPrefix("age1") && recipient.count == 62, "\(recipient)")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let text = try String(contentsOfFile: key, encoding: .utf8)
        #expect(text.hasPrefix("# created: "))
        #expect(text.contains("# public key: \(recipient)\n"))
        #expect(text.contains("\nAGE-SECRET-KEY-1"))
        // age-keygen derives the same recipient, and age decrypts a file sealed to it with this identity.
        let derived = try DelongProcess.run(executable: "/usr/bin/age-keygen", ["-y", key])
        #expect(derived.status == 0 && derived.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == recipient)
        let plain = dir.appendingPathComponent("plain").path
        let sealed = dir.appendingPathComponent("plain.age").path
        try Data("released output\n".utf8).write(to: URL(fileURLWithPath: plain))
        let encrypted = try DelongProcess.run(executable: "/usr/bin/age", ["-r", recipient, "-o", sealed, plain])
        #expect(encrypted.status == 0, "\(encrypted.stderr)")
        let decrypted = try DelongProcess.run(executable: "/usr/bin/age", ["-d", "-i", key, sealed])
        #expect(decrypted.status == 0, "\(decrypted.stderr)")
        #expect(decrypted.stdout == "released output\n")
        // key recipient prints the same recipient, plain and as JSON.
        let printed = try DelongProcess.run(["key", "recipient", key])
        #expect(printed.status == 0 && printed.stdout == recipient + "\n", "\(printed.stderr)")
        let asJSON = try DelongProcess.run(["key", "recipient", key, "--json"])
        #expect(asJSON.json?["recipients"] as? [String] == [recipient])
    }

    @Test func keyNewRefusesToOverwriteAnExistingFileWithExitTwo() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("key.txt").path
        let first = try DelongProcess.run(["key", "new", "--out", key, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let recipient = try #require(first.json?["recipient"] as? String)
        #expect(first.json?["file"] as? String == key)
        let before = try Data(contentsOf: URL(fileURLWithPath: key))
        let second = try DelongProcess.run(["key", "new", "--out", key])
        #expect(second.status == 2)
        #expect(second.stderr.contains("already exists"), "\(second.stderr)")
        #expect(second.stdout.isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: key)) == before, "the existing identity is untouched")
        #expect(try DelongProcess.run(["key", "recipient", key]).stdout == recipient + "\n")
    }

    @Test func keyRecipientReadsAgeKeygenFilesAndRefusesBadOnes() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("keygen.txt").path
        let generated = try DelongProcess.run(executable: "/usr/bin/age-keygen", ["-o", key])
        try #require(generated.status == 0, "\(generated.stderr)")
        let derived = try DelongProcess.run(executable: "/usr/bin/age-keygen", ["-y", key]).stdout
        let printed = try DelongProcess.run(["key", "recipient", key])
        #expect(printed.status == 0 && printed.stdout == derived, "\(printed.stderr)")
        // Not an identity file: exit 2 naming what was expected.
        let bogus = dir.appendingPathComponent("bogus.txt").path
        #expect(
            FileManager.default.createFile(
                atPath: bogus,
                contents: Data("AGE-SECRET-KEY-1NOTAKEY\n".utf8),
                attributes: [.posixPermissions: 0o600]
            )
        )
        let malformed = try DelongProcess.run(["key", "recipient", bogus])
        #expect(malformed.status == 2)
        #expect(malformed.stderr.contains("AGE-SECRET-KEY-1"), "\(malformed.stderr)")
        // Readable by others: refused with exit 4; missing: exit 3.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key)
        #expect(try DelongProcess.run(["key", "recipient", key]).status == 4)
        #expect(try DelongProcess.run(["key", "recipient", dir.appendingPathComponent("none").path]).status == 3)
    }
}
