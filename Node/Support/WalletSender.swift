import ChainCore
import Foundation
import LightClient
import Logging
import PlaneCrypto

/// Sends one contract call from a wallet key as an EIP-1559 transaction and waits for its receipt. The key stays
/// in SecretBytes; the copy secp256k1 needs is wiped after each use, and nothing of it is logged.
struct WalletSender {
    let client: JSONRPCClient
    let key: SecretBytes
    let address: Address
    private let logger = Logger(label: "delong.wallet")

    init(endpoint: String, key: SecretBytes) throws {
        self.client = JSONRPCClient(endpoint: endpoint)
        self.key = key
        var privateKey = key.withUnsafeBytes { Array($0) }
        defer { SecretBytes.wipe(&privateKey) }
        self.address = try Secp256k1.shared.address(privateKey: privateKey)
    }

    /// Estimates, signs and sends a call to `to`; returns the transaction hash and the block that included it.
    /// A call the contract would revert is refused before anything is sent (exit 1, with the revert reason).
    func send(
        to: Address,
        data: [UInt8],
        expectedChainID: U256?,
        wait: Duration
    ) async throws -> (hash: String, block: UInt64) {
        let chainID = try U256(quantity: try await text("eth_chainId"))
        if let expectedChainID, expectedChainID != chainID {
            throw CLIFailure.malformed(
                "chain id: the deployment file says \(expectedChainID), the endpoint answers \(chainID)"
            )
        }
        let call = "{\"from\":\"\(address.hex)\",\"to\":\"\(to.hex)\",\"data\":\"\(Hex.encode(data))\"}"
        let gas: UInt64
        do {
            gas = try quantity(try await text("eth_estimateGas", params: "[\(call)]"))
        } catch let error as RPCError {
            if case .server(_, let message) = error.kind {
                throw CLIFailure(
                    exitCode: ExitCodes.verificationFailed,
                    message: "the chain refuses the call: \(message)"
                )
            }
            throw error
        }
        let nonce = try quantity(try await text("eth_getTransactionCount", params: "[\"\(address.hex)\",\"pending\"]"))
        let tip = try U256(quantity: try await text("eth_maxPriorityFeePerGas"))
        guard
            let latest = try await client.call(
                RPCRequest("eth_getBlockByNumber", params: "[\"latest\",false]"),
                logger: logger
            )
                as? [String: Any], let base = latest["baseFeePerGas"] as? String
        else { throw CLIFailure.io("eth_getBlockByNumber latest: expected a block with baseFeePerGas") }

        var tx = Transaction(type: 2)
        tx.chainID = chainID
        tx.nonce = nonce
        tx.maxPriorityFeePerGas = tip
        tx.maxFeePerGas = try U256(quantity: base) * U256(2) + tip
        tx.gasLimit = gas + gas / 4  // headroom: state may move between the estimate and inclusion
        tx.to = to
        tx.data = data
        var privateKey = key.withUnsafeBytes { Array($0) }
        defer { SecretBytes.wipe(&privateKey) }
        try tx.sign(privateKey: privateKey)
        let hash = try await text("eth_sendRawTransaction", params: "[\"\(Hex.encode(tx.encoded))\"]")

        let deadline = ContinuousClock.now + wait
        while ContinuousClock.now < deadline {
            let receipt = try await client.call(
                RPCRequest("eth_getTransactionReceipt", params: "[\"\(hash)\"]"),
                logger: logger
            )
            if let receipt = receipt as? [String: Any] {
                guard receipt["status"] as? String == "0x1" else {
                    throw CLIFailure(exitCode: ExitCodes.verificationFailed, message: "transaction \(hash) reverted")
                }
                return (hash, try quantity(receipt["blockNumber"] as? String ?? ""))
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw CLIFailure.io("transaction \(hash): no receipt within \(wait)")
    }

    /// The return data of a read-only call to `to` at the latest block (eth_call from this wallet).
    func read(to: Address, data: [UInt8]) async throws -> [UInt8] {
        let call = "{\"from\":\"\(address.hex)\",\"to\":\"\(to.hex)\",\"data\":\"\(Hex.encode(data))\"}"
        let result = try await text("eth_call", params: "[\(call),\"latest\"]")
        guard let bytes = try? Hex.decode(result) else {
            throw CLIFailure.io("eth_call: expected hex data, found \(result.prefix(40))")
        }
        return bytes
    }

    private func text(_ method: String, params: String = "[]") async throws -> String {
        guard let value = try await client.call(RPCRequest(method, params: params), logger: logger) as? String else {
            throw CLIFailure.io("\(method): expected a hex string result")
        }
        return value
    }

    private func quantity(_ text: String) throws -> UInt64 {
        guard text.hasPrefix("0x"), let value = UInt64(text.dropFirst(2), radix: 16) else {
            throw CLIFailure.io("expected a hex quantity, found \(text.prefix(40))")
        }
        return value
    }
}
