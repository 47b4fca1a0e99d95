import Attestation
import ChainCore
import Foundation
import Logging
import NIOConcurrencyHelpers
import PlaneProtocol
import PrivacyPlane
import PrivacyPlaneHTTP

/// A plane's own attestation for `GET /v1/attestation`: evidence whose REPORTDATA binds the plane's signer and
/// its current TLS key (``PlaneIdentity``), so clients can check that the TLS peer is the attested plane.
/// Re-made when the TLS pair changes (SIGHUP) and on a timer, so the quote is never older than the interval.
/// Under dstack the evidence is a TDX quote from the guest agent's GetQuote (with dstack's event log); outside a TEE it is the INSECURE development
/// evidence, which clients accept only when told to and only on the devnet.
final class OwnEvidence: Sendable {
    enum Producer: Sendable {
        case development
        case dstack(DstackGuestAgent)
    }

    let signer: Address
    let tls: TLSIdentity?
    let producer: Producer
    let logger: Logger
    private let current = NIOLockedValueBox<ResponseJSON>(.object([]))

    init(signer: Address, tls: TLSIdentity?, producer: Producer, logger: Logger) {
        self.signer = signer
        self.tls = tls
        self.producer = producer
        self.logger = logger
        refresh()
    }

    /// The `evidence` member of the attestation document.
    var document: ResponseJSON { current.withLockedValue { $0 } }

    /// Makes fresh evidence for the current TLS key; on failure the document says why there is none.
    func refresh() {
        let tlsKey = tls?.keyHash ?? []
        let reportData = PlaneIdentity.reportData(signer: signer, tlsKey: tlsKey)
        var fields: [(String, ResponseJSON)]
        do {
            switch producer {
            case .development:
                let evidence = try InsecureDevelopmentEvidence(
                    mrTD: [UInt8](repeating: 0, count: 48),
                    rtmr: Array(repeating: [UInt8](repeating: 0, count: 48), count: 4),
                    reportData: reportData
                )
                fields = [
                    ("type", .string(InsecureDevelopmentEvidence.type)),
                    ("evidence", .string(Hex.encode(evidence.json()))),
                ]
            case .dstack(let agent):
                let answer = try agent.quote(reportData: reportData)
                fields = [
                    ("type", .string("tdx")), ("evidence", .string(Hex.encode(answer.quote))),
                    ("eventLog", .string(answer.eventLog)),
                ]
            }
        } catch {
            logger.warning("no attestation of this plane", metadata: ["error": "\(error)"])
            current.withLockedValue { $0 = .object([("unavailable", .string("\(error)"))]) }
            return
        }
        fields += [
            ("reportData", .string(Hex.encode(reportData))),
            ("tlsKey", tls.map { .string(TLSKeyIdentity.text($0.keyHash)) } ?? .null),
            ("producedAt", .string(RFC3339.format(Int64(Date().timeIntervalSince1970)))),
        ]
        current.withLockedValue { $0 = .object(fields) }
    }
}
