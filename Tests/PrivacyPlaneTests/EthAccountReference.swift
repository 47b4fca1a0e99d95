import Foundation
import TestSupport

/// eth-account (PyPI) in the contrib venv, used only as an independent reference inside tests.
enum EthAccountReference {
    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String {
            "the Python venv with eth-account is missing (\(path)); run contrib/python/venv.sh to create it"
        }
    }

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    /// Signs each template (with "{address}" replaced by a fresh account's checksummed address) and recovers
    /// the signer of each (message, signature) pair, in one Python run.
    static let script = #"""
        import json, sys
        from eth_account import Account
        from eth_account.messages import encode_defunct
        request = json.load(sys.stdin)
        out = {"recovered": [], "signed": []}
        for item in request["recover"]:
            out["recovered"].append(
                Account.recover_message(encode_defunct(text=item["message"]), signature=item["signature"]))
        for template in request["sign"]:
            account = Account.create()
            message = template.replace("{address}", account.address)
            signed = account.sign_message(encode_defunct(text=message))
            signature = signed.signature.hex()
            if not signature.startswith("0x"):
                signature = "0x" + signature
            out["signed"].append({"message": message, "signature": signature, "address": account.address})
        json.dump(out, sys.stdout)
        """#

    struct Signed {
        let message: String
        let signature: String
        let address: String
    }

    static func run(
        sign templates: [String],
        recover pairs: [(message: String, signature: String)]
    ) throws -> (
        signed: [Signed], recovered: [String]
    ) {
        let python = TestData.packageRoot.appendingPathComponent("contrib/.venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else { throw Missing(path: python.path) }
        let request: [String: Any] = [
            "sign": templates,
            "recover": pairs.map { ["message": $0.message, "signature": $0.signature] },
        ]
        let process = Process()
        process.executableURL = python
        process.arguments = ["-c", script]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: request))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let signed = object["signed"] as? [[String: String]], let recovered = object["recovered"] as? [String]
        else {
            throw Failed(
                description: "eth-account reference failed (status \(process.terminationStatus)): \(errorText)"
            )
        }
        return (
            signed.map {
                Signed(message: $0["message"] ?? "", signature: $0["signature"] ?? "", address: $0["address"] ?? "")
            },
            recovered
        )
    }
}
