import NIOHTTP1
import PlaneProtocol
import Testing

/// Plane URLs: https anywhere, http only where nothing between two processes can read it.
struct PlaneURLTests {
    @Test func parsesSchemeHostPortAndPrefix() throws {
        let url = try PlaneURL("https://plane.example:8443/delong/")
        #expect(url.isTLS && url.host == "plane.example" && url.port == 8443 && url.prefix == "/delong")
        #expect(try PlaneURL("https://plane.example").port == 443)
        let v6 = try PlaneURL("http://[::1]:8547")
        #expect(v6.host == "::1" && v6.isLoopback && v6.description == "http://[::1]:8547")
    }

    @Test func onlyLoopbackHostsAreLoopback() throws {
        for host in ["127.0.0.1", "127.255.0.9", "localhost", "[::1]"] {
            #expect(try PlaneURL("http://\(host):1").isLoopback, "\(host)")
        }
        for host in ["10.0.0.1", "128.0.0.1", "127.0.0.1.example", "localhost.example", "0.0.0.0", "[::]", "127.1"] {
            #expect(try !PlaneURL("http://\(host):1").isLoopback, "\(host)")
        }
    }

    @Test func refusesWhatIsNotAPlaneURL() {
        for text in [
            "ftp://x:1", "https://", "plane.example:8443", "https://u:p@x:1", "https://x:1/?q=1", "https://x:1/#f", "",
        ] {
            #expect(throws: PlaneProtocolError(.malformed, "")) { try PlaneURL(text) }
        }
    }

    /// Plain HTTP to an address that is not loopback is refused before any connection is made (the address
    /// is TEST-NET-1, which nothing here routes to).
    @Test func plainHTTPIsRefusedOffLoopbackAndTLSIsNeverDowngraded() async throws {
        await #expect(throws: PlaneProtocolError(.insecureTransport, "")) {
            _ = try await PlaneHTTPS.send(
                .GET,
                "/v1/nonce",
                to: try PlaneURL("http://192.0.2.1:80"),
                trust: .plainLoopback
            )
        }
        await #expect(throws: PlaneProtocolError(.insecureTransport, "")) {
            _ = try await PlaneHTTPS.send(
                .GET,
                "/v1/nonce",
                to: try PlaneURL("http://127.0.0.1:9"),
                trust: .publicKey(sha256: [UInt8](repeating: 0, count: 32))
            )
        }
        await #expect(throws: PlaneProtocolError(.insecureTransport, "")) {
            _ = try await PlaneHTTPS.send(.GET, "/", to: try PlaneURL("https://127.0.0.1:9"), trust: .plainLoopback)
        }
    }
}
