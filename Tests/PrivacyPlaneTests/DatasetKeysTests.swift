import ChainCore
import Foundation
import PlaneCrypto
import PrivacyPlane
import TestSupport
import Testing

@Suite struct DatasetKeysTests {
    static let dataMarket = try! Address(hex: "0x5FbDB2315678afecb367f032d93F642f64180aa3")

    /// The v2 DEK equals HKDF-SHA256 computed independently with Python's `cryptography` (Debian's
    /// python3-cryptography, as the key-wrap reader uses) over
    /// chainId (u64 BE) ‖ DataMarket ‖ datasetId ‖ keyVersion (u32 BE), salt "delong/dek/v2"; and a fixed vector.
    @Test func dekV2MatchesAnIndependentHKDFAndAGoldenVector() throws {
        let root = SecretBytes(copying: (0..<32).map { UInt8($0) })
        let dataset = Keccak256.hash(utf8: "admissions")
        let deployment = DatasetKeys.Deployment(chainID: 31337, dataMarket: Self.dataMarket)
        let dek = try DatasetKeys.dek(root: root, deployment: deployment, datasetID: dataset, keyVersion: 7)
        let script = """
            import sys
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF
            from cryptography.hazmat.primitives import hashes
            chain, market, dataset, version = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
            info = chain.to_bytes(8, "big") + bytes.fromhex(market) + bytes.fromhex(dataset) + version.to_bytes(4, "big")
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"delong/dek/v2", info=info)
            print(hkdf.derive(bytes(range(32))).hex())
            """
        let reference = try ContribTool.systemPython(
            script,
            ["31337", Hex.encode(Self.dataMarket.bytes, prefix: false), Hex.encode(dataset.bytes, prefix: false), "7"]
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        let hex = dek.withUnsafeBytes { Hex.encode($0, prefix: false) }
        #expect(hex == reference)
        #expect(hex == Self.goldenV2)
        let other = try DatasetKeys.dek(root: root, deployment: deployment, datasetID: dataset, keyVersion: 8)
        #expect(!dek.constantTimeEquals(other))
        // The instance form is the same derivation.
        let keys = DatasetKeys(root: root, deployment: deployment)
        #expect(try keys.dek(datasetID: dataset, keyVersion: 7).constantTimeEquals(dek))
        #expect(try keys.providerDEK(datasetID: dataset, keyVersion: 7).constantTimeEquals(dek))
    }

    /// HKDF-SHA256(ikm 00…1f, salt "delong/dek/v2", info 31337 ‖ 0x5FbDB…0aa3 ‖ keccak("admissions") ‖ 7).
    static let goldenV2 = "a438c6fdc76a63a04e436dd9fae73df1596cae8f249f02c34687839d1fcb6da9"

    /// The v1 DEK (migration only) still equals RFC 5869 HKDF-SHA256 with Python's hmac and hashlib.
    @Test func dekV1MatchesAnIndependentHKDF() throws {
        let root = SecretBytes(copying: (0..<32).map { UInt8($0) })
        let dataset = Keccak256.hash(utf8: "admissions")
        let dek = try DatasetKeys.dekV1(root: root, datasetID: dataset, keyVersion: 7)
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
        let keys = DatasetKeys(
            root: root,
            deployment: .init(chainID: 31337, dataMarket: Self.dataMarket),
            servesV1ToProviders: true
        )
        #expect(try keys.providerDEK(datasetID: dataset, keyVersion: 7).constantTimeEquals(dek))
        #expect(!(try keys.dek(datasetID: dataset, keyVersion: 7).constantTimeEquals(dek)))
    }

    /// One root, one dataset id: another chain id or another DataMarket address gives an unrelated DEK.
    @Test func theSameDatasetIdOnAnotherChainOrMarketHasAnotherKey() throws {
        let root = SecretBytes(copying: Keccak256.hash(utf8: "shared root").bytes)
        let dataset = Keccak256.hash(utf8: "mainnet dataset")
        let otherMarket = try Address(hex: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
        let deployments: [DatasetKeys.Deployment] = [
            .init(chainID: 1, dataMarket: Self.dataMarket), .init(chainID: 11_155_111, dataMarket: Self.dataMarket),
            .init(chainID: 1, dataMarket: otherMarket), .init(chainID: 31337, dataMarket: Self.dataMarket),
        ]
        let keys = try deployments.map {
            try DatasetKeys.dek(root: root, deployment: $0, datasetID: dataset, keyVersion: 1)
        }
        for i in keys.indices {
            for j in keys.indices where j != i { #expect(!keys[i].constantTimeEquals(keys[j]), "\(i) vs \(j)") }
            #expect(!keys[i].constantTimeEquals(try DatasetKeys.dekV1(root: root, datasetID: dataset, keyVersion: 1)))
        }
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
