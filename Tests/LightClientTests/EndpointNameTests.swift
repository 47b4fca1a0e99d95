import LightClient
import Testing

/// Endpoint URLs often carry API keys (Infura, Alchemy): errors that can leave the process name only
/// scheme://host[:port].
@Suite struct EndpointNameTests {
    @Test(arguments: [
        ("https://mainnet.infura.io/v3/0123456789abcdef", "https://mainnet.infura.io"),
        ("https://user:secret@rpc.example.org:8443/path?key=abc#frag", "https://rpc.example.org:8443"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://127.0.0.1:8545?apikey=SECRET", "http://127.0.0.1:8545"),
        ("not a url with SECRET", "endpoint"),
    ])
    func urlsAreRedactedToSchemeHostAndPort(url: String, expected: String) {
        #expect(EndpointName.redacted(url) == expected)
    }

    @Test func syncFailuresNeverCarryThePathOrQuery() {
        let failure = SyncFailure(
            blockNumber: 7,
            field: "receiptsRoot",
            expected: "a",
            found: "b",
            endpoint: "https://eth.example/v2/SECRET?token=SECRET"
        )
        #expect(failure.description == "block 7 from https://eth.example: receiptsRoot: expected a, found b")
        #expect(failure.kind == .unverified)
    }

    /// A JSON-RPC error message is the endpoint's own text: it is cut to 200 characters and stripped of control
    /// characters before it can reach a status page or a terminal.
    @Test func serverMessagesAreBoundedAndPrintable() {
        #expect(JSONRPCClient.printable("bad\u{1B}[31mred\nline") == "bad?[31mred?line")
        let long = JSONRPCClient.printable(String(repeating: "x", count: 5000))
        #expect(long.count == 201 && long.hasSuffix("…"))
    }
}
