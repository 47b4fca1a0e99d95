import Crypto
import CryptoExtras
import Foundation

extension FakeComputeEngine {
    /// Why the fake refuses a request (its message is what the answer says).
    struct Refusal: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The token endpoint's check of a jwt-bearer assertion, written from the JWT and OAuth rules (not with the
    /// client's JWT library): RS256 over `header.claims` with the account's public key, `kid` the account's key
    /// id, `iss` the account, `aud` the token URI, `scope` naming compute, `exp` in the future and at most an hour
    /// after `iat`, and `iat` at most a minute ahead of now.
    enum JWTCheck {
        static let computeScope = "https://www.googleapis.com/auth/compute"

        static func verify(
            _ jwt: String,
            publicKey: _RSA.Signing.PublicKey,
            keyID: String,
            issuer: String,
            audience: String,
            now: Date
        ) -> Result<Void, Refusal> {
            let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 3, let headerBytes = base64URL(parts[0]), let claimBytes = base64URL(parts[1]),
                let signature = base64URL(parts[2]),
                let header = (try? JSONSerialization.jsonObject(with: headerBytes)) as? [String: Any],
                let claims = (try? JSONSerialization.jsonObject(with: claimBytes)) as? [String: Any]
            else {
                return .failure(Refusal("Invalid JWT: the assertion is not three base64url JSON parts."))
            }
            guard header["alg"] as? String == "RS256" else {
                return .failure(Refusal("Invalid JWT: expected alg RS256, found \(header["alg"] ?? "none")."))
            }
            guard header["kid"] as? String == keyID else {
                return .failure(Refusal("Invalid JWT Signature: unknown kid \(header["kid"] ?? "none")."))
            }
            let signingInput = Data("\(parts[0]).\(parts[1])".utf8)
            guard
                publicKey.isValidSignature(
                    _RSA.Signing.RSASignature(rawRepresentation: signature),
                    for: SHA256.hash(data: signingInput),
                    padding: .insecurePKCS1v1_5
                )
            else {
                return .failure(Refusal("Invalid JWT Signature."))
            }
            guard claims["iss"] as? String == issuer else {
                return .failure(Refusal("Invalid JWT: expected iss \(issuer), found \(claims["iss"] ?? "none")."))
            }
            guard claims["aud"] as? String == audience else {
                return .failure(Refusal("Invalid JWT: expected aud \(audience), found \(claims["aud"] ?? "none")."))
            }
            let scopes = (claims["scope"] as? String)?.split(separator: " ").map(String.init) ?? []
            guard scopes.contains(computeScope) else {
                return .failure(Refusal("Invalid JWT: expected scope \(computeScope), found \(scopes)."))
            }
            guard let iat = (claims["iat"] as? NSNumber)?.doubleValue,
                let exp = (claims["exp"] as? NSNumber)?.doubleValue
            else {
                return .failure(Refusal("Invalid JWT: expected numeric iat and exp claims."))
            }
            let current = now.timeIntervalSince1970
            guard exp > current, iat <= current + 60, exp - iat <= 3600, exp > iat else {
                return .failure(
                    Refusal(
                        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                            + "Check your iat and exp values in the JWT claim."
                    )
                )
            }
            return .success(())
        }

        static func base64URL(_ part: Substring) -> Data? {
            var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while text.count % 4 != 0 { text += "=" }
            return Data(base64Encoded: text)
        }
    }

    /// The parts of an insert body the fake keeps, after checking the body field by field against the shape of
    /// production-backends §3 (the message names the field, as Compute Engine's `Invalid value for field` does).
    struct InsertBody: Sendable {
        let name: String
        let labels: [String: String]
        let metadata: [MetadataItem]
        let maxRunDurationSeconds: Int

        static let knownFields: Set<String> = [
            "name", "machineType", "confidentialInstanceConfig", "scheduling", "disks", "networkInterfaces",
            "metadata", "labels", "serviceAccounts", "shieldedInstanceConfig", "description", "tags",
        ]

        static func check(_ body: Data, zone: String) -> Result<InsertBody, Refusal> {
            func invalid(_ field: String, _ detail: String) -> Result<InsertBody, Refusal> {
                .failure(Refusal("Invalid value for field 'resource.\(field)': \(detail)"))
            }
            guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
                return .failure(Refusal("Invalid JSON payload received. Expected an object."))
            }
            if let unknown = Set(object.keys).subtracting(knownFields).sorted().first {
                return .failure(
                    Refusal("Invalid JSON payload received. Unknown name \"\(unknown)\": Cannot find field.")
                )
            }
            guard let name = object["name"] as? String else { return invalid("name", "missing.") }
            guard isName(name) else {
                return invalid("name", "'\(name)'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")
            }
            let machinePrefix = "zones/\(zone)/machineTypes/"
            guard let machineType = object["machineType"] as? String,
                machineType.hasPrefix(machinePrefix) || machineType.contains("/\(machinePrefix)"),
                let machine = machineType.split(separator: "/").last, isName(String(machine))
            else {
                return invalid(
                    "machineType",
                    "expected zones/\(zone)/machineTypes/TYPE, found \(object["machineType"] ?? "none")."
                )
            }
            guard let confidential = object["confidentialInstanceConfig"] as? [String: Any] else {
                return invalid("confidentialInstanceConfig", "missing (a Confidential VM with TDX is required).")
            }
            guard confidential["confidentialInstanceType"] as? String == "TDX" else {
                return invalid(
                    "confidentialInstanceConfig.confidentialInstanceType",
                    "expected TDX, found \(confidential["confidentialInstanceType"] ?? "none")."
                )
            }
            guard let scheduling = object["scheduling"] as? [String: Any] else {
                return invalid("scheduling", "missing.")
            }
            guard scheduling["onHostMaintenance"] as? String == "TERMINATE" else {
                return invalid(
                    "scheduling.onHostMaintenance",
                    "expected TERMINATE for a Confidential VM with TDX, found \(scheduling["onHostMaintenance"] ?? "none")."
                )
            }
            guard let restart = scheduling["automaticRestart"] as? NSNumber, isBool(restart), !restart.boolValue else {
                return invalid(
                    "scheduling.automaticRestart",
                    "expected false, found \(scheduling["automaticRestart"] ?? "none")."
                )
            }
            guard scheduling["instanceTerminationAction"] as? String == "DELETE" else {
                return invalid(
                    "scheduling.instanceTerminationAction",
                    "expected DELETE, found \(scheduling["instanceTerminationAction"] ?? "none")."
                )
            }
            guard let duration = scheduling["maxRunDuration"] as? [String: Any] else {
                return invalid("scheduling.maxRunDuration", "missing.")
            }
            guard let secondsText = duration["seconds"] as? String, let seconds = Int(secondsText), seconds > 0 else {
                return invalid(
                    "scheduling.maxRunDuration.seconds",
                    "expected a positive int64 as a string, found \(duration["seconds"] ?? "none")."
                )
            }
            guard let disks = object["disks"] as? [[String: Any]], disks.count == 1, let disk = disks.first else {
                return invalid("disks", "expected exactly one disk.")
            }
            guard (disk["boot"] as? NSNumber).map({ isBool($0) && $0.boolValue }) == true else {
                return invalid("disks[0].boot", "expected true.")
            }
            guard (disk["autoDelete"] as? NSNumber).map({ isBool($0) && $0.boolValue }) == true else {
                return invalid("disks[0].autoDelete", "expected true.")
            }
            guard let initialize = disk["initializeParams"] as? [String: Any] else {
                return invalid("disks[0].initializeParams", "missing.")
            }
            guard let image = initialize["sourceImage"] as? String, image.hasPrefix("projects/"),
                image.contains("/global/images/")
            else {
                return invalid(
                    "disks[0].initializeParams.sourceImage",
                    "expected projects/P/global/images/I, found \(initialize["sourceImage"] ?? "none")."
                )
            }
            guard let sizeText = initialize["diskSizeGb"] as? String, let size = Int(sizeText), size > 0 else {
                return invalid(
                    "disks[0].initializeParams.diskSizeGb",
                    "expected a positive int64 as a string, found \(initialize["diskSizeGb"] ?? "none")."
                )
            }
            guard let interfaces = object["networkInterfaces"] as? [[String: Any]], let interface = interfaces.first
            else {
                return invalid("networkInterfaces", "expected at least one interface.")
            }
            guard interface["nicType"] as? String == "GVNIC" else {
                return invalid(
                    "networkInterfaces[0].nicType",
                    "expected GVNIC, found \(interface["nicType"] ?? "none")."
                )
            }
            guard let network = interface["network"] as? String, network.contains("networks/") else {
                return invalid(
                    "networkInterfaces[0].network",
                    "expected global/networks/N, found \(interface["network"] ?? "none")."
                )
            }
            if let configs = interface["accessConfigs"] {
                guard let list = configs as? [[String: Any]],
                    list.allSatisfy({ $0["type"] as? String == "ONE_TO_ONE_NAT" })
                else {
                    return invalid("networkInterfaces[0].accessConfigs", "expected ONE_TO_ONE_NAT entries.")
                }
            }
            var items: [MetadataItem] = []
            if let metadata = object["metadata"] {
                guard let metadata = metadata as? [String: Any], let list = metadata["items"] as? [[String: Any]] else {
                    return invalid("metadata", "expected {\"items\": [{\"key\",\"value\"}]}.")
                }
                for (index, item) in list.enumerated() {
                    guard let key = item["key"] as? String, let value = item["value"] as? String, !key.isEmpty,
                        key.count <= 128,
                        key.unicodeScalars.allSatisfy({
                            CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "-" || $0 == "_"
                        })
                    else {
                        return invalid(
                            "metadata.items[\(index)]",
                            "expected a key of [A-Za-z0-9_-]{1,128} and a string value."
                        )
                    }
                    items.append(MetadataItem(key: key, value: value))
                }
                guard Set(items.map(\.key)).count == items.count else {
                    return invalid("metadata.items", "duplicate keys.")
                }
            }
            var labels: [String: String] = [:]
            if let raw = object["labels"] {
                guard let dictionary = raw as? [String: Any] else { return invalid("labels", "expected an object.") }
                for (key, value) in dictionary {
                    guard let text = value as? String, isLabelKey(key), isLabelValue(text) else {
                        return invalid(
                            "labels.\(key)",
                            "expected key [a-z][a-z0-9_-]{0,62} and value [a-z0-9_-]{0,63}."
                        )
                    }
                    labels[key] = text
                }
            }
            return .success(InsertBody(name: name, labels: labels, metadata: items, maxRunDurationSeconds: seconds))
        }

        /// JSONSerialization gives booleans as NSNumber; only a real JSON true/false counts.
        static func isBool(_ number: NSNumber) -> Bool {
            String(cString: number.objCType) == "c"
        }

        static func isName(_ text: String) -> Bool {
            text.range(of: "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", options: .regularExpression) != nil
        }

        static func isLabelKey(_ text: String) -> Bool {
            text.range(of: "^[a-z][a-z0-9_-]{0,62}$", options: .regularExpression) != nil
        }

        static func isLabelValue(_ text: String) -> Bool {
            text.range(of: "^[a-z0-9_-]{0,63}$", options: .regularExpression) != nil
        }
    }
}
