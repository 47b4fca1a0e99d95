import ArgumentParser
import Attestation
import ChainCore
import ComputingPlane
import Foundation
import LightClient
import ObjectStore
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import Sealing

/// The one mapping from a module's error to `delong`'s exit status, and the one way a command reports it.
extension ExitCodes {
    static func code(for error: any Error) -> Int32 {
        switch error {
        case let failure as CLIFailure: return failure.exitCode
        case is ChainError: return malformedInput
        case let error as SealingError:
            switch error.code {
            case .authenticationFailed, .mismatch: return verificationFailed
            case .malformed, .unsupportedVersion: return malformedInput
            case .io: return ioError
            case .keyRefused: return keyRefused
            case .crypto: return systemError
            }
        case let error as AttestationError: return error.code.isMalformed ? malformedInput : verificationFailed
        case is RPCError: return ioError
        case let error as PlaneCryptoError:
            switch error.code {
            case .secretFile: return keyRefused
            case .ageHeaderMAC, .agePayload, .ageNoMatch: return verificationFailed
            case .ageHeader, .invalidEncoding, .invalidLength, .invalidKey: return malformedInput
            case .ageIO: return ioError
            case .openSSLFailure, .randomFailure: return systemError
            }
        case let error as PlaneProtocolError:
            switch error.code {
            case .refused:
                let status = error.refusal?.status ?? 0
                return status == 400 || status == 413 ? malformedInput : keyRefused
            // A key lease that ended (revoked, refused, expired or unknown): the key is refused from now on.
            case .leaseRevoked, .leaseExpired: return keyRefused
            case .unreachable, .io: return ioError
            case .notCanonical, .untrusted, .mismatch: return verificationFailed
            case .malformed, .tooLarge, .unsupportedEntry, .insecureTransport: return malformedInput
            }
        case let error as ComputingPlaneError:
            switch error.code {
            case .verification: return verificationFailed
            case .badInput, .conflict, .notFound: return malformedInput
            case .forbidden: return keyRefused
            case .io: return ioError
            case .systemUnsupported, .sandboxFailure: return systemError
            }
        case let error as ObjectStoreError:
            switch error.code {
            case .conflict, .mismatch: return verificationFailed
            case .malformed, .bucketMissing, .tooLarge: return malformedInput
            case .unreachable, .io: return ioError
            case .credentialsRefused: return keyRefused
            }
        case let error as PrivacyPlaneError:
            switch error.code {
            case .keyUnavailable, .invalidConfiguration: return keyRefused
            case .storage: return ioError
            default: return malformedInput
            }
        default: return systemError
        }
    }

    /// Writes `delong: <message>` to stderr and returns the exit status to throw.
    static func report(_ error: any Error, context: String? = nil) -> ExitCode {
        let message: String
        switch error {
        case let failure as CLIFailure: message = failure.message
        case let error as ChainError: message = (context.map { "\($0): " } ?? "") + error.reason
        case let error as PlaneProtocolError: message = error.reason
        case let error as RPCError: message = error.description
        default: message = (context.map { "\($0): " } ?? "") + "\(error)"
        }
        FileHandle.standardError.write(Data("delong: \(message)\n".utf8))
        return ExitCode(code(for: error))
    }
}
