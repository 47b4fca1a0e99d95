// delong-bench: DeLong's hot paths measured beside a reference in the same run.
//
// Run: swift run -c release delong-bench [--quick]
//      swift run -c release delong-bench gate [--rows N] [--output-mb M]   (GateBench.swift)
//      swift run -c release delong-bench parquet [--rows N] [--rounds R]   (ParquetBench.swift)
//      swift run -c release delong-bench explore-proxy [--requests N] [--stream-mb M] [--frame-kb K]
//          (ExploreProxyBench.swift)
//      swift run -c release delong-bench sync-reference --rpc URL --blocks N
//      swift run -c release delong-bench keyrelease-http [--duration S] [--clients N] [--max-rate R] [--tls]
//          [--development-evidence]
// Figures are medians of several timed rounds; compare ratios within one run (the machines are shared).
// This is not a test: nothing here fails on a slow figure.

import Attestation
import ChainCore
import Foundation
import Logging
import PlaneCrypto

if runChainSubcommand() { exit(0) }  // sync-reference (ChainBench.swift)
if runGateSubcommand() { exit(0) }  // gate (GateBench.swift)
if runParquetSubcommand() { exit(0) }  // parquet (ParquetBench.swift)

// MARK: The explore proxy (its own mode: `delong-bench explore-proxy [--requests N] [--stream-mb M]`)
if CommandLine.arguments.dropFirst().first == "explore-proxy" {
    func option(_ name: String, _ fallback: Int) -> Int {
        guard let i = CommandLine.arguments.firstIndex(of: name), i + 1 < CommandLine.arguments.count,
            let value = Int(CommandLine.arguments[i + 1]), value > 0
        else { return fallback }
        return value
    }
    exit(
        await exploreProxyBench(
            requests: option("--requests", 2000),
            streamMB: option("--stream-mb", 256),
            frameKB: option("--frame-kb", 1024)
        )
    )
}

// MARK: Key release over HTTP (its own mode: `delong-bench keyrelease-http [--duration S] [--clients N]`)
if CommandLine.arguments.dropFirst().first == "keyrelease-http" {
    func option(_ name: String, _ fallback: Double) -> Double {
        guard let i = CommandLine.arguments.firstIndex(of: name), i + 1 < CommandLine.arguments.count,
            let value = Double(CommandLine.arguments[i + 1]), value > 0
        else { return fallback }
        return value
    }
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    exit(
        await keyReleaseHTTPBench(
            testData: testDataRoot(),
            duration: option("--duration", 60),
            clients: Int(option("--clients", 64)),
            maxRate: Int(option("--max-rate", 8000)),
            developmentEvidence: CommandLine.arguments.contains("--development-evidence"),
            tls: CommandLine.arguments.contains("--tls")
        )
    )
}

let quick = CommandLine.arguments.contains("--quick")
let roundSeconds = quick ? 0.2 : 1.0
let rounds = quick ? 3 : 5

/// Runs `body` (which does `batch` operations) repeatedly for about `roundSeconds`, `rounds` times;
/// returns the median rate in operations per second.
func measure(batch: Int = 1, _ body: () -> Void) -> Double {
    var rates: [Double] = []
    for _ in 0..<rounds {
        let clock = ContinuousClock()
        var operations = 0
        let start = clock.now
        var elapsed = Duration.zero
        repeat {
            body()
            operations += batch
            elapsed = clock.now - start
        } while elapsed < .milliseconds(Int64(roundSeconds * 1000))
        rates.append(Double(operations) / elapsed.seconds)
    }
    return rates.sorted()[rates.count / 2]
}

func format(_ rate: Double, unit: String) -> String {
    switch rate {
    case 1e9...: return String(format: "%.2f G%@", rate / 1e9, unit)
    case 1e6...: return String(format: "%.2f M%@", rate / 1e6, unit)
    case 1e3...: return String(format: "%.1f k%@", rate / 1e3, unit)
    default: return String(format: "%.1f %@", rate, unit)
    }
}

func row(_ name: String, _ ours: Double, _ reference: Double?, _ referenceName: String, unit: String) {
    let ratio = reference.map { String(format: "%.2fx", ours / $0) } ?? "-"
    let ref = reference.map { format($0, unit: unit) } ?? "-"
    print(
        name.padding(toLength: 44, withPad: " ", startingAt: 0),
        format(ours, unit: unit).padding(toLength: 14, withPad: " ", startingAt: 0),
        ref.padding(toLength: 14, withPad: " ", startingAt: 0),
        ratio.padding(toLength: 8, withPad: " ", startingAt: 0),
        referenceName
    )
}

var sink: UInt8 = 0
print("delong-bench \(quick ? "(quick)" : "")  \(ProcessInfo.processInfo.activeProcessorCount) cores")
print(
    "what".padding(toLength: 44, withPad: " ", startingAt: 0),
    "ours".padding(toLength: 14, withPad: " ", startingAt: 0),
    "reference".padding(toLength: 14, withPad: " ", startingAt: 0),
    "ratio   ",
    "reference is"
)

// MARK: Keccak-256 vs OpenSSL SHA3-256 (the same Keccak-f[1600] permutation, same rate)
let small = (0..<500).map { UInt8(truncatingIfNeeded: $0 &* 7) }
let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
let sha3 = DigestContext(.sha3_256)
let k500 = measure(batch: 1000) { for _ in 0..<1000 { sink &+= Keccak256.hash(small).bytes[0] } }
let s500 = measure(batch: 1000) {
    for _ in 0..<1000 {
        sha3.update(small)
        sink &+= sha3.finalize()[0]
    }
}
row("keccak256, 500 B", k500, s500, "OpenSSL SHA3-256 (EVP, reused ctx)", unit: "hash/s")
let k1m = measure { sink &+= Keccak256.hash(large).bytes[0] } * Double(large.count)
let s1m =
    measure {
        sha3.update(large)
        sink &+= sha3.finalize()[0]
    } * Double(large.count)
row("keccak256, 1 MiB", k1m, s1m, "OpenSSL SHA3-256", unit: "B/s")

// MARK: Chain data from the shared test data, when present
func testDataRoot() -> URL? {
    if let env = ProcessInfo.processInfo.environment["DELONG_TESTDATA"] { return URL(fileURLWithPath: env) }
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()
    let candidate = here.deletingLastPathComponent().appendingPathComponent("shared/testdata")
    return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
}

if let root = testDataRoot(),
    let chain = try? [UInt8](Data(contentsOf: root.appendingPathComponent("chain/execution-apis/chain.rlp"))),
    let blocks = try? RLPItem.decodeSequence(chain).map({ try Block(rlp: $0) })
{
    let headers = blocks.map(\.header.encoded)
    let headerRate = measure(batch: headers.count) {
        for h in headers { sink &+= (try! Header(encoded: h)).hash.bytes[0] }
    }
    let hashOnly = measure(batch: headers.count) { for h in headers { sink &+= Keccak256.hash(h).bytes[0] } }
    row(
        "headers decoded + hashed (hive, 15-21 fields)",
        headerRate,
        hashOnly,
        "keccak of the same bytes only",
        unit: "hdr/s"
    )

    let blockBytes = chain.count
    let chainRate =
        measure { sink &+= UInt8(truncatingIfNeeded: (try! RLPItem.decodeSequence(chain)).count) } * Double(blockBytes)
    row("RLP decode, whole hive chain.rlp", chainRate, nil, "", unit: "B/s")

    if let receiptsJSON = try? JSONSerialization.jsonObject(
        with: Data(contentsOf: root.appendingPathComponent("chain/helios/rpc/receipts.json"))
    ) as? [[String: Any]],
        let receipts = try? receiptsJSON.map(RPCJSON.receipt)
    {
        let encoded = receipts.map(\.encoded)
        let rootRate = measure { sink &+= Receipts.root(receipts).bytes[0] }
        let hashAll = measure { for e in encoded { sink &+= Keccak256.hash(e).bytes[0] } }
        row(
            "receipts root, mainnet 21925176 (202 rcpts)",
            rootRate,
            hashAll,
            "keccak of every receipt only",
            unit: "root/s"
        )
        let bloomRate = measure { sink &+= Receipts.bloom(receipts).bytes[0] }
        row("logs bloom, same block", bloomRate, nil, "", unit: "bloom/s")
    }
} else {
    print("(shared test data not found: chain benchmarks skipped; set DELONG_TESTDATA)")
}

// MARK: TDX DCAP quote verification (dstack quote, dcap-qvl collateral), when the test data is present
if let root = testDataRoot()?.appendingPathComponent("attestation"),
    let collateralJSON = try? [UInt8](
        Data(contentsOf: root.appendingPathComponent("dcap-qvl/tdx_quote_outdated_collateral.json"))
    ),
    let fixture = try? JSONSerialization.jsonObject(
        with: Data(contentsOf: root.appendingPathComponent("dstack/verifier_quote-report.json"))
    ) as? [String: Any],
    let quoteHex = fixture["quote"] as? String
{
    let quote = try! TDXQuote(fileContents: Array(quoteHex.utf8))
    let at = Date(timeIntervalSince1970: 1_772_323_200)  // 2026-03-01T00:00:00Z, inside every window
    let prepareRate = measure(batch: 10) {
        for _ in 0..<10 {
            let prepared = try! DCAPVerifier.prepare(try! QuoteCollateral(json: collateralJSON))
            sink &+= UInt8(truncatingIfNeeded: prepared.validUntil)
        }
    }
    row("collateral parse + verify (once per fetch)", prepareRate, nil, "", unit: "op/s")
    let collateral = try! QuoteCollateral(json: collateralJSON)
    let coldRate = measure(batch: 10) {
        for _ in 0..<10 {
            // A fresh VerifiedCollateral has an empty cache: prepare plus one quote from an unseen platform.
            let fresh = try! DCAPVerifier.prepare(collateral)
            sink &+= (try! DCAPVerifier.verify(quote: quote.bytes, collateral: fresh, at: at)).quoteHash[0]
        }
    }
    let prepareOnly = measure(batch: 10) {
        for _ in 0..<10 { sink &+= UInt8(truncatingIfNeeded: (try! DCAPVerifier.prepare(collateral)).validFrom) }
    }
    row("TDX quote verify, cold cache (derived)", 1 / (1 / coldRate - 1 / prepareOnly), nil, "", unit: "op/s")
    let prepared = try! DCAPVerifier.prepare(collateral)
    let p256 = try! P256PublicKey(uncompressedPoint: quote.signature.attestationKey)
    let signed = quote.signedRegion
    let p256Rate = measure(batch: 100) {
        for _ in 0..<100 { sink &+= p256.isValidSignature(rawRS: quote.signature.quoteSignature, for: signed) ? 1 : 0 }
    }
    let quoteRate = measure(batch: 20) {
        for _ in 0..<20 {
            sink &+= (try! DCAPVerifier.verify(quote: quote.bytes, collateral: prepared, at: at)).quoteHash[0]
        }
    }
    row(
        "TDX quote verify, cached collateral, 1 core",
        quoteRate,
        p256Rate,
        "one P-256 ECDSA verify (OpenSSL)",
        unit: "op/s"
    )
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let parallelRate = measure(batch: 20 * cores) {
        DispatchQueue.concurrentPerform(iterations: cores) { _ in
            for _ in 0..<20 { _ = try! DCAPVerifier.verify(quote: quote.bytes, collateral: prepared, at: at) }
        }
    }
    row("TDX quote verify, cached collateral, \(cores) cores", parallelRate, nil, "", unit: "op/s")
} else {
    print("(shared test data not found: attestation benchmarks skipped; set DELONG_TESTDATA)")
}

// MARK: secp256k1 through libsecp256k1
let key = Keccak256.hash(utf8: "delong-bench").bytes
let digest = Keccak256.hash(utf8: "message")
let signature = try! Secp256k1.shared.sign(digest, privateKey: key)
let recoverRate = measure(batch: 100) {
    for _ in 0..<100 { sink &+= (try! Secp256k1.shared.recoverAddress(digest, signature)).bytes[0] }
}
row("ecrecover → address", recoverRate, nil, "(libsecp256k1 itself: ~32 k/s here)", unit: "op/s")
let signRate = measure(batch: 100) {
    for _ in 0..<100 { sink &+= (try! Secp256k1.shared.sign(digest, privateKey: key)).r[0] }
}
row("sign (RFC 6979)", signRate, nil, "(libsecp256k1 itself: ~51 k/s here)", unit: "op/s")

// MARK: Privacy Plane key release
await keyReleaseBench(testData: testDataRoot(), quick: quick)

if sink == 42 { print("") }  // keep results observable so nothing is optimized away
