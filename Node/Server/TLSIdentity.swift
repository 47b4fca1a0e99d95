import ArgumentParser
import Attestation
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import PlaneCrypto
import PlaneProtocol

/// The TLS options every serve command shares (`node run`, `privacy serve`, later the Computing Plane).
struct TLSOptions: ParsableArguments {
    @Option(help: "The listener's certificate chain (PEM, leaf first). With --tls-key; reloaded on SIGHUP.")
    var tlsCert: String?
    @Option(help: "The certificate's private key (PEM, mode 0600). With --tls-cert.") var tlsKey: String?
    @Flag(
        help:
            "Without --tls-cert: generate a self-signed pair (kept under the data directory) on a chain other than the devnet's; clients pin it or verify it through the plane's attestation."
    )
    var tlsSelfSigned = false
    @Option(help: "An extra host name or address the generated certificate names (repeatable).") var tlsHost: [String] =
        []
    @Flag(help: "Serve plain HTTP instead of TLS: only on a loopback address (127.0.0.0/8, ::1, localhost).")
    var plainHTTP = false

    func validate(listenHost: String) throws {
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key: expected both or neither")
        }
        if plainHTTP {
            guard tlsCert == nil, !tlsSelfSigned else {
                throw ValidationError("--plain-http: expected no --tls-cert, --tls-key or --tls-self-signed with it")
            }
            guard
                (try? PlaneURL("http://\(listenHost.contains(":") ? "[\(listenHost)]" : listenHost):1"))?.isLoopback
                    == true
            else {
                throw ValidationError(
                    "--plain-http: plain HTTP is served only on a loopback address; --listen names \(listenHost)"
                )
            }
        }
    }

    /// The listener's identity: nil for plain HTTP; the operator's pair; or a self-signed pair under `stateDir`
    /// (made when missing or when it does not name `listenHost`), generated without asking on the devnet only.
    func identity(stateDir: String, listenHost: String, chainID: UInt64, logger: Logger) throws -> TLSIdentity? {
        if plainHTTP { return nil }
        if let tlsCert, let tlsKey { return try TLSIdentity(certificate: tlsCert, key: tlsKey, logger: logger) }
        guard tlsSelfSigned || chainID == InsecureDevelopmentEvidence.devnetChainID else {
            throw CLIFailure.malformed(
                "TLS needs --tls-cert and --tls-key on chain id \(chainID) (or --tls-self-signed, whose clients pin the certificate or verify it through attestation)"
            )
        }
        let dir = (stateDir as NSString).appendingPathComponent("tls")
        let hosts = Self.hosts(listenHost: listenHost, extra: tlsHost)
        try TLSIdentity.ensureSelfSigned(in: dir, hosts: hosts, logger: logger)
        return try TLSIdentity(
            certificate: (dir as NSString).appendingPathComponent("cert.pem"),
            key: (dir as NSString).appendingPathComponent("key.pem"),
            logger: logger
        )
    }

    /// Loopback names, the listen host unless it is a wildcard, and the extras.
    static func hosts(listenHost: String, extra: [String]) -> [String] {
        var hosts = ["localhost", "127.0.0.1", "::1"]
        for host in [listenHost] + extra where !["0.0.0.0", "::", ""].contains(host) && !hosts.contains(host) {
            hosts.append(host)
        }
        return hosts
    }
}

/// A listener's certificate chain and key, swapped atomically on reload (SIGHUP): new connections get the new
/// pair through NIOSSL's per-handshake context callback; connections already open keep theirs.
final class TLSIdentity: Sendable {
    struct Pair: Sendable {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        /// SHA-256 of the leaf's SubjectPublicKeyInfo: what clients pin and attestation binds.
        let keyHash: [UInt8]
    }

    let certificatePath: String
    let keyPath: String
    private let current: NIOLockedValueBox<Pair>
    private let logger: Logger

    init(certificate: String, key: String, logger: Logger) throws {
        certificatePath = certificate
        keyPath = key
        self.logger = logger
        current = NIOLockedValueBox(try Self.load(certificate: certificate, key: key))
    }

    var pair: Pair { current.withLockedValue { $0 } }
    var keyHash: [UInt8] { pair.keyHash }

    /// Re-reads both files; on any failure the old pair stays and the reason is logged. Returns whether the
    /// key changed.
    @discardableResult
    func reload() -> Bool {
        do {
            let fresh = try Self.load(certificate: certificatePath, key: keyPath)
            let old = current.withLockedValue { old in
                defer { old = fresh }
                return old
            }
            let changed = old.keyHash != fresh.keyHash
            logger.info(
                "TLS certificate reloaded",
                metadata: ["tlsKey": "\(TLSKeyIdentity.text(fresh.keyHash))", "keyChanged": "\(changed)"]
            )
            return changed
        } catch {
            logger.error("TLS certificate reload failed; keeping the previous one", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// The server configuration: every handshake takes the current pair.
    func serverConfiguration() -> TLSConfiguration {
        let pair = self.pair
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) },
            privateKey: .privateKey(pair.key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { [current] _, promise in
            let pair = current.withLockedValue { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return configuration
    }

    static func load(certificate: String, key: String) throws -> Pair {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(try InputFile.read(certificate, what: "TLS certificate")))
        } catch let error as CLIFailure { throw error } catch {
            throw CLIFailure.malformed("TLS certificate \(certificate): expected PEM certificates: \(error)")
        }
        guard let leaf = chain.first else {
            throw CLIFailure.malformed("TLS certificate \(certificate): expected PEM certificates, found none")
        }
        let keyBytes: SecretBytes
        do { keyBytes = try SecretFile.read(key, maxBytes: 64 << 10) } catch {
            throw CLIFailure.malformed("TLS key \(key): \(error.reason)")
        }
        let privateKey: NIOSSLPrivateKey
        do { privateKey = try keyBytes.withUnsafeBytes { try NIOSSLPrivateKey(bytes: Array($0), format: .pem) } } catch
        {
            throw CLIFailure.malformed("TLS key \(key): expected a PEM private key: \(error)")
        }
        let keyHash = try TLSKeyIdentity.sha256(of: leaf)
        // The key must be the leaf's (BoringSSL checks when a context takes both): otherwise every handshake
        // would fail after start-up, or after a reload.
        do {
            _ = try NIOSSLContext(
                configuration: .makeServerConfiguration(
                    certificateChain: chain.map { .certificate($0) },
                    privateKey: .privateKey(privateKey)
                )
            )
        } catch {
            throw CLIFailure.malformed("TLS key \(key) does not belong to the certificate \(certificate): \(error)")
        }
        return Pair(chain: chain, key: privateKey, keyHash: keyHash)
    }

    /// Makes `dir/cert.pem` and `dir/key.pem` (0600) unless a pair there already names every host (so pins
    /// survive restarts). Written to temporary names and renamed: a crash leaves the old pair or none.
    static func ensureSelfSigned(in dir: String, hosts: [String], logger: Logger) throws {
        let certPath = (dir as NSString).appendingPathComponent("cert.pem")
        let keyPath = (dir as NSString).appendingPathComponent("key.pem")
        if let existing = try? Data(contentsOf: URL(fileURLWithPath: certPath)),
            let leaf = try? NIOSSLCertificate.fromPEMBytes(Array(existing)).first,
            FileManager.default.fileExists(atPath: keyPath),
            Self.names(of: leaf).isSuperset(of: hosts), Self.validForAWeek(leaf)
        {
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: dir,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            let generated = try SelfSignedCertificate(commonName: "delong", hosts: hosts)
            try SecretFile.write(generated.privateKeyPEM, to: keyPath + ".tmp")
            try Data(generated.certificatePEM).write(to: URL(fileURLWithPath: certPath + ".tmp"))
            guard rename(keyPath + ".tmp", keyPath) == 0, rename(certPath + ".tmp", certPath) == 0 else {
                throw CLIFailure.io("cannot rename the generated TLS pair into \(dir): errno \(errno)")
            }
        } catch let error as CLIFailure { throw error } catch {
            throw CLIFailure.io("cannot write a self-signed TLS pair into \(dir): \(error)")
        }
        logger.notice("generated a self-signed TLS certificate", metadata: ["dir": "\(dir)", "hosts": "\(hosts)"])
    }

    private static func names(of certificate: NIOSSLCertificate) -> Set<String> {
        var names = Set<String>()
        for name in certificate._subjectAlternativeNames() {
            switch name.nameType {
            case .dnsName: names.insert(String(decoding: name.contents, as: UTF8.self))
            case .ipAddress:
                let bytes = Array(name.contents)
                var text = [CChar](repeating: 0, count: 64)
                let family = bytes.count == 4 ? AF_INET : AF_INET6
                if inet_ntop(family, bytes, &text, 64) != nil {
                    names.insert(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                }
            default: continue
            }
        }
        return names
    }

    private static func validForAWeek(_ certificate: NIOSSLCertificate) -> Bool {
        certificate.notValidAfter > time(nil) + 7 * 86_400
    }
}
