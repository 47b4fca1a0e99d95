public import Foundation

/// A certificate authority made for one test with the openssl CLI, and a server certificate it issued for
/// 127.0.0.1 (an IP subjectAltName): what the browser tests trust instead of ignoring certificate errors.
public struct TestCA: Sendable {
    /// The CA's certificate (PEM): what clients and browsers trust.
    public let certificate: String
    /// The server's certificate (PEM, issued by the CA) and its private key (0600).
    public let leafCertificate: String
    public let leafKey: String

    public init(in directory: URL) throws {
        let dir = directory.appendingPathComponent("test-ca").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        certificate = dir + "/ca.pem"
        leafCertificate = dir + "/server.pem"
        leafKey = dir + "/server.key"
        let script = """
            set -e
            cd "$1"
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
              -subj "/CN=DeLong test CA" -addext "basicConstraints=critical,CA:TRUE" \
              -addext "keyUsage=critical,keyCertSign,cRLSign"
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
              -subj "/CN=127.0.0.1"
            printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\nkeyUsage=critical,digitalSignature\\n' > server.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
              -extfile server.ext
            chmod 600 ca.key server.key
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, "sh", dir]
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "openssl: \(stderr)"])
        }
    }
}
