import Attestation
import ChainCore
import ChainRecords
import Foundation
import Logging
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import Synchronization

/// Bench-only evidence: every call fully verifies a real Intel TDX quote (dcap-qvl's `tdx_quote`, collateral
/// prepared once) and then takes the binding from development evidence, because a recorded quote cannot
/// carry a REPORTDATA for keys made in this run. The cost is that of a TDX release; the claims are the dev
/// evidence's.
struct TDXCostedEvidence: EvidenceVerifier {
    let verifier: AttestationEvidenceVerifier
    let quote: [UInt8]
    let quoteTime: UInt64

    func verify(_ evidence: [UInt8], now: UInt64) async throws(PrivacyPlaneError) -> AttestedSandbox {
        _ = try await verifier.verify(quote, now: quoteTime)
        return try await verifier.verify(evidence, now: now)
    }
}

/// The bench's world: an in-memory index with one dataset, an active rental, a published algorithm and a
/// trusted measurement; the plane's token issuer; and a scratch directory for receipt logs. The recorded TDX
/// quote and its collateral come from the shared test data.
struct BenchWorld {
    let now: UInt64
    let planeKey: SecretBytes
    let domain: TokenDomain
    let consumer: Address
    /// The Computing Plane operator secure tokens name as audience (also the sandboxes' agent signer here).
    let benchOperator = try! Address(hex: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
    let dataset: Hash32
    let image: Hash32
    /// A consistent published pair (the plane refuses records whose pair does not make the image digest).
    let locator: DALocator
    let mrTD: [UInt8]
    let rtmr: [[UInt8]]
    let index: InMemoryRecords
    let issuer: TokenIssuer
    let directory: URL
    let verifier: AttestationEvidenceVerifier
    let quote: [UInt8]
    /// Inside every window of that collateral (MANIFEST: 2025-06-19T10:32:27Z … 2025-07-19T10:00:35Z).
    let quoteTime: UInt64 = 1_752_000_000

    /// nil when the shared test data is missing.
    init?(testData: URL?) throws {
        guard let testData,
            let quote = try? [UInt8](
                Data(contentsOf: testData.appendingPathComponent("attestation/dcap-qvl/tdx_quote"))
            ),
            let collateralJSON = try? [UInt8](
                Data(contentsOf: testData.appendingPathComponent("attestation/dcap-qvl/tdx_quote_collateral.json"))
            ),
            let collateral = try? DCAPVerifier.prepare(QuoteCollateral(json: collateralJSON))
        else { return nil }
        self.quote = quote
        verifier = AttestationEvidenceVerifier(
            collateral: collateral,
            policy: AttestationPolicy(allowInsecureDevelopment: true)
        )
        now = UInt64(Date().timeIntervalSince1970)
        planeKey = SecretBytes(copying: Keccak256.hash(utf8: "bench plane key").bytes)
        domain = TokenDomain(
            chainID: 31337,
            verifyingContract: try Address(hex: "0x" + String(repeating: "11", count: 20))
        )
        consumer = try Address(hex: "0x" + String(repeating: "22", count: 20))
        dataset = Keccak256.hash(utf8: "bench dataset")
        locator = DALocator(
            bundle: Keccak256.hash(utf8: "bench bundle"),
            runtime: Keccak256.hash(utf8: "bench runtime")
        )
        image = locator.imageDigest
        mrTD = [UInt8](repeating: 1, count: 48)
        rtmr = (0..<4).map { [UInt8](repeating: UInt8(2 + $0), count: 48) }
        // The allow-listed digest of the development evidence's claims (its own domain-separated form).
        let measurement = try Hash32(
            InsecureDevelopmentEvidence.measurementDigest(measurements: mrTD + rtmr[0] + rtmr[1] + rtmr[2])
        )
        let origin = RecordOrigin(blockNumber: 1, blockHash: Keccak256.hash(utf8: "b1"), logIndex: 0)
        var content = InMemoryRecords.Content(head: IndexHead(number: 100, hash: Keccak256.hash(utf8: "h")), final: 90)
        content.datasets[dataset] = DatasetRecord(
            id: dataset,
            provider: consumer,
            manifestDigest: dataset,
            pricePerSecond: U256(1),
            sampleLocator: "",
            metadataURI: "",
            retired: false,
            registered: origin,
            updated: origin
        )
        content.rentals[.init(datasetID: dataset, consumer: consumer)] = RentalRecord(
            datasetID: dataset,
            consumer: consumer,
            provider: consumer,
            startedAt: now - 10,
            expiresAt: now + 864_000,
            paid: U256(1),
            status: .active,
            refund: U256(0),
            updated: origin
        )
        content.algorithms[image] = AlgorithmRecord(
            imageDigest: image,
            publisher: consumer,
            bundleDigest: locator.bundle,
            daLocator: ChainText(locator.description),
            published: origin
        )
        content.measurements[measurement] = MeasurementRecord(
            digest: measurement,
            measurements: [],
            label: "bench",
            trusted: true,
            updated: origin
        )
        content.operators[benchOperator] = OperatorRecord(address: benchOperator, authorized: true, updated: origin)
        index = InMemoryRecords(content)
        issuer = try TokenIssuer(reader: index, domain: domain, signingKey: planeKey, maxJobDuration: 3600)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("delong-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func removeScratch() { try? FileManager.default.removeItem(at: directory) }

    /// The evidence a TDX release pays for: the recorded quote fully verified on every call.
    var tdxCosted: TDXCostedEvidence { TDXCostedEvidence(verifier: verifier, quote: quote, quoteTime: quoteTime) }

    /// A key-release plane over this world with `evidence`, its receipts fsync'd to the log file `name`.
    func plane(_ evidence: any EvidenceVerifier, _ name: String, logger: Logger? = nil) throws -> KeyRelease {
        KeyRelease(
            reader: index,
            tokens: TokenVerifier(domain: domain, signer: issuer.signer),
            evidence: evidence,
            receipts: try ReceiptLog(
                path: directory.appendingPathComponent(name).path,
                domain: domain,
                signingKey: planeKey
            ),
            keys: DatasetKeys(
                root: SecretBytes(copying: Keccak256.hash(utf8: "bench root").bytes),
                deployment: .init(chainID: domain.chainID, dataMarket: domain.verifyingContract)
            ),
            allowDevelopmentEvidence: true,
            logger: logger
        )
    }

    /// Request `i`: a fresh token (its own job id under `tag`) and sandbox key, evidence bound to both.
    func request(_ i: Int, tag: String = "job") throws -> KeyReleaseRequest {
        let token = try issuer.issue(
            for: consumer,
            TokenRequest(
                dataset: dataset,
                mode: .secure,
                imageDigest: image,
                jobID: Keccak256.hash(utf8: "\(tag) \(i)"),
                audience: benchOperator
            ),
            now: now
        )
        let sandbox = try X25519PrivateKey()
        let reportData = KeyWrap.reportData(
            recipientKey: sandbox.publicKey,
            agentSigner: benchOperator,
            tokenHash: try token.token.signingHash(domain),
            imageDigest: image
        )
        let evidence = try InsecureDevelopmentEvidence(mrTD: mrTD, rtmr: rtmr, reportData: reportData).json()
        return KeyReleaseRequest(
            token: token,
            evidence: evidence,
            sandboxKey: sandbox.publicKey,
            agentSigner: benchOperator
        )
    }

    /// `count` requests, each with a fresh token.
    func requests(_ count: Int, tag: String = "job") throws -> [KeyReleaseRequest] {
        try (0..<count).map { try request($0, tag: tag) }
    }
}

/// Key releases per second and latency percentiles under `clients` concurrent callers, in process (no HTTP):
/// token, evidence, allow-list, binding, rental and algorithm checks, DEK derivation, X25519 + HKDF +
/// AES-GCM wrap, and a signed receipt group-committed to a log file (fsync) before each call returns.
@MainActor func keyReleaseBench(testData: URL?, quick: Bool) async {
    do {
        guard let world = try BenchWorld(testData: testData) else {
            print("(shared test data not found: key-release benchmark skipped; set DELONG_TESTDATA)")
            return
        }
        defer { world.removeScratch() }
        let total = quick ? 2_000 : 10_000
        let clients = 64
        let now = world.now
        let full = try await run(
            try world.plane(world.tdxCosted, "tdx.log"),
            try world.requests(total, tag: "tdx"),
            clients: clients,
            now: now
        )
        let dev = try await run(
            try world.plane(world.verifier, "dev.log"),
            try world.requests(total, tag: "dev"),
            clients: clients,
            now: now
        )
        row(
            "key release, TDX quote verified, 64 clients",
            full.rate,
            dev.rate,
            "same, development evidence (no DCAP)",
            unit: "rel/s"
        )
        print(
            String(
                format: "    latency with TDX: p50 %.2f ms, p99 %.2f ms; %d releases, receipts fsync'd (group commit)",
                full.p50 * 1000,
                full.p99 * 1000,
                total
            )
        )
    } catch {
        print("key-release benchmark failed: \(error)")
    }
}

/// Runs `requests` through `plane` from `clients` concurrent tasks: releases per second and latency quantiles.
func run(
    _ plane: KeyRelease,
    _ requests: [KeyReleaseRequest],
    clients: Int,
    now: UInt64
) async throws -> (rate: Double, p50: Double, p99: Double) {
    let next = Ticket()
    let clock = ContinuousClock()
    let start = clock.now
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for _ in 0..<clients {
            group.addTask {
                var mine: [Double] = []
                while true {
                    let i = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= requests.count { return mine }
                    let t = clock.now
                    _ = try await plane.release(requests[i], now: now)
                    mine.append((clock.now - t).seconds)
                }
            }
        }
        var all: [Double] = []
        for try await part in group { all += part }
        return all.sorted()
    }
    let elapsed = (clock.now - start).seconds
    return (
        Double(requests.count) / elapsed,
        latencies[latencies.count / 2],
        latencies[min(latencies.count - 1, latencies.count * 99 / 100)]
    )
}

/// A shared counter handing each client the next request.
final class Ticket: Sendable {
    let value = Atomic<Int>(0)
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
