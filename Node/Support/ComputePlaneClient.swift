import ChainCore
import Foundation
import NIOCore
import NIOHTTP1
import PlaneProtocol

/// A client of a Computing Plane's HTTP API (docs/jobs.md) for the CLI: JSON calls and raw downloads over
/// TLS to a peer the trust accepts, refusals as `PlaneProtocolError.refused` with the plane's envelope.
struct ComputePlaneClient: Sendable {
    let url: PlaneURL
    let trust: PlaneTrust

    /// What the plane's /v1/attestation says besides the evidence the connection already checked.
    struct Identity {
        var operatorAddress: Address
        var chainID: UInt64
        var registry: Address
        var runtimeDigest: Hash32?
        var privacyPlane: String?
    }

    func identity() async throws -> Identity {
        let document = try await json("/v1/attestation")
        guard let signer = (document["signer"] as? String).flatMap({ try? Address(hex: $0) }),
            let domain = document["tokenDomain"] as? [String: Any], let chainID = domain["chainId"] as? Int,
            let registry = (domain["verifyingContract"] as? String).flatMap({ try? Address(hex: $0) })
        else { throw PlaneProtocolError(.malformed, "the plane's /v1/attestation is not a Computing Plane's") }
        return Identity(
            operatorAddress: signer,
            chainID: UInt64(chainID),
            registry: registry,
            runtimeDigest: (document["runtimeDigest"] as? String).flatMap { try? BundleDigest.parse($0) },
            privacyPlane: document["privacyPlane"] as? String
        )
    }

    func json(_ path: String, _ body: [String: Any]? = nil, bearer: String? = nil) async throws -> [String: Any] {
        let response = try await send(path, body, bearer: bearer)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(response))) as? [String: Any] else {
            throw PlaneProtocolError(.malformed, "the plane answered \(path) with something other than JSON")
        }
        return object
    }

    /// The raw answer to `path` (GET without a body, POST with one); non-2xx is a refusal. `bearer` is sent as
    /// `Authorization: Bearer …` (an Explore session's control secret).
    func send(
        _ path: String,
        _ body: [String: Any]? = nil,
        bearer: String? = nil,
        maxBody: Int = 64 << 20
    ) async throws -> [UInt8] {
        let encoded = try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) }
        var headers = [("Content-Type", "application/json")]
        if let bearer { headers.append(("Authorization", "Bearer " + bearer)) }
        let response = try await PlaneHTTPS.send(
            body == nil ? .GET : .POST,
            path,
            to: url,
            trust: trust,
            headers: headers,
            body: encoded,
            timeout: .seconds(60),
            maxBody: maxBody
        )
        return try Self.accepted(response)
    }

    /// The body of a 2xx answer; anything else is a refusal with the plane's error envelope.
    static func accepted(_ response: PlaneHTTPS.Response) throws -> [UInt8] {
        guard (200..<300).contains(response.status) else {
            let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
            throw PlaneProtocolError(
                refusedWith: response.status,
                ErrorEnvelope(json: object) ?? ErrorEnvelope(code: "http_\(response.status)", message: "no message")
            )
        }
        return response.body
    }

    /// Sends raw bytes (`application/octet-stream`) with `method`; non-2xx is a refusal.
    func send(_ path: String, raw: [UInt8], method: HTTPMethod, bearer: String) async throws -> [UInt8] {
        let response = try await PlaneHTTPS.send(
            method,
            path,
            to: url,
            trust: trust,
            headers: [("Content-Type", "application/octet-stream"), ("Authorization", "Bearer " + bearer)],
            body: raw,
            timeout: .seconds(300),
            maxBody: 1 << 20
        )
        return try Self.accepted(response)
    }
}

extension ComputePlaneClient {
    /// A client of the plane at `url`, pinned to the TLS key (hex sha256) it presented when the job or session
    /// was started; a plane reached over plain HTTP on loopback has none.
    init(url: String, pinnedKey: String?) throws {
        let trust: PlaneTrust
        if let pinnedKey, let bytes = try? Hex.decode(pinnedKey) {
            trust = .publicKey(sha256: bytes)
        } else {
            trust = .plainLoopback
        }
        self.init(url: try PlaneURL(url), trust: trust)
    }

    /// The pin to keep for a connection made with `trust` (hex sha256 of the TLS key), if it has one.
    static func pin(of trust: PlaneTrust) -> String? {
        if case .publicKey(let key) = trust { return Hex.encode(key) }
        return nil
    }
}

/// What this machine started on planes, so later commands take only an id: `$DELONG_HOME/<kind>/<id>.json`
/// (default ~/.delong), one JSON file per job or session, written atomically with `mode`.
struct LocalRecords<Entry: Codable> {
    let directory: String
    let mode: UInt32
    let what: String

    init(_ kind: String, what: String, mode: UInt32 = 0o644) {
        let home =
            ProcessInfo.processInfo.environment["DELONG_HOME"]
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".delong")
        directory = (home as NSString).appendingPathComponent(kind)
        self.mode = mode
        self.what = what
    }

    func save(_ entry: Entry, id: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if mode & 0o077 == 0 { chmod(directory, 0o700) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try DAStore.writeAtomically([UInt8](try encoder.encode(entry)), to: path(id), mode: mode)
    }

    func entry(_ id: String) throws -> Entry {
        guard let data = FileManager.default.contents(atPath: path(id)) else {
            throw CLIFailure.malformed("\(what) \(id) was not started from here (\(directory))")
        }
        return try JSONDecoder().decode(Entry.self, from: data)
    }

    func all() -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.compactMap { name in
            FileManager.default.contents(atPath: directory + "/" + name).flatMap {
                try? JSONDecoder().decode(Entry.self, from: $0)
            }
        }
    }

    private func path(_ id: String) -> String { directory + "/" + id.lowercased() + ".json" }
}

/// A job submitted from here: its plane's URL and the TLS key it presented at submission (later calls pin it).
struct LocalJob: Codable {
    var job: String
    var plane: String
    var tlsKey: String?
    var dataset: String
    var imageDigest: String
    var recipient: String
    var submittedAt: Int64
    /// The wallet key file the request was signed with (its path, never the key): `job cancel` signs with it.
    var walletKey: String?

    static var records: LocalRecords<LocalJob> { LocalRecords("jobs", what: "job") }
}
