import Attestation
import ChainCore
import ChainRecords
import Foundation
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

    func verify(_ evidence: [UInt8], now: UInt64) throws(PrivacyPlaneError) -> AttestedSandbox {
        _ = try verifier.verify(quote, now: quoteTime)
        return try verifier.verify(evidence, now: now)
    }
}

/// Key releases per second and latency percentiles under `clients` concurrent callers, in process (no HTTP):
/// token, evidence, allow-list, binding, rental and algorithm checks, DEK derivation, X25519 + HKDF +
/// AES-GCM wrap, and a signed receipt group-committed to a log file (fsync) before each call returns.
@MainActor func keyReleaseBench(testData: URL?, quick: Bool) async {
    guard let testData,
        let quote = try? [UInt8](Data(contentsOf: testData.appendingPathComponent("attestation/dcap-qvl/tdx_quote"))),
        let collateralJSON = try? [UInt8](
            Data(contentsOf: testData.appendingPathComponent("attestation/dcap-qvl/tdx_quote_collateral.json"))
        ),
        let collateral = try? DCAPVerifier.prepare(QuoteCollateral(json: collateralJSON))
    else {
        print("(shared test data not found: key-release benchmark skipped; set DELONG_TESTDATA)")
        return
    }
    // Inside every window of that collateral (MANIFEST: 2025-06-19T10:32:27Z … 2025-07-19T10:00:35Z).
    let quoteTime: UInt64 = 1_752_000_000
    let verifier = AttestationEvidenceVerifier(
        collateral: collateral,
        policy: AttestationPolicy(allowInsecureDevelopment: true)
    )
    do {
        let now = UInt64(Date().timeIntervalSince1970)
        let planeKey = SecretBytes(copying: Keccak256.hash(utf8: "bench plane key").bytes)
        let domain = TokenDomain(
            chainID: 31337,
            verifyingContract: try Address(hex: "0x" + String(repeating: "11", count: 20))
        )
        let consumer = try Address(hex: "0x" + String(repeating: "22", count: 20))
        let dataset = Keccak256.hash(utf8: "bench dataset")
        let image = Keccak256.hash(utf8: "bench image")
        let mrTD = [UInt8](repeating: 1, count: 48)
        let rtmr = (0..<4).map { [UInt8](repeating: UInt8(2 + $0), count: 48) }
        let measurement = try Hash32(Digest.sha256(mrTD + rtmr[0] + rtmr[1] + rtmr[2]))
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
            bundleDigest: image,
            daLocator: "",
            published: origin
        )
        content.measurements[measurement] = MeasurementRecord(
            digest: measurement,
            measurements: [],
            label: "bench",
            trusted: true,
            updated: origin
        )
        let index = InMemoryRecords(content)
        let issuer = try TokenIssuer(reader: index, domain: domain, signingKey: planeKey, maxJobDuration: 3600)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "delong-bench-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        func plane(_ evidence: any EvidenceVerifier, _ name: String) throws -> KeyRelease {
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
                logger: nil
            )
        }

        /// Pre-made requests: a fresh token and sandbox key each, evidence bound to both.
        func requests(_ count: Int) throws -> [KeyReleaseRequest] {
            try (0..<count).map { i in
                let token = try issuer.issue(
                    for: consumer,
                    TokenRequest(
                        dataset: dataset,
                        mode: .secure,
                        imageDigest: image,
                        jobID: Keccak256.hash(utf8: "job \(i)")
                    ),
                    now: now
                )
                let sandbox = try X25519PrivateKey()
                let reportData = KeyWrap.reportData(
                    recipientKey: sandbox.publicKey,
                    tokenHash: try token.token.signingHash(domain),
                    imageDigest: image
                )
                let evidence = try InsecureDevelopmentEvidence(mrTD: mrTD, rtmr: rtmr, reportData: reportData).json()
                return KeyReleaseRequest(token: token, evidence: evidence, sandboxKey: sandbox.publicKey)
            }
        }

        let total = quick ? 2_000 : 10_000
        let clients = 64
        let tdx = try plane(TDXCostedEvidence(verifier: verifier, quote: quote, quoteTime: quoteTime), "tdx.log")
        let full = try await run(tdx, try requests(total), clients: clients, now: now)
        let dev = try await run(try plane(verifier, "dev.log"), try requests(total), clients: clients, now: now)
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
