public import Foundation

/// contrib/dstack's FAKE dstack guest agent (the agent's published JSON API on a Unix socket, no TDX behind it),
/// and hostile stand-ins that answer every request with fixed bytes.
public enum FakeGuestAgent {
    /// dstack's recorded GetQuote answer (its verifier fixture), which the fake serves with REPORTDATA patched.
    public static let quoteFixture = "attestation/dstack/verifier_quote-report.json"

    /// The fake on `DIRECTORY/dstack.sock` (the service's `url` is the socket path): keys derived from `seed`,
    /// GetQuote from ``quoteFixture`` when `quotes` is set, every request appended to `log` when given.
    public static func start(
        in directory: URL,
        seed: String = String(repeating: "11", count: 32),
        quotes: Bool = true,
        log: URL? = nil
    ) throws -> ReadyService {
        var arguments = [
            "python3", "contrib/dstack/fake_guest_agent.py", directory.appendingPathComponent("dstack.sock").path,
            "--seed", seed,
        ]
        if quotes { arguments += ["--quote-fixture", try TestData.url(quoteFixture).path] }
        if let log { arguments += ["--log", log.path] }
        return try ReadyService("/usr/bin/env", arguments)
    }

    /// A Unix-socket server in `directory` that answers every connection with `answer`, byte for byte (read from
    /// a file, so answers larger than an argument may be).
    public static func answering(_ answer: [UInt8], in directory: URL) throws -> ReadyService {
        let name = "answer-\(UUID().uuidString.prefix(8))"
        let file = directory.appendingPathComponent(name + ".bin")
        try Data(answer).write(to: file)
        return try ReadyService(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import socket, sys, signal
                signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
                answer = open(sys.argv[2], "rb").read()
                s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
                print("READY " + sys.argv[1], flush=True)
                while True:
                    c, _ = s.accept(); c.recv(65536)
                    try: c.sendall(answer)
                    except OSError: pass
                    c.close()
                """,
                directory.appendingPathComponent(name + ".sock").path, file.path,
            ]
        )
    }

    /// The same for text.
    public static func answering(_ answer: String, in directory: URL) throws -> ReadyService {
        try answering(Array(answer.utf8), in: directory)
    }

    /// An HTTP/1.1 200 answer carrying `body` as JSON.
    public static func ok(_ body: String) -> String {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }
}
