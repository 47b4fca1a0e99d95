import ChainCore
import ChainRecords
import ComputingPlane
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import Sealing
import Synchronization
import TestSupport
import Testing

/// The Computing Plane's side of a sealed sample (docs/explore.md, "Sealed samples"), against an index in memory
/// and a key source that counts its calls: the sealed bytes are checked against the on-chain digest and read as
/// a sealed file for the dataset the locator names before any key is asked for; a wrong key is refused; a
/// plain sample needs no key at all.
@Suite struct SealedSampleAdmissionTests {
    static let signerKey = Keccak256.hash(utf8: "admission test privacy signer").bytes
    static let domain = TokenDomain(
        chainID: 31337,
        verifyingContract: try! Address(hex: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
    )
    static let consumer = try! Address(hex: "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc")
    static let provider = try! Address(hex: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    static let operatorAddress = try! Address(hex: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
    static let parent = Keccak256.hash(utf8: "admissions")
    static let sample = Keccak256.hash(utf8: "admissions sample")

    /// Hands out one fixed key and counts who asked for what.
    final class CountingKeys: SampleKeySource {
        let key: [UInt8]
        let asked = Mutex<[Hash32]>([])
        init(_ key: [UInt8]) { self.key = key }
        func key(
            for sample: Hash32,
            keyVersion: UInt32,
            token: SignedAccessToken
        ) async throws(ComputingPlaneError)
            -> SecretBytes
        {
            asked.withLock { $0.append(sample) }
            return SecretBytes(copying: key)
        }
        var count: Int { asked.withLock { $0.count } }
    }

    let dir: URL
    let records: InMemoryRecords
    let da: DAStore
    let sampleDirectory: URL
    let archive: PublishedSample
    let key = Keccak256.hash(utf8: "the sample dataset's key").bytes

    init() throws {
        dir = try DelongProcess.temporaryDirectory()
        da = DAStore(root: dir.appendingPathComponent("da").path)
        sampleDirectory = dir.appendingPathComponent("sample")
        let tables = sampleDirectory.appendingPathComponent("tables")
        try FileManager.default.createDirectory(at: tables, withIntermediateDirectories: true)
        try "id,age\nP1,30\nP2,40\n".write(
            to: tables.appendingPathComponent("people.csv"),
            atomically: true,
            encoding: .utf8
        )
        try "{\"k\": 5}\n".write(
            to: sampleDirectory.appendingPathComponent("report.json"),
            atomically: true,
            encoding: .utf8
        )
        archive = try PublishedSample.packed(directory: sampleDirectory.path)
        let now = UInt64(Date().timeIntervalSince1970)
        let origin = RecordOrigin(blockNumber: 10, blockHash: Keccak256.hash(utf8: "block 10"), logIndex: 0)
        records = InMemoryRecords(.init(head: IndexHead(number: 100, hash: Keccak256.hash(utf8: "head")), final: 96))
        let signer = try Secp256k1.shared.address(privateKey: Self.signerKey)
        records.content.withLock { c in
            c.privacySigner = SignerRecord(address: signer, updated: origin)
            for id in [Self.parent, Self.sample] {
                c.datasets[id] = DatasetRecord(
                    id: id,
                    provider: Self.provider,
                    manifestDigest: Keccak256.hash(utf8: "manifest"),
                    pricePerSecond: U256(1),
                    sampleLocator: "",
                    metadataURI: "m",
                    retired: false,
                    registered: origin,
                    updated: origin
                )
            }
            c.rentals[DeLongEvent.RentalKey(datasetID: Self.parent, consumer: Self.consumer)] = RentalRecord(
                datasetID: Self.parent,
                consumer: Self.consumer,
                provider: Self.provider,
                startedAt: now - 100,
                expiresAt: now + 86_400,
                paid: U256(1),
                status: .active,
                refund: U256(0),
                updated: origin
            )
            c.operators[Self.operatorAddress] = OperatorRecord(
                address: Self.operatorAddress,
                authorized: true,
                updated: origin
            )
        }
    }

    /// Seals the sample under `sealedFor`, stores it and names it on chain as sealed under `named`.
    func publish(sealedFor: Hash32 = sample, named: Hash32 = sample, key: [UInt8]? = nil) throws -> [UInt8] {
        let sealed = try SealedBlob.seal(
            archive.archive,
            datasetKey: SecretBytes(copying: key ?? self.key),
            datasetID: try DatasetID(bytes: sealedFor.bytes),
            keyVersion: 1
        )
        let digest = try da.put(sealed)
        records.content.withLock {
            $0.datasets[Self.parent]?.sampleLocatorText = ChainText(
                SampleLocator(digest: digest, sealedUnder: named).description
            )
        }
        return sealed
    }

    func admission(_ keys: CountingKeys, _ name: String) throws -> ExploreAdmission {
        try ExploreAdmission(
            records: records,
            tokenDomain: Self.domain,
            operatorAddress: Self.operatorAddress,
            da: da,
            samples: dir.appendingPathComponent(name).path,
            sampleKeys: keys
        )
    }

    func token() throws -> SignedAccessToken {
        try TokenIssuer(reader: records, domain: Self.domain, signingKey: SecretBytes(copying: Self.signerKey)).issue(
            for: Self.consumer,
            TokenRequest(dataset: Self.parent, mode: .explore, audience: Self.operatorAddress),
            now: UInt64(Date().timeIntervalSince1970)
        )
    }

    func refusal(_ admission: ExploreAdmission) async throws -> ComputingPlaneError? {
        let token = try token()
        do {
            _ = try await admission.admit(token)
            return nil
        } catch { return error }
    }

    @Test func aSealedSampleIsOpenedWithTheKeyOfTheDatasetItsLocatorNames() async throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let sealed = try publish()
        let keys = CountingKeys(key)
        let admitted = try await admission(keys, "samples").admit(try token())
        #expect(keys.asked.withLock { $0 } == [Self.sample])
        #expect(admitted.sampleDigest == BundleDigest.of(sealed))
        for path in ["tables/people.csv", "report.json"] {
            let mounted = try Data(contentsOf: URL(fileURLWithPath: admitted.sample + "/" + path))
            let original = try Data(contentsOf: sampleDirectory.appendingPathComponent(path))
            #expect(mounted == original, "\(path)")
        }
        // Extracted once per digest: a second admission asks for no key.
        _ = try await admission(keys, "samples").admit(try token())
        #expect(keys.count == 1)
    }

    @Test func bytesThatDoNotMatchTheChainOrNameAnotherDatasetGetNoKeyRequest() async throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let keys = CountingKeys(key)
        // Tampered in the store: its digest is not the chain's.
        let sealed = try publish()
        var tampered = sealed
        tampered[500] ^= 1
        try Data(tampered).write(to: URL(fileURLWithPath: da.path(of: BundleDigest.of(sealed))))
        let changed = try await refusal(try admission(keys, "tampered"))
        #expect(changed?.code == .verification, "\(String(describing: changed))")
        // Right digest, but sealed for another dataset than the locator names.
        _ = try publish(sealedFor: Self.parent, named: Self.sample)
        let relabelled = try await refusal(try admission(keys, "relabelled"))
        #expect(relabelled?.code == .verification && relabelled?.reason.contains("sealed for") == true)
        #expect(keys.count == 0, "no key was asked for")
        // Sealed with another key than the sample dataset's: the key is asked for, the archive refused.
        _ = try publish(key: Keccak256.hash(utf8: "another key").bytes)
        let wrongKey = try await refusal(try admission(keys, "wrong-key"))
        #expect(wrongKey?.code == .verification && wrongKey?.reason.contains("authenticate") == true)
        #expect(keys.count == 1)
        // Without a key source a sealed sample cannot be served; a plain one still can.
        let plain = try ExploreAdmission(
            records: records,
            tokenDomain: Self.domain,
            operatorAddress: Self.operatorAddress,
            da: da,
            samples: dir.appendingPathComponent("plain").path
        )
        #expect(try await refusal(plain)?.code == .notFound)
        let digest = try da.put(archive.archive)
        records.content.withLock {
            $0.datasets[Self.parent]?.sampleLocatorText = ChainText(SampleLocator(digest: digest).description)
        }
        #expect(try await plain.admit(try token()).sampleDigest == archive.digest)
        #expect(keys.count == 1)
    }
}
