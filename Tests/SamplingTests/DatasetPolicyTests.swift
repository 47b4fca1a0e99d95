import Sampling
import Testing

@Suite struct DatasetPolicyTests {
    func parse(_ text: String) throws(SamplingError) -> DatasetPolicy { try DatasetPolicy(json: Array(text.utf8)) }

    func reason(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error.code == .malformedPolicy ? error.reason : "wrong code \(error.code)"
        }
    }

    @Test func theIssueExampleParsesWithDefaults() throws {
        let policy = try parse(Bank.policyJSON)
        #expect(policy.tables["accounts.csv"]?.entity == "account_id")
        #expect(policy.tables["accounts.csv"]?.columns["memo"] == .freeText)
        #expect(policy.tables["transactions.csv"]?.columns(withRole: .key) == ["account_id", "tx_id"])
        #expect(policy.canaries.count == 2)
        #expect(policy.canaries[1].values["amount"] == "12")
        #expect(policy.thresholds.k == 10)
        #expect(policy.thresholds.minCellCount == 10)
        #expect(policy.thresholds.dominanceN == 2)
        #expect(policy.thresholds.dominanceK == 0.9)
        #expect(policy.thresholds.minDegreesOfFreedom == 10)
        #expect(policy.thresholds.pPercent == 0.10)
    }

    @Test func unknownKeysAreErrorsNamingTheirPath() {
        let base = #""tables": {"a.csv": {"entity": "id", "columns": {"id": "key"}}}"#
        #expect(reason(#"{"version": 1, \#(base), "extra": 1}"#)?.contains(#"unknown key "extra""#) == true)
        #expect(
            reason(#"{"version": 1, "tables": {"a.csv": {"entity": "id", "colums": {}}}}"#)?
                .contains(#"unknown key tables["a.csv"].colums"#) == true
        )
        #expect(reason(#"{"version": 1, \#(base), "thresholds": {"kk": 3}}"#)?.contains("thresholds.kk") == true)
        #expect(
            reason(#"{"version": 1, \#(base), "canaries": [{"table": "a.csv", "row": 0, "value": {}}]}"#)?
                .contains("canaries[0].value") == true
        )
    }

    @Test func wrongRolesVersionsAndThresholdsAreRefused() {
        #expect(
            reason(#"{"version": 1, "tables": {"a.csv": {"entity": "id", "columns": {"id": "identifier"}}}}"#)?
                .contains(#"columns["id"]: expected one of key, direct_identifier"#) == true
        )
        let base = #""tables": {"a.csv": {"entity": "id", "columns": {"id": "key"}}}"#
        #expect(reason(#"{"version": 2, \#(base)}"#)?.contains("\"version\": expected 1") == true)
        #expect(reason(#"{\#(base)}"#)?.contains("missing \"version\"") == true)
        #expect(reason(#"{"version": 1, \#(base), "thresholds": {"k": true}}"#)?.contains("thresholds.k") == true)
        #expect(reason(#"{"version": 1, \#(base), "thresholds": {"k": 2.5}}"#)?.contains("thresholds.k") == true)
        #expect(reason(#"{"version": 1, \#(base), "thresholds": {"dominanceK": 1.5}}"#) != nil)
        #expect(
            reason(#"{"version": 1, "tables": {"a.csv": {"entity": "who", "columns": {"id": "key"}}}}"#)?
                .contains("\"who\" is not one of the table's columns") == true
        )
        #expect(
            reason(#"{"version": 1, "tables": {"../a.csv": {"entity": "id", "columns": {"id": "key"}}}}"#) != nil
        )
        #expect(reason(#"{"version": 1, \#(base), "canaries": [{"table": "b.csv", "row": 0}]}"#) != nil)
        #expect(reason("[1]")?.contains("expected a JSON object") == true)
        #expect(reason("{not json")?.contains("not valid JSON") == true)
    }
}
