public import Foundation

/// A test AMD-like PKI in a temporary directory, made with the openssl command line: a test ARK and ASK (RSA-4096,
/// RSASSA-PSS SHA-384), P-384 leaves carrying AMD's extensions for the chip `chipID` and the Milan TCB bl 3 tee 0
/// snp 8 ucode 115, and CRLs by the ARK (`crl(revoking:)`). Callers pin the ARK through `trustedARKs`.
public struct SNPTestPKI: Sendable {
    public let dir: URL
    static let pss = ["-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48"]

    public init(chipID: [UInt8]) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("delong-snp-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        func openssl(_ arguments: [String]) throws { _ = try Self.openssl(arguments, in: dir) }
        func write(_ text: String, _ name: String) throws { try Self.write(text, name, in: dir) }
        func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        let pss = Self.pss
        for (key, bits) in [("ark", 4096), ("ask", 4096), ("ask2048", 2048)] {
            try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(bits)", "-out", "\(key).key"])
        }
        try openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "vcek.key"])
        try openssl(
            [
                "req", "-new", "-x509", "-key", "ark.key", "-subj", "/CN=DeLong Test ARK", "-days", "3650",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-out", "ark.pem",
            ] + pss
        )
        try write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n", "ca.ext")
        func spl(_ component: Int, _ value: Int) -> String {
            "1.3.6.1.4.1.3704.1.3.\(component)=DER:0201\(hex([UInt8(value)]))\n"
        }
        let hwID = "1.3.6.1.4.1.3704.1.4=DER:\(hex(chipID))\n"
        // The Milan report's REPORTED_TCB: bl 3, tee 0, snp 8, ucode 115.
        let milan = spl(1, 3) + spl(2, 0) + spl(3, 8) + spl(8, 115)
        try write(milan + hwID, "vcek.ext")
        try write(milan, "vlek.ext")
        let turinHwID = "1.3.6.1.4.1.3704.1.4=DER:" + hex(chipID.prefix(8)) + "\n"
        try write(spl(9, 1) + spl(1, 2) + spl(2, 3) + spl(3, 4) + spl(8, 5) + turinHwID, "turin.ext")
        try write(spl(1, 2) + spl(2, 3) + spl(3, 4) + spl(8, 5) + turinHwID, "turinNoFMC.ext")
        func issue(
            _ name: String,
            key: String,
            subject: String,
            by issuer: String,
            ext: String,
            _ sig: [String]
        )
            throws
        {
            try openssl(["req", "-new", "-key", "\(key).key", "-subj", subject, "-out", "\(name).csr"])
            try openssl(
                [
                    "x509", "-req", "-in", "\(name).csr", "-CA", "\(issuer).pem", "-CAkey", "\(issuer).key",
                    "-CAcreateserial", "-days", "3650", "-extfile", ext, "-out", "\(name).pem",
                ] + sig
            )
        }
        try issue("ask", key: "ask", subject: "/CN=DeLong Test ASK", by: "ark", ext: "ca.ext", pss)
        try issue("ask2048", key: "ask2048", subject: "/CN=DeLong Test ASK 2048", by: "ark", ext: "ca.ext", pss)
        try issue("vcek", key: "vcek", subject: "/CN=DeLong Test VCEK", by: "ask", ext: "vcek.ext", pss)
        try issue("vlek", key: "vcek", subject: "/CN=DeLong Test VLEK", by: "ask", ext: "vlek.ext", pss)
        try issue("turin", key: "vcek", subject: "/CN=DeLong Test Turin VCEK", by: "ask", ext: "turin.ext", pss)
        try issue(
            "turinNoFMC",
            key: "vcek",
            subject: "/CN=DeLong Test Turin VCEK",
            by: "ask",
            ext: "turinNoFMC.ext",
            pss
        )
        try issue("vcekPKCS1", key: "vcek", subject: "/CN=DeLong Test VCEK", by: "ask", ext: "vcek.ext", ["-sha384"])
        try issue("vcek2048", key: "vcek", subject: "/CN=DeLong Test VCEK", by: "ask2048", ext: "vcek.ext", pss)
        self.dir = dir
    }

    /// The PEM bytes of certificate `name` (ark, ask, vcek, vlek, turin, …).
    public func pem(_ name: String) throws -> [UInt8] { try Self.read("\(name).pem", in: dir) }

    /// A CRL (DER) signed by `issuer` (ark or ask) listing the certificates named in `revoking`, valid from now for
    /// `days` days (negative: already past its nextUpdate).
    public func crl(by issuer: String = "ark", revoking: [String], days: Int = 30) throws -> [UInt8] {
        let name = "crl-\(UUID().uuidString)"
        var index = ""
        for certificate in revoking {
            let serial = try Self.openssl(["x509", "-in", "\(certificate).pem", "-noout", "-serial"], in: dir)
            let hex = serial.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            let subject = try Self.openssl(
                ["x509", "-in", "\(certificate).pem", "-noout", "-subject", "-nameopt", "compat"],
                in: dir
            )
            let dn = subject.dropFirst("subject=".count).trimmingCharacters(in: .whitespacesAndNewlines)
            index += "R\t351231235959Z\t240101000000Z\t\(hex ?? "")\tunknown\t\(dn)\n"
        }
        try Self.write(index, "\(name).index", in: dir)
        try Self.write("01\n", "\(name).number", in: dir)
        let hours = days * 24
        try Self.write(
            "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndatabase = \(name).index\ncrlnumber = \(name).number\n"
                + "default_md = sha384\ndefault_crl_hours = \(max(hours, 1))\n",
            "\(name).cnf",
            in: dir
        )
        _ = try Self.openssl(
            [
                "ca", "-gencrl", "-config", "\(name).cnf", "-keyfile", "\(issuer).key", "-cert", "\(issuer).pem",
                "-out", "\(name).pem", "-crlhours", "\(max(hours, 1))",
            ] + Array(Self.pss.dropFirst()),
            in: dir
        )
        _ = try Self.openssl(["crl", "-in", "\(name).pem", "-outform", "DER", "-out", "\(name).der"], in: dir)
        return try Self.read("\(name).der", in: dir)
    }

    /// `report` with bytes 0..<0x2A0 signed (ECDSA P-384, SHA-384) by the test leaf key, R and S stored as
    /// 72-byte little-endian fields at 0x2A0.
    public func sign(_ report: [UInt8]) throws -> [UInt8] {
        let name = "tbs-\(UUID().uuidString)"
        try Data(report[0..<0x2A0]).write(to: dir.appendingPathComponent(name))
        _ = try Self.openssl(["dgst", "-sha384", "-sign", "vcek.key", "-out", "\(name).sig", name], in: dir)
        let der = try Self.read("\(name).sig", in: dir)
        var signed = report
        var i = 2
        for field in 0..<2 {
            let length = Int(der[i + 1])
            var value = Array(der[(i + 2)..<(i + 2 + length)])
            while value.count > 48 { value.removeFirst() }
            let littleEndian = Array(value.reversed()) + [UInt8](repeating: 0, count: 72 - value.count)
            signed.replaceSubrange((0x2A0 + 72 * field)..<(0x2A0 + 72 * (field + 1)), with: littleEndian)
            i += 2 + length
        }
        return signed
    }

    private static func write(_ text: String, _ name: String, in dir: URL) throws {
        try Data(text.utf8).write(to: dir.appendingPathComponent(name))
    }

    private static func read(_ name: String, in dir: URL) throws -> [UInt8] {
        Array(try Data(contentsOf: dir.appendingPathComponent(name)))
    }

    /// Runs openssl in `dir`; returns its standard output.
    private static func openssl(_ arguments: [String], in dir: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = dir
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SNPTestPKIError(
                description: "openssl \(arguments.joined(separator: " ")) failed: "
                    + String(decoding: errors, as: UTF8.self)
            )
        }
        return String(decoding: output, as: UTF8.self)
    }
}

public struct SNPTestPKIError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}
