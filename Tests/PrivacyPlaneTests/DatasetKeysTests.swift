import ChainCore
import Foundation
import PlaneCrypto
import PrivacyPlane
import TestSupport
import Testing

@Suite struct DatasetKeysTests {
    /// The DEK equals RFC 5869 HKDF-SHA256 computed independently with Python's hmac and hashlib.
    @Test func dekMatchesAnIndependentHKDF() throws {
        let root = SecretBytes(copying: (0..<32).map { UInt8($0) })
        let dataset = Keccak256.hash(utf8: "admissions")
        let dek = try DatasetKeys.dek(root: root, datasetID: dataset, keyVersion: 7)
        let script = """
            import hashlib, hmac, sys
            ikm, salt, info = bytes(range(32)), b"delong/dek/v1", bytes.fromhex(sys.argv[1]) + (7).to_bytes(4, "big")
            prk = hmac.new(salt, ikm, hashlib.sha256).digest()
            print(hmac.new(prk, info + b"\\x01", hashlib.sha256).hexdigest())
            """
        let reference = try ContribTool.python(script, [Hex.encode(dataset.bytes, prefix: false)]).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        #expect(dek.withUnsafeBytes { Hex.encode($0, prefix: false) } == reference)
        let other = try DatasetKeys.dek(root: root, datasetID: dataset, keyVersion: 8)
        #expect(!dek.constantTimeEquals(other))
    }

    @Test func aLocalRootSecretIsCreated0600AndALooserFileIsRefused() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("root.key").path
        #expect(throws: PrivacyPlaneError.self) { try LocalRootSecretFile(path: path).rootSecret() }
        let created = try LocalRootSecretFile(path: path, createIfMissing: true).rootSecret()
        #expect(created.count == 32)
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600)
        #expect(try LocalRootSecretFile(path: path).rootSecret().constantTimeEquals(created))
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        #expect(throws: PrivacyPlaneError.self) { try LocalRootSecretFile(path: path).rootSecret() }
    }
}
