import ArgumentParser
import ChainCore
import ComputingPlaneHTTP
import Foundation
import PlaneProtocol

/// `delong explore …`: a consumer's Explore sessions (JupyterLab on a dataset's desensitized sample).
struct ExploreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explore",
        abstract: "Open JupyterLab on a rented dataset's desensitized sample, list and stop sessions.",
        discussion: """
            Sessions started from here are remembered in $DELONG_HOME/explore (default ~/.delong/explore, 0600 \
            files) with their plane's URL, the TLS key it presented and the session's control secret, so the \
            other commands take only the session id. Exit codes: 0 done; 1 the session has ended; 2 malformed \
            input or an unknown session; 3 unreachable plane or I/O error; 4 refused (token, rental).
            """,
        subcommands: [
            ExploreStartCommand.self, ExploreListCommand.self, ExploreStopCommand.self, ExploreURLCommand.self,
            ExploreNotebookCommand.self,
        ]
    )
}

/// `delong explore start --plane URL --session FILE --dataset ID`.
struct ExploreStartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start an Explore session and print its one-time sign-in URL.",
        discussion: """
            Connects to the Computing Plane (--plane, its attestation verified unless pinned), gets an explore \
            token for the dataset and this plane from the Privacy Plane it names (or --privacy-plane) with the \
            SIWE session from `delong privacy login`, and redeems it. The plane checks the token and the rental, \
            verifies the sample the dataset publishes on chain, and starts JupyterLab on it in a network-less \
            sandbox. The URL signs one browser in, once, within 60 s (`delong explore url ID` makes another).
            """
    )

    @OptionGroup var options: PlaneOptions
    @Option(help: "Session file from `delong privacy login` (the Privacy Plane the token comes from).")
    var session: String
    @Option(help: "The Privacy Plane's URL (default: the one the Computing Plane names).") var privacyPlane: String?
    @Option(help: "Trust only the Privacy Plane whose certificate (PEM) has this file's key.")
    var privacyPlaneCert: String?
    @Option(help: "Dataset id (0x + 64 hex).") var dataset: String
    @Flag(help: "Print the plane's answer as JSON (without the control secret).") var json = false

    func validate() throws {
        guard (try? Hash32(hex: dataset)) != nil, dataset.hasPrefix("0x") else {
            throw ValidationError("--dataset: expected 0x + 64 hex digits, found \"\(dataset)\"")
        }
    }

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let (url, trust) = try await options.connection()
            let compute = ComputePlaneClient(url: url, trust: trust)
            let plane = try await compute.identity()
            guard let privacyText = privacyPlane ?? plane.privacyPlane else {
                throw CLIFailure.malformed("the plane names no Privacy Plane; give --privacy-plane")
            }
            var privacyTrust = options
            privacyTrust.planeCert = privacyPlaneCert
            privacyTrust.planeCa = nil
            let (privacyURL, trustOfPrivacy) = try await PlaneOptions.connection(
                to: try PlaneURL(privacyText),
                options: privacyTrust
            )
            let token = try await PrivacyPlaneClient(url: privacyURL, trust: trustOfPrivacy).token(
                TokenRequest(dataset: try Hash32(hex: dataset), mode: .explore, audience: plane.operatorAddress),
                session: try readSession(session)
            )
            var answer = try await compute.json("/v1/explore", ["token": token.json])
            guard let id = answer["session"] as? String, let control = answer.removeValue(forKey: "control") as? String,
                let signIn = answer["url"] as? String
            else { throw PlaneProtocolError(.malformed, "the plane's answer to /v1/explore names no session") }
            try LocalSession.records.save(
                LocalSession(
                    session: id,
                    plane: url.description,
                    tlsKey: ComputePlaneClient.pin(of: trust),
                    dataset: try Hash32(hex: dataset).hex,
                    control: control,
                    startedAt: Int64(Date().timeIntervalSince1970),
                    expiresAt: (answer["expiresAt"] as? Int).map(Int64.init)
                ),
                id: id
            )
            if json {
                print(renderJSON(answer))
            } else {
                print(signIn)
                let ends = (answer["expiresAt"] as? Int).map {
                    JobWatch.time.string(from: Date(timeIntervalSince1970: Double($0)))
                }
                FileHandle.standardError.write(
                    Data(
                        "session \(id) on \(url) (operator \(plane.operatorAddress.checksummed)); open the URL within 60 s; ends at \(ends ?? "?")\n"
                            .utf8
                    )
                )
            }
        }
    }
}

/// A session started from here, with a client pinned to the TLS key its plane presented at the start.
struct KnownExplore {
    let entry: LocalSession
    let client: ComputePlaneClient

    init(_ id: String) throws {
        guard ExploreTarget.isSessionID(id) else {
            throw CLIFailure.malformed("session id: expected 32 lower-case hex digits, found \(Terminal.safe(id))")
        }
        entry = try LocalSession.records.entry(id)
        client = try ComputePlaneClient(url: entry.plane, pinnedKey: entry.tlsKey)
    }

    func call(_ suffix: String = "", _ body: [String: Any]? = nil) async throws -> [String: Any] {
        try await client.json("/v1/explore/\(entry.session)\(suffix)", body, bearer: entry.control)
    }
}

/// `delong explore list [--json]`.
struct ExploreListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The sessions started from here, newest first, with their state on their plane."
    )
    @Flag(help: "Print one JSON array.") var json = false

    func run() async throws {
        try await PlaneClientSupport.reporting {
            var rows: [[String: Any]] = []
            for entry in LocalSession.records.all().sorted(by: { $0.startedAt > $1.startedAt }) {
                var row: [String: Any] = ["session": entry.session, "plane": entry.plane, "dataset": entry.dataset]
                do {
                    let status = try await KnownExplore(entry.session).call()
                    for key in ["state", "reason", "startedAt", "expiresAt"] { row[key] = status[key] }
                } catch {
                    row["state"] = "unknown"
                    row["reason"] = "\(error)"
                }
                rows.append(row)
            }
            if json {
                print(
                    String(
                        decoding: try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]),
                        as: UTF8.self
                    )
                )
                return
            }
            for row in rows {
                let reason = (row["reason"] as? String).map { " (\(Terminal.safe($0)))" } ?? ""
                print(
                    "\(row["session"] ?? "")  \(row["state"] ?? "")\(reason)  dataset \(row["dataset"] ?? "")  \(row["plane"] ?? "")"
                )
            }
        }
    }
}

/// `delong explore stop ID`.
struct ExploreStopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "End a session: JupyterLab and its kernels stop, the session's home is deleted."
    )
    @Argument(help: "The session id (32 hex digits).") var id: String

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let answer = try await KnownExplore(id).call("/stop", [:])
            print("\(id) \(answer["state"] as? String ?? "?") (\(Terminal.safe(answer["reason"] as? String ?? "")))")
        }
    }
}

/// `delong explore url ID`.
struct ExploreURLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "url",
        abstract: "A new one-time sign-in URL for a running session (60 s, one browser)."
    )
    @Argument(help: "The session id (32 hex digits).") var id: String

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let answer = try await KnownExplore(id).call("/ticket", [:])
            guard let url = answer["url"] as? String else {
                throw PlaneProtocolError(.malformed, "the plane's answer names no URL")
            }
            print(url)
        }
    }
}

/// `delong explore notebook ID PATH -o FILE`.
struct ExploreNotebookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notebook",
        abstract: "Download a notebook from a session's home, after the gate's identifier and canary checks.",
        discussion: """
            PATH is relative to the session's home (as JupyterLab's file browser shows it) and must end in \
            .ipynb. The plane refuses a notebook that carries an identifier or canary of the sample (exit 4, \
            naming the findings); nothing else leaves a session.
            """
    )
    @Argument(help: "The session id (32 hex digits).") var id: String
    @Argument(help: "The notebook's path in the session's home, e.g. Untitled.ipynb.") var path: String
    @Option(name: .shortAndLong, help: "Where to write the notebook (must not exist).") var output: String

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let known = try KnownExplore(id)
            guard let query = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) else {
                throw CLIFailure.malformed("notebook path: cannot encode \(path)")
            }
            let bytes = try await known.client.send(
                "/v1/explore/\(known.entry.session)/notebook?path=\(query)",
                bearer: known.entry.control
            )
            guard !FileManager.default.fileExists(atPath: output) else {
                throw CLIFailure.malformed("-o \(output): the file exists; nothing was written")
            }
            try DAStore.writeAtomically(bytes, to: output)
            FileHandle.standardError.write(Data("\(bytes.count) bytes written to \(output)\n".utf8))
        }
    }
}

/// A session started from here: its plane's URL, the TLS key it presented and the session's control secret
/// (`$DELONG_HOME/explore/<id>.json`, mode 0600).
struct LocalSession: Codable {
    var session: String
    var plane: String
    var tlsKey: String?
    var dataset: String
    /// The bearer secret that lists, stops and re-tickets this session (never a Jupyter token).
    var control: String
    var startedAt: Int64
    var expiresAt: Int64?

    static var records: LocalRecords<LocalSession> { LocalRecords("explore", what: "session", mode: 0o600) }
}
