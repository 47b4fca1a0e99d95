import ArgumentParser
import ChainCore
import Foundation
import PlaneCrypto

/// A command failure: a message for stderr and the exit code from `ExitCodes`.
struct CLIFailure: Error, CustomStringConvertible {
    let exitCode: Int32
    let message: String
    var description: String { message }

    static func malformed(_ message: String) -> CLIFailure {
        CLIFailure(exitCode: ExitCodes.malformedInput, message: message)
    }
    static func io(_ message: String) -> CLIFailure { CLIFailure(exitCode: ExitCodes.ioError, message: message) }
}

extension CLIFailure {
    /// Runs `body`, turning CLIFailure and ChainError into a message on stderr and the right exit status.
    static func reporting<T>(_ context: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CLIFailure {
            throw ExitCodes.report(error, context: context)
        } catch let error as ChainError {
            throw ExitCodes.report(error, context: context)
        }
    }
}

/// Reads command input files with a size bound, and parses JSON or hex from them.
enum InputFile {
    /// Inputs larger than this are refused rather than read into memory.
    static let maxBytes = 256 << 20

    static func read(_ path: String, what: String, limit: Int = maxBytes) throws -> Data {
        let url = URL(fileURLWithPath: path)
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw CLIFailure.io("cannot read \(what) file \(path): no such file or not accessible")
        }
        if let size = attributes[.size] as? Int, size > limit {
            throw CLIFailure.malformed("\(what) file \(path) is \(size) bytes; expected at most \(limit)")
        }
        do { return try Data(contentsOf: url) } catch {
            throw CLIFailure.io("cannot read \(what) file \(path): \(error.localizedDescription)")
        }
    }

    /// The file's JSON; a JSON-RPC response envelope is unwrapped to its `result`.
    static func json(_ data: Data, path: String, what: String) throws -> Any {
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw CLIFailure.malformed("\(what) file \(path) is not valid JSON")
        }
        if let envelope = value as? [String: Any], envelope["jsonrpc"] != nil {
            if let error = envelope["error"] {
                throw CLIFailure.malformed("\(what) file \(path) holds a JSON-RPC error: \(error)")
            }
            guard let result = envelope["result"], !(result is NSNull) else {
                throw CLIFailure.malformed("\(what) file \(path) holds a JSON-RPC response without a result")
            }
            return result
        }
        return value
    }
}

/// A key file (signing key, wallet key): mode 0600 or stricter, 32 raw bytes or 64 hex digits.
func readKeyFile(_ path: String, what: String) throws -> SecretBytes {
    do { return try SecretFile.readKey(path) } catch {
        throw CLIFailure(exitCode: ExitCodes.keyRefused, message: "\(what): key file \(error.reason)")
    }
}
