import ChainCore
import ChainRecords
import Foundation

/// A deployment file (contrib/contracts/deploy output): the contract addresses and the chain id it names.
struct DeploymentFile {
    let contracts: DeLongContracts
    let chainID: U256?

    static func read(_ path: String) throws -> DeploymentFile {
        guard
            let object = try InputFile.json(InputFile.read(path, what: "deployment"), path: path, what: "deployment")
                as? [String: Any]
        else { throw CLIFailure.malformed("deployment file \(path): expected a JSON object") }
        return DeploymentFile(
            contracts: try DeLongContracts(deploymentJSON: object),
            chainID: (object["chainId"] as? NSNumber).map { U256($0.uint64Value) }
        )
    }
}
