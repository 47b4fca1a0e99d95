import Foundation
import TestSupport
import Testing

/// TLS in front of the Privacy Plane, and the CLI clients' check of it: the attestation binds the TLS key, a
/// pinned certificate is the only other way in, plain HTTP only to loopback when asked, and a certificate
/// rotation (SIGHUP) brings evidence that binds the new key.
enum TLSFixtures {
    /// SHA-256 of a PEM certificate's SubjectPublicKeyInfo, by Python `cryptography` (independent of NIOSSL).
    static func spkiHash(_ certificate: String) throws -> String {
        try ContribTool.systemPython(
            """
            import hashlib, sys
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization
            c = x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read())
            spki = c.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            print('sha256:' + hashlib.sha256(spki).hexdigest())
            """,
            [certificate]
        ).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A fresh self-signed P-256 pair for 127.0.0.1 and localhost by Debian's `openssl` (0600 key).
    static func opensslPair(in dir: URL, _ name: String) throws -> (cert: String, key: String) {
        let cert = dir.appendingPathComponent("\(name).crt").path
        let key = dir.appendingPathComponent("\(name).key").path
        let made = try DelongProcess.run(
            executable: "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                "-out", cert, "-days", "30", "-subj", "/CN=\(name)", "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ]
        )
        #expect(made.status == 0, "\(made.stderr)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        return (cert, key)
    }

    /// Python's ssl (OpenSSL) GETs `url` trusting only `certificate` as its root: the HTTP status.
    static func independentGet(_ url: String, trusting certificate: String) throws -> String {
        try ContribTool.systemPython(
            """
            import ssl, sys, urllib.request
            context = ssl.create_default_context(cafile=sys.argv[2])
            print(urllib.request.urlopen(sys.argv[1], context=context, timeout=10).status)
            """,
            [url, certificate]
        ).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension PrivacyServeTests {
    func opensslPair(_ name: String) throws -> (cert: String, key: String) {
        try TLSFixtures.opensslPair(in: dir, name)
    }

    func login(_ extra: [String], plane url: String? = nil) throws -> DelongProcess.Result {
        let key = dir.appendingPathComponent("tls-consumer.key").path
        if !FileManager.default.fileExists(atPath: key) {
            _ = FileManager.default.createFile(
                atPath: key,
                contents: Data(PlaneWorld.consumerKey.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        }
        return try DelongProcess.run(
            [
                "privacy", "login", "--plane", url ?? plane.url, "--wallet-key", key, "--domain", PlaneWorld.domain,
                "--chain-id", "\(chainID)", "--out", dir.appendingPathComponent("tls.session").path,
            ] + extra
        )
    }

    @Test func theClientsTrustOnlyAnAttestedOrPinnedTLSKey() async throws {
        // The served key is the generated certificate's, as an independent parser computes it, and the
        // plane's evidence names it.
        #expect(plane.url.hasPrefix("https://127.0.0.1:"))
        #expect(plane.tlsKey == (try TLSFixtures.spkiHash(planeCertificate)))
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(try await httpGet(plane.url + "/v1/attestation").body.utf8))
                as? [String: Any]
        )
        let evidence = try #require(document["evidence"] as? [String: Any])
        #expect(evidence["tlsKey"] as? String == plane.tlsKey)
        #expect(evidence["type"] as? String == "delong-dev-insecure-v1")

        // Development evidence is refused unless the client accepts it; then the binding is checked.
        let strict = try login([])
        #expect(strict.status == 1, "\(strict.stderr)")
        #expect(strict.stderr.contains("INSECURE development evidence"), "\(strict.stderr)")
        let attested = try login(["--allow-insecure-plane-evidence"])
        #expect(attested.status == 0, "\(attested.stderr)")

        // Pinning: the plane's own certificate works; any other is refused before anything is sent.
        #expect(try login(["--plane-cert", planeCertificate]).status == 0)
        let other = try opensslPair("other")
        let pinnedOther = try login(["--plane-cert", other.cert])
        #expect(pinnedOther.status == 1, "\(pinnedOther.stderr)")
        #expect(pinnedOther.stderr.contains("is not the one expected"), "\(pinnedOther.stderr)")

        // Plain HTTP: refused to the plane's https port unless asked; to a non-loopback address always
        // (refused before any connection is made).
        let downgraded = try login(
            ["--allow-insecure-plane-evidence"],
            plane: plane.url.replacingOccurrences(of: "https://", with: "http://")
        )
        #expect(downgraded.status == 2 && downgraded.stderr.contains("refusing plain HTTP"), "\(downgraded.stderr)")
        let remote = try login(["--plain-http"], plane: "http://192.0.2.1:8547")
        #expect(remote.status == 2, "\(remote.stderr)")
        #expect(remote.stderr.contains("plain HTTP is allowed only to a loopback address"), "\(remote.stderr)")
        let mixed = try login(["--plain-http"])
        #expect(mixed.status == 2 && mixed.stderr.contains("is https"), "\(mixed.stderr)")
    }

    /// A relay in the middle with its own certificate that forwards every byte to the real plane (so it
    /// serves the plane's genuine attestation document): the evidence binds the plane's key, not the relay's.
    @Test func aRelayWithItsOwnCertificateIsRefusedEvenWithThePlanesGenuineEvidence() async throws {
        let relayPair = try opensslPair("relay")
        let upstream = try #require(URL(string: plane.url))
        let relay = try ReadyService(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import socket, ssl, sys, threading
                cert, key, host, port, ca = sys.argv[1:6]
                server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); server.load_cert_chain(cert, key)
                client = ssl.create_default_context(cafile=ca)
                listener = socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen(16)
                print(f"READY https://127.0.0.1:{listener.getsockname()[1]}", flush=True)
                def pump(a, b):
                    try:
                        while (data := a.recv(65536)):
                            b.sendall(data)
                    except OSError:
                        pass
                    finally:
                        for s in (a, b):
                            try: s.close()
                            except OSError: pass
                def serve(raw):
                    try:
                        down = server.wrap_socket(raw, server_side=True)
                        up = client.wrap_socket(socket.create_connection((host, int(port))), server_hostname='localhost')
                    except (OSError, ssl.SSLError):
                        raw.close(); return
                    threading.Thread(target=pump, args=(down, up), daemon=True).start()
                    pump(up, down)
                while True:
                    conn, _ = listener.accept()
                    threading.Thread(target=serve, args=(conn,), daemon=True).start()
                """,
                relayPair.cert, relayPair.key, "127.0.0.1", "\(upstream.port ?? 0)", planeCertificate,
            ]
        )
        // The relay really relays: pinned to its certificate, the client signs in through it.
        #expect(try login(["--plane-cert", relayPair.cert], plane: relay.url).status == 0)
        let refused = try login(["--allow-insecure-plane-evidence"], plane: relay.url)
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("does not bind the TLS key it presented"), "\(refused.stderr)")
    }

    @Test func aCertificateRotationOnSIGHUPBringsEvidenceThatBindsTheNewKey() async throws {
        let oldCertificate = dir.appendingPathComponent("old.crt").path
        try FileManager.default.copyItem(atPath: planeCertificate, toPath: oldCertificate)
        let fresh = try opensslPair("rotated")
        let tlsDir = dir.appendingPathComponent("data/privacy/tls")
        // Replaced the way an operator's tooling does: new files renamed over the old ones.
        for (from, to) in [(fresh.key, "key.pem"), (fresh.cert, "cert.pem")] {
            #expect(rename(from, tlsDir.appendingPathComponent(to).path) == 0)
        }
        plane.signal(SIGHUP)
        let newKey = try TLSFixtures.spkiHash(planeCertificate)
        #expect(newKey != plane.tlsKey)
        var served: String? = nil
        for _ in 0..<100 where served != newKey {
            try await Task.sleep(for: .milliseconds(50))
            let answer = try? await httpGet(plane.url + "/v1/attestation", trusting: planeCertificate)
            let document = answer.flatMap {
                try? JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: Any]
            }
            served = (document?["evidence"] as? [String: Any])?["tlsKey"] as? String
        }
        #expect(served == newKey, "the evidence names the rotated key")
        // The attested client follows the rotation; a pin of the old certificate does not.
        let attested = try login(["--allow-insecure-plane-evidence"])
        #expect(attested.status == 0, "\(attested.stderr)")
        let stale = try login(["--plane-cert", oldCertificate])
        #expect(stale.status == 1 && stale.stderr.contains("is not the one expected"), "\(stale.stderr)")
        // An independent TLS client (Python's ssl, OpenSSL) verifies the new certificate for the host name.
        let status = try TLSFixtures.independentGet(
            plane.url.replacingOccurrences(of: "127.0.0.1", with: "localhost") + "/v1/nonce",
            trusting: planeCertificate
        )
        #expect(status == "200")

        // SIGTERM stops it cleanly and promptly (no background service keeps the process alive).
        #expect(plane.terminate(within: 10) == 0)
    }
}
