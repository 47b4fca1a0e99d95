public import Hummingbird
import NIOCore
public import PlaneProtocol

/// A JSON answer of the plane's routes: PlaneProtocol's ordered JSON, the same text as the node's command output.
public typealias ResponseJSON = OrderedJSON

extension OrderedJSON {
    /// `value` as an application/json response.
    public static func response(_ value: ResponseJSON, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: value.rendered() + "\n"))
        )
    }

    /// The error envelope {"error": {"code", "message"}} with `status`.
    public static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        response(
            .object([("error", .object([("code", .string(code)), ("message", .string(message))]))]),
            status: status
        )
    }
}
