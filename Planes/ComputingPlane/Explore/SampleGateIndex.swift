import Foundation
import PlaneProtocol

/// The index a session's notebook is checked against before it may leave: the sample's own tables, with the
/// column roles the sample's report.json names (what `delong dataset sample` did to each column). A column the
/// sampler dropped is not in the sample; a pseudonymized key keeps its role, so a notebook that prints sample
/// rows carries the sample's identifiers and stays in. The dataset's canaries are not known here (they are in
/// the sealed policy, whose key an Explore session never gets); the sampler never draws a canary row.
public enum SampleGateIndex {
    static let roles: Set<String> = [
        "key", "direct_identifier", "quasi_identifier", "sensitive", "date", "free_text", "other",
    ]

    public static func build(sample: String) throws(ComputingPlaneError) -> DatasetIndex {
        let report = try read(sample + "/report.json", limit: 4 << 20)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(report))) as? [String: Any],
            let tables = object["tables"] as? [[String: Any]]
        else {
            throw ComputingPlaneError(.badInput, "the sample's report.json: expected an object with a tables array")
        }
        var policyTables: [String: Any] = [:]
        var bytes: [String: [UInt8]] = [:]
        for table in tables {
            guard let name = table["name"] as? String, let entity = table["entity"] as? String,
                let columns = table["columns"] as? [[String: Any]]
            else {
                throw ComputingPlaneError(
                    .badInput,
                    "the sample's report.json: a table without name, entity or columns"
                )
            }
            var roles: [String: String] = [:]
            for column in columns where column["action"] as? String != "dropped" {
                guard let columnName = column["name"] as? String, let role = column["role"] as? String,
                    Self.roles.contains(role)
                else { continue }
                roles[columnName] = role
            }
            guard roles[entity] != nil else { continue }
            policyTables[name] = ["entity": entity, "columns": roles]
            bytes[name] = try read(sample + "/" + name, limit: SampleLocator.limits.maxArchiveBytes)
        }
        let policy: [UInt8]
        do {
            policy = Array(try JSONSerialization.data(withJSONObject: ["version": 1, "tables": policyTables]))
        } catch { throw ComputingPlaneError(.badInput, "the sample's policy: \(error)") }
        return try DatasetIndex(policyJSON: policy, tables: bytes)
    }

    private static func read(_ path: String, limit: Int) throws(ComputingPlaneError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ComputingPlaneError(.badInput, "the sample has no \((path as NSString).lastPathComponent)")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: limit + 1)) ?? Data()
        guard data.count <= limit else {
            throw ComputingPlaneError(.badInput, "\((path as NSString).lastPathComponent): more than \(limit) bytes")
        }
        return [UInt8](data)
    }
}
