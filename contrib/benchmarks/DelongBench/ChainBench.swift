// Chain benchmarks that need a running node: `delong-bench sync-reference --rpc URL --blocks N` fetches the
// headers of blocks 1...N over JSON-RPC (untimed), then times the bare work a light client cannot avoid on
// them: decoding each header from its RLP and hashing it (keccak256). contrib/benchmarks/sync-bench.sh prints
// the node's sync CPU beside this figure, measured in the same run on the same headers.

import ChainCore
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Runs a chain subcommand when the first argument names one; returns false otherwise.
func runChainSubcommand() -> Bool {
    let args = Array(CommandLine.arguments.dropFirst())
    guard args.first == "sync-reference" else { return false }
    func value(_ flag: String) -> String? {
        guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
        return args[i + 1]
    }
    guard let rpc = value("--rpc").flatMap(URL.init(string:)), let blocks = value("--blocks").flatMap(UInt64.init)
    else {
        FileHandle.standardError.write(Data("usage: delong-bench sync-reference --rpc URL --blocks N\n".utf8))
        exit(64)
    }
    do {
        let encoded = try fetchEncodedHeaders(rpc: rpc, through: blocks)
        var sink: UInt8 = 0
        var best = Double.infinity
        for _ in 0..<3 {
            let start = processCPUSeconds()
            for e in encoded { sink &+= (try Header(encoded: e)).hash.bytes[0] }
            best = min(best, processCPUSeconds() - start)
        }
        // One line for the script: headers, CPU seconds of decode + keccak over all of them (best of 3).
        print(encoded.count, String(format: "%.4f", best), sink == 0 ? "" : "")
    } catch {
        FileHandle.standardError.write(Data("sync-reference: \(error)\n".utf8))
        exit(1)
    }
    return true
}

func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

struct BenchFetchError: Error, CustomStringConvertible {
    let description: String
}

/// RLP of the headers of blocks 1...last, fetched in batches of 1,000 eth_getBlockByNumber calls.
func fetchEncodedHeaders(rpc: URL, through last: UInt64) throws -> [[UInt8]] {
    var out: [[UInt8]] = []
    out.reserveCapacity(Int(last))
    var first: UInt64 = 1
    while first <= last {
        let end = min(last, first + 999)
        let body =
            "["
            + (first...end).map {
                "{\"jsonrpc\":\"2.0\",\"id\":\($0),\"method\":\"eth_getBlockByNumber\",\"params\":[\"0x\(String($0, radix: 16))\",false]}"
            }.joined(separator: ",") + "]"
        var request = URLRequest(url: rpc)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        let data = try post(request)
        guard let responses = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw BenchFetchError(description: "expected a batch response")
        }
        let sorted = responses.sorted { ($0["id"] as? Int ?? 0) < ($1["id"] as? Int ?? 0) }
        for r in sorted {
            guard let block = r["result"] as? [String: Any] else {
                throw BenchFetchError(description: "no block in \(String(describing: r).prefix(200))")
            }
            out.append(try RPCJSON.header(block).encoded)
        }
        first = end + 1
    }
    return out
}

private func post(_ request: URLRequest) throws -> Data {
    final class Box: @unchecked Sendable {
        var result: Result<Data, any Error> = .failure(BenchFetchError(description: "no answer"))
    }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    URLSession.shared.dataTask(with: request) { data, _, error in
        if let data { box.result = .success(data) } else if let error { box.result = .failure(error) }
        done.signal()
    }.resume()
    done.wait()
    return try box.result.get()
}
