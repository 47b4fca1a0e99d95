import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// One request with a deadline and a bounded body, shared by the token exchange and the Compute Engine calls.
struct GoogleHTTP: Sendable {
    let client: HTTPClient
    let timeout: Duration
    /// The largest answer read (a page of instances is well under this).
    static let bodyLimit = 8 << 20

    struct Response: Sendable {
        let status: Int
        let body: Data
    }

    func send(
        _ method: HTTPMethod,
        _ url: String,
        headers: [(String, String)],
        body: Data? = nil,
        logger: Logger
    ) async throws(ComputeEngineError) -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "content-length", value: "\(body.count)")
            request.body = .bytes(ByteBuffer(data: body))
        } else if method == .POST {
            request.headers.add(name: "content-length", value: "0")
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: .now() + .init(timeout), logger: logger)
        } catch {
            throw ComputeEngineError(.unreachable, "\(method.rawValue) \(url): no answer (\(error))")
        }
        do {
            let bytes = try await response.body.collect(upTo: Self.bodyLimit)
            return Response(status: Int(response.status.code), body: Data(buffer: bytes))
        } catch is NIOTooManyBytesError {
            throw ComputeEngineError(
                .malformedResponse,
                "\(method.rawValue) \(url): expected an answer of at most \(Self.bodyLimit) bytes, found more"
            )
        } catch {
            throw ComputeEngineError(.unreachable, "\(method.rawValue) \(url): the answer broke off (\(error))")
        }
    }
}
