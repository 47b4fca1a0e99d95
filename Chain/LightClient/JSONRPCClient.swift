public import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A JSON-RPC failure: which endpoint, which method, what went wrong.
public struct RPCError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// No usable answer: connection refused, reset, timed out.
        case transport
        /// The server answered with a non-200 HTTP status.
        case httpStatus(Int)
        /// The server answered with a JSON-RPC error object.
        case server(code: Int, message: String)
        /// The answer was not the JSON-RPC the request called for.
        case malformed
    }

    public let kind: Kind
    /// The endpoint as configured (it may carry an API key: never print it; see `description`).
    public let endpoint: String
    public let method: String
    public let detail: String

    /// Names the endpoint only by scheme://host[:port].
    public var description: String { "\(EndpointName.redacted(endpoint)) \(method): \(detail)" }
}

/// One JSON-RPC call: a method and its params as a JSON array text.
public struct RPCRequest: Sendable {
    public var method: String
    /// The params array, already JSON: `["0x1", true]`.
    public var params: String

    public init(_ method: String, params: String = "[]") {
        self.method = method
        self.params = params
    }

    public static func blockByNumber(_ number: UInt64, fullTransactions: Bool = true) -> RPCRequest {
        RPCRequest("eth_getBlockByNumber", params: "[\"\(quantity(number))\",\(fullTransactions)]")
    }
    public static func blockReceipts(_ number: UInt64) -> RPCRequest {
        RPCRequest("eth_getBlockReceipts", params: "[\"\(quantity(number))\"]")
    }
    public static let blockNumber = RPCRequest("eth_blockNumber")
    public static let chainID = RPCRequest("eth_chainId")
    public static func proof(_ address: String, slots: [String], block: UInt64) -> RPCRequest {
        let slotList = slots.map { "\"\($0)\"" }.joined(separator: ",")
        return RPCRequest("eth_getProof", params: "[\"\(address)\",[\(slotList)],\"\(quantity(block))\"]")
    }

    static func quantity(_ n: UInt64) -> String { "0x" + String(n, radix: 16) }
}

/// A JSON-RPC 2.0 client over HTTP(S) with a deadline on every request, retries with exponential backoff
/// for transport failures and 5xx/429 answers, and batches. It trusts nothing it receives: results are
/// handed on as parsed JSON for ChainCore to verify.
public final class JSONRPCClient: Sendable {
    public let endpoint: String
    private let http: HTTPClient
    private let timeout: TimeAmount
    private let retries: Int
    /// Responses larger than this are refused (a hostile endpoint cannot exhaust memory).
    public static let maxResponseBytes = 64 << 20

    public init(endpoint: String, httpClient: HTTPClient = .shared, timeout: Duration = .seconds(15), retries: Int = 3)
    {
        self.endpoint = endpoint
        self.http = httpClient
        self.timeout = .nanoseconds(
            timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        )
        self.retries = retries
    }

    /// Calls one method and returns its `result` (JSONSerialization types; NSNull for null).
    public func call(_ request: RPCRequest, logger: Logger) async throws -> Any {
        let body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\(request.method)\",\"params\":\(request.params)}"
        let response = try await post(body, method: request.method, logger: logger)
        guard let object = response as? [String: Any] else {
            throw RPCError(
                kind: .malformed,
                endpoint: endpoint,
                method: request.method,
                detail: "expected a JSON-RPC response object"
            )
        }
        return try result(of: object, method: request.method)
    }

    /// Calls several methods in one HTTP request; results come back in request order.
    public func batch(_ requests: [RPCRequest], logger: Logger) async throws -> [Any] {
        guard !requests.isEmpty else { return [] }
        let body =
            "["
            + requests.enumerated().map { i, r in
                "{\"jsonrpc\":\"2.0\",\"id\":\(i),\"method\":\"\(r.method)\",\"params\":\(r.params)}"
            }.joined(separator: ",") + "]"
        let label = "batch of \(requests.count)"
        guard let responses = try await post(body, method: label, logger: logger) as? [[String: Any]] else {
            throw RPCError(
                kind: .malformed,
                endpoint: endpoint,
                method: label,
                detail: "expected a JSON array of responses"
            )
        }
        var byID: [Int: [String: Any]] = [:]
        for r in responses {
            guard let id = r["id"] as? Int, id >= 0, id < requests.count, byID[id] == nil else {
                throw RPCError(
                    kind: .malformed,
                    endpoint: endpoint,
                    method: label,
                    detail: "response with a missing, unknown or repeated id"
                )
            }
            byID[id] = r
        }
        return try requests.indices.map { i in
            guard let r = byID[i] else {
                throw RPCError(
                    kind: .malformed,
                    endpoint: endpoint,
                    method: requests[i].method,
                    detail: "no response in the batch"
                )
            }
            return try result(of: r, method: requests[i].method)
        }
    }

    /// At most 200 characters of `text`, with control characters replaced by "?".
    public static func printable(_ text: String) -> String {
        let cut = text.unicodeScalars.prefix(200).map {
            $0.properties.generalCategory == .control ? "?" : Character($0)
        }
        return String(cut) + (text.unicodeScalars.count > 200 ? "…" : "")
    }

    private func result(of object: [String: Any], method: String) throws -> Any {
        if let error = object["error"] as? [String: Any] {
            // The message is the endpoint's text: bounded and printable before it reaches any status page.
            let message = Self.printable(error["message"] as? String ?? "")
            throw RPCError(
                kind: .server(code: error["code"] as? Int ?? 0, message: message),
                endpoint: endpoint,
                method: method,
                detail: "server error \(error["code"] as? Int ?? 0): \(message)"
            )
        }
        guard let result = object["result"] else {
            throw RPCError(
                kind: .malformed,
                endpoint: endpoint,
                method: method,
                detail: "response has neither result nor error"
            )
        }
        return result
    }

    private func post(_ body: String, method: String, logger: Logger) async throws -> Any {
        var attempt = 0
        while true {
            do {
                return try await postOnce(body, method: method, logger: logger)
            } catch let error as RPCError {
                let retryable: Bool
                switch error.kind {
                case .transport: retryable = true
                case .httpStatus(let status): retryable = status >= 500 || status == 429
                default: retryable = false
                }
                guard retryable, attempt < retries else { throw error }
                attempt += 1
                let delay = 100 * (1 << attempt)
                logger.debug(
                    "rpc retry",
                    metadata: [
                        "rpc.endpoint": "\(endpoint)", "rpc.method": "\(method)", "rpc.attempt": "\(attempt)",
                        "rpc.error": "\(error.detail)",
                    ]
                )
                try await Task.sleep(for: .milliseconds(delay))
            }
        }
    }

    private func postOnce(_ body: String, method: String, logger: Logger) async throws -> Any {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, deadline: .now() + timeout, logger: logger)
            bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
        } catch let error as NIOTooManyBytesError {
            throw RPCError(
                kind: .malformed,
                endpoint: endpoint,
                method: method,
                detail: "response larger than \(Self.maxResponseBytes) bytes (\(error))"
            )
        } catch {
            throw RPCError(kind: .transport, endpoint: endpoint, method: method, detail: "\(error)")
        }
        guard response.status == .ok else {
            throw RPCError(
                kind: .httpStatus(Int(response.status.code)),
                endpoint: endpoint,
                method: method,
                detail: "HTTP \(response.status.code)"
            )
        }
        do {
            return try bytes.withUnsafeReadableBytes { raw in
                Result { () throws(JSONParser.Failure) -> Any in try JSONParser.parse(raw) }
            }.get()
        } catch {
            throw RPCError(
                kind: .malformed,
                endpoint: endpoint,
                method: method,
                detail: "response is not valid JSON (\(error))"
            )
        }
    }
}
