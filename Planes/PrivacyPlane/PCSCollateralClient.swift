public import AsyncHTTPClient
public import Attestation
import ChainCore
import Foundation
import NIOCore
import NIOHTTP1

/// Fetches DCAP collateral for one FMSPC from an Intel PCS or a PCCS, v4 API:
///
///     GET {base}/sgx/certification/v4/pckcrl?ca=processor|platform&encoding=der   header SGX-PCK-CRL-Issuer-Chain
///     GET {base}/tdx/certification/v4/tcb?fmspc=HEX                              header TCB-Info-Issuer-Chain
///     GET {base}/tdx/certification/v4/qe/identity                                header SGX-Enclave-Identity-Issuer-Chain
///     GET {base}/sgx/certification/v4/rootcacrl                                  (a PCCS; hex or DER)
///
/// Issuer chains are URL-encoded PEM. The TCB Info and QE Identity are kept as the exact bytes of the
/// `tcbInfo` / `enclaveIdentity` members (what Intel signed). Intel's PCS has no `rootcacrl`: when it
/// answers anything but 200, the root CA CRL comes from the Intel SGX Root CA's CRL distribution point.
/// The result is dcap-qvl's collateral layout, parsed by ``QuoteCollateral/init(json:)`` exactly as a file.
public struct PCSCollateralClient: Sendable {
    /// The service root, without `/sgx|tdx/certification/v4`.
    public let baseURL: String
    let http: HTTPClient
    let timeout: TimeAmount

    /// The Intel SGX Root CA's CRL distribution point (what the Intel PCS offers instead of `rootcacrl`).
    public static let intelRootCACRL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
    /// The largest answer accepted (a PCK CRL of a busy CA is tens of kilobytes).
    static let maxBody = 4 << 20

    /// `url` is the PCS or PCCS root (`https://api.trustedservices.intel.com`, `https://pccs.example:8081`),
    /// optionally ending in `/sgx/certification/v4` or `/tdx/certification/v4`. Plain http only on loopback:
    /// the collateral is signed, but a network attacker could still withhold it or replay an older issue.
    public init(url: String, http: HTTPClient = .shared, timeoutSeconds: Int64 = 30) throws(PrivacyPlaneError) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        for suffix in ["/sgx/certification/v4", "/tdx/certification/v4"] where base.hasSuffix(suffix) {
            base.removeLast(suffix.count)
        }
        guard let parsed = URL(string: base), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil
        else {
            throw PrivacyPlaneError(
                .invalidConfiguration,
                "--collateral-url: expected an http(s) URL of a PCS or PCCS, found \"\(url)\""
            )
        }
        let loopback = ["127.0.0.1", "::1", "[::1]", "localhost"].contains(parsed.host ?? "")
        guard parsed.scheme == "https" || loopback else {
            throw PrivacyPlaneError(
                .invalidConfiguration,
                "--collateral-url: expected https (plain http only on loopback), found \"\(url)\""
            )
        }
        self.baseURL = base
        self.http = http
        self.timeout = .seconds(timeoutSeconds)
    }

    /// The URL for messages and logs: scheme, host, port and path, never user information.
    public var displayURL: String {
        guard var components = URLComponents(string: baseURL) else { return "the collateral service" }
        components.user = nil
        components.password = nil
        components.query = nil
        return components.string ?? "the collateral service"
    }

    /// The collateral for `key`, fetched now. Fails with `collateralUnavailable` naming the request.
    public func fetch(_ key: PCKCollateralKey) async throws(PrivacyPlaneError) -> QuoteCollateral {
        let pck = try await get("/sgx/certification/v4/pckcrl?ca=\(key.ca)&encoding=der")
        let tcb = try await get("/tdx/certification/v4/tcb?fmspc=\(key.fmspcHex)")
        let qe = try await get("/tdx/certification/v4/qe/identity")
        let rootCRL: [UInt8]
        if let fromService = try? await get("/sgx/certification/v4/rootcacrl") {
            rootCRL = try Self.crl(fromService.body, "rootcacrl")
        } else {
            rootCRL = try Self.crl(try await get(absolute: Self.intelRootCACRL).body, "Intel SGX Root CA CRL")
        }
        let (tcbInfo, tcbSignature) = try Self.signed(tcb.body, member: "tcbInfo", "tcb")
        let (qeIdentity, qeSignature) = try Self.signed(qe.body, member: "enclaveIdentity", "qe/identity")
        let document: [String: String] = [
            "pck_crl_issuer_chain": try pck.chain("SGX-PCK-CRL-Issuer-Chain"),
            "root_ca_crl": Hex.encode(rootCRL, prefix: false),
            "pck_crl": Hex.encode(try Self.crl(pck.body, "pckcrl"), prefix: false),
            "tcb_info_issuer_chain": try tcb.chain("TCB-Info-Issuer-Chain", or: "SGX-TCB-Info-Issuer-Chain"),
            "tcb_info": String(decoding: tcbInfo, as: UTF8.self),
            "tcb_info_signature": tcbSignature,
            "qe_identity_issuer_chain": try qe.chain("SGX-Enclave-Identity-Issuer-Chain"),
            "qe_identity": String(decoding: qeIdentity, as: UTF8.self),
            "qe_identity_signature": qeSignature,
        ]
        do {
            let json = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
            return try QuoteCollateral(json: [UInt8](json))
        } catch let error as AttestationError {
            throw PrivacyPlaneError(.collateralUnavailable, "collateral from \(displayURL): \(error)")
        } catch {
            throw PrivacyPlaneError(.collateralUnavailable, "collateral from \(displayURL): \(error)")
        }
    }

    struct Answer {
        let what: String
        let headers: HTTPHeaders
        let body: [UInt8]

        /// A URL-encoded PEM issuer chain header.
        func chain(_ name: String, or alternative: String? = nil) throws(PrivacyPlaneError) -> String {
            let raw = headers.first(name: name) ?? alternative.flatMap { headers.first(name: $0) }
            guard let raw, let pem = raw.removingPercentEncoding, pem.contains("-----BEGIN CERTIFICATE-----") else {
                throw PrivacyPlaneError(
                    .collateralUnavailable,
                    "\(what): expected a URL-encoded PEM certificate chain in the \(name) header, found "
                        + (raw == nil ? "none" : "other text")
                )
            }
            return pem
        }
    }

    func get(_ path: String) async throws(PrivacyPlaneError) -> Answer {
        try await get(absolute: baseURL + path, what: displayURL + path)
    }

    func get(absolute url: String, what: String? = nil) async throws(PrivacyPlaneError) -> Answer {
        let what = what ?? url
        do {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: timeout)
            let body = try await response.body.collect(upTo: Self.maxBody)
            guard response.status == .ok else {
                throw PrivacyPlaneError(
                    .collateralUnavailable,
                    "GET \(what): expected 200, found \(response.status.code) \(response.status.reasonPhrase)"
                )
            }
            return Answer(what: "GET \(what)", headers: response.headers, body: Array(body.readableBytesView))
        } catch let error as PrivacyPlaneError {
            throw error
        } catch {
            throw PrivacyPlaneError(.collateralUnavailable, "GET \(what): \(error)")
        }
    }

    /// A CRL as DER from a DER, PEM or hex (PCCS `rootcacrl`) answer.
    static func crl(_ body: [UInt8], _ what: String) throws(PrivacyPlaneError) -> [UInt8] {
        if body.first == 0x30 { return body }
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("-----BEGIN X509 CRL-----") {
            let base64 = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            if let der = Data(base64Encoded: base64) { return [UInt8](der) }
        } else if let der = Hex.decode(lenient: text), der.first == 0x30 {
            return der
        }
        throw PrivacyPlaneError(
            .collateralUnavailable,
            "\(what): expected a CRL (DER, PEM or hex DER), found \(body.count) bytes of something else"
        )
    }

    /// The exact bytes of `member` (what Intel signed) and the hex `signature` of a PCS JSON answer.
    static func signed(
        _ body: [UInt8],
        member: String,
        _ what: String
    ) throws(PrivacyPlaneError) -> (
        [UInt8], String
    ) {
        guard let raw = RawJSONMember.find(member, in: body),
            let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let signature = object["signature"] as? String
        else {
            throw PrivacyPlaneError(
                .collateralUnavailable,
                "\(what): expected a JSON object with \"\(member)\" and \"signature\", found other text"
            )
        }
        return (raw, signature)
    }
}

/// The raw bytes of a top-level member's value in a JSON object, without re-encoding it.
enum RawJSONMember {
    static func find(_ key: String, in bytes: [UInt8]) -> [UInt8]? {
        var i = 0
        func skipSpace() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }
        /// Index just past the string starting at `i` (a quote).
        func endOfString(_ start: Int) -> Int? {
            var j = start + 1
            while j < bytes.count {
                if bytes[j] == UInt8(ascii: "\\") {
                    j += 2
                } else if bytes[j] == UInt8(ascii: "\"") {
                    return j + 1
                } else {
                    j += 1
                }
            }
            return nil
        }
        /// Index just past the value starting at `i`.
        func endOfValue(_ start: Int) -> Int? {
            var j = start
            var depth = 0
            while j < bytes.count {
                switch bytes[j] {
                case UInt8(ascii: "\""):
                    guard let end = endOfString(j) else { return nil }
                    j = end
                    if depth == 0 { return j }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if depth == 0 { return j }
                    depth -= 1
                    if depth == 0 { return j + 1 }
                case UInt8(ascii: ","):
                    if depth == 0 { return j }
                default: break
                }
                j += 1
            }
            return depth == 0 ? j : nil
        }
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\""), let keyEnd = endOfString(i) else { return nil }
            let name = String(decoding: bytes[(i + 1)..<(keyEnd - 1)], as: UTF8.self)
            i = keyEnd
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            skipSpace()
            guard let valueEnd = endOfValue(i) else { return nil }
            if name == key { return Array(bytes[i..<valueEnd]) }
            i = valueEnd
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ",") else { return nil }
            i += 1
        }
    }
}
