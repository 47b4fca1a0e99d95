// delong-bench gate [--rows N] [--output-mb M]: the Output Gate's `gate check` of M MB of CSV output (default
// 10) against an N-row dataset (default 1,000,000), both synthetic and generated here. Prints the index build
// time, the index cache load time, the check time and its MB/s beside raw SHA-256 over the same bytes.
// `--report FILE` also writes the check's JSON report there (to compare two builds' findings).

import ComputingPlane
import Foundation
import PlaneCrypto

func runGateSubcommand() -> Bool {
    guard CommandLine.arguments.dropFirst().first == "gate" else { return false }
    func option(_ name: String, _ fallback: Int) -> Int {
        guard let i = CommandLine.arguments.firstIndex(of: name), i + 1 < CommandLine.arguments.count,
            let value = Int(CommandLine.arguments[i + 1]), value > 0
        else { return fallback }
        return value
    }
    var reportPath: String?
    if let i = CommandLine.arguments.firstIndex(of: "--report"), i + 1 < CommandLine.arguments.count {
        reportPath = CommandLine.arguments[i + 1]
    }
    gateBench(rows: option("--rows", 1_000_000), outputMB: option("--output-mb", 10), reportPath: reportPath)
    return true
}

struct BenchRand {
    var state: UInt64
    mutating func next(_ n: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(n))
    }
}

func gateBench(rows: Int, outputMB: Int, reportPath: String?) {
    let clock = ContinuousClock()
    let regions = ["north", "south", "east", "west", "central"]
    let policy = """
        {"version": 1, "tables": {"people.csv": {"entity": "person_id", "columns": {"person_id": "key",
          "name": "direct_identifier", "birth_date": "quasi_identifier", "postcode": "quasi_identifier",
          "sex": "quasi_identifier", "age": "quasi_identifier", "income": "sensitive", "region": "other",
          "visit": "date"}}}}
        """
    var r = BenchRand(state: 7)
    var csv = "person_id,name,birth_date,postcode,sex,age,income,region,visit\n"
    csv.reserveCapacity(rows * 90)
    var ages: [Int] = []
    var sexes: [String] = []
    var incomes: [Double] = []
    var regionOf: [Int] = []
    for i in 0..<rows {
        let age = 18 + r.next(72)
        let sex = r.next(2) == 0 ? "F" : "M"
        let income = Double(15_000 + r.next(150_000)) + Double(r.next(100)) / 100
        let region = r.next(regions.count)
        ages.append(age)
        sexes.append(sex)
        incomes.append(income)
        regionOf.append(region)
        csv += "P\(10_000_000 + i),Given\(r.next(5000)) Family\(i),\(2006 - age)-\(1 + r.next(12))-\(1 + r.next(28)),"
        csv += "\(10_000 + r.next(80_000)),\(sex),\(age),\(String(format: "%.2f", income)),\(regions[region]),"
        csv += "20\(18 + r.next(6))-0\(1 + r.next(9))-1\(r.next(10))\n"
    }
    let table = Array(csv.utf8)
    csv = ""
    print("gate bench: dataset \(rows) rows, \(String(format: "%.1f", Double(table.count) / 1e6)) MB of CSV")

    var start = clock.now
    let index: DatasetIndex
    do {
        index = try DatasetIndex(policyJSON: Array(policy.utf8), tables: ["people.csv": table])
    } catch {
        print("gate bench: index build failed: \(error.reason)")
        return
    }
    let build = (clock.now - start).seconds
    print(String(format: "index build, %d rows                     %8.2f s", rows, build))

    // The cache: store once, then time a load.
    let cacheDir = FileManager.default.temporaryDirectory.appendingPathComponent("delong-gate-bench-\(getpid())")
    defer { try? FileManager.default.removeItem(at: cacheDir) }
    do {
        _ = try DatasetIndexCache.index(
            policy: Array(policy.utf8),
            tables: ["people.csv": table],
            directory: cacheDir.path
        )
        start = clock.now
        let loaded = try DatasetIndexCache.index(
            policy: Array(policy.utf8),
            tables: ["people.csv": table],
            directory: cacheDir.path
        )
        let load = (clock.now - start).seconds
        print(String(format: "index load from cache (%@), %d rows   %8.2f s", loaded.hit ? "hit" : "miss", rows, load))
    } catch {
        print("gate bench: cache failed: \(error.reason)")
    }

    // Outputs: aggregate tables by region, age and sex (re-derived on the data), and model predictions.
    var files: [(String, [UInt8])] = []
    var groups: [String: (n: Int, sum: Double)] = [:]
    for i in 0..<rows {
        let key = "\(regions[regionOf[i]]),\(ages[i]),\(sexes[i])"
        groups[key, default: (0, 0)].n += 1
        groups[key, default: (0, 0)].sum += incomes[i]
    }
    var aggregate = "region,age,sex,n,mean_income\n"
    for key in groups.keys.sorted() {
        let g = groups[key]!
        aggregate += "\(key),\(g.n),\(String(format: "%.2f", g.sum / Double(g.n)))\n"
    }
    for k in 0..<4 { files.append(("aggregate-\(k).csv", Array(aggregate.utf8))) }
    let budget = outputMB * 1_000_000 - files.reduce(0) { $0 + $1.1.count }
    var predictions = "row,score,prediction,residual\n"
    predictions.reserveCapacity(budget + 100)
    var line = 0
    while predictions.utf8.count < budget {
        predictions +=
            "\(line),0.\(r.next(1_000_000)),\(r.next(2)),\(r.next(2) == 0 ? "-" : "")\(r.next(100)).\(r.next(10_000))\n"
        line += 1
    }
    files.append(("predictions.csv", Array(predictions.utf8)))
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("delong-gate-bench-out-\(getpid())")
    defer { try? FileManager.default.removeItem(at: out) }
    try? FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    for (name, bytes) in files {
        _ = FileManager.default.createFile(atPath: out.appendingPathComponent(name).path, contents: Data(bytes))
    }
    let total = files.reduce(0) { $0 + $1.1.count }
    let megabytes = Double(total) / 1e6

    var times: [Double] = []
    var cpuTimes: [Double] = []
    var decision = ""
    for _ in 0..<3 {
        start = clock.now
        let cpuStart = processCPUSeconds()
        guard let report = try? OutputGate.check(directory: out.path, index: index) else {
            print("gate bench: check failed")
            return
        }
        times.append((clock.now - start).seconds)
        cpuTimes.append(processCPUSeconds() - cpuStart)
        decision = report.decision.rawValue
        if let reportPath { _ = FileManager.default.createFile(atPath: reportPath, contents: Data(report.json())) }
    }
    let check = times.sorted()[1]
    let cpu = cpuTimes.sorted()[1]
    let all = files.flatMap(\.1)
    start = clock.now
    var shaRounds = 0
    var sinkByte: UInt8 = 0
    repeat {
        sinkByte &+= Digest.sha256(all)[0]
        shaRounds += 1
    } while (clock.now - start) < .milliseconds(500)
    let sha = (clock.now - start).seconds / Double(shaRounds)
    print(
        String(
            format: "gate check, %.1f MB of CSV in %d files      %8.2f s   %7.1f MB/s   (decision %@)",
            megabytes,
            files.count,
            check,
            megabytes / check,
            decision
        )
    )
    // CPU time over all threads: what the check costs whatever else the machine runs; on N idle cores the
    // check cannot take less than this over N.
    print(
        String(
            format: "  its CPU time over all threads             %8.2f s   (%.2f s over %d cores)",
            cpu,
            cpu / Double(ProcessInfo.processInfo.activeProcessorCount),
            ProcessInfo.processInfo.activeProcessorCount
        )
    )
    print(
        String(
            format: "raw SHA-256, same bytes                   %8.3f s   %7.1f MB/s   (%d)",
            sha,
            megabytes / sha,
            Int(sinkByte)
        )
    )
    print(String(format: "target: gate check < 2 s on 2 cores: %@", check < 2 ? "met" : "NOT met"))
}
