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

    static let oneTable = #""tables": {"a.csv": {"entity": "id", "columns": {"id": "key", "b": "other"}}}"#

    @Test func everyColumnRoleOfTheIssueParsesAndSeveralKeysAreAllowed() throws {
        let policy = try parse(
            #"""
            {"version": 1, "tables": {"t.csv": {"entity": "owner", "columns": {"id": "key", "owner": "key",
              "name": "direct_identifier", "zip": "quasi_identifier", "pay": "sensitive", "when": "date",
              "note": "free_text", "branch": "other"}}}}
            """#
        )
        let table = try #require(policy.tables["t.csv"])
        #expect(table.entity == "owner")
        #expect(table.columns(withRole: .key) == ["id", "owner"])
        #expect(table.columns["name"] == .directIdentifier)
        #expect(table.columns["zip"] == .quasiIdentifier)
        #expect(table.columns["pay"] == .sensitive)
        #expect(table.columns["when"] == .date)
        #expect(table.columns["note"] == .freeText)
        #expect(table.columns["branch"] == .other)
        #expect(Set(ColumnRole.allCases.map(\.rawValue)).count == 7)
    }

    @Test func theEntityIsRequiredAndMustBeAColumnOfItsTable() {
        #expect(
            reason(#"{"version": 1, "tables": {"a.csv": {"columns": {"id": "key"}}}}"#)?
                .contains(#"tables["a.csv"].entity: expected a column name"#) == true
        )
        #expect(
            reason(#"{"version": 1, "tables": {"a.csv": {"entity": 3, "columns": {"id": "key"}}}}"#)?
                .contains("entity: expected a column name") == true
        )
    }

    @Test func canaryValuesAreStringsOrNumbersOfListedColumnsAndRowsAreZeroBased() throws {
        let policy = try parse(
            #"{"version": 1, \#(Self.oneTable), "canaries": [{"table": "a.csv", "row": 0, "values": {"id": "A-1", "b": 12.5}}, {"table": "a.csv", "row": 7, "values": {"b": 40}}]}"#
        )
        #expect(policy.canaries[0].row == 0)
        #expect(policy.canaries[0].values == ["id": "A-1", "b": "12.5"])
        #expect(policy.canaries[1].values == ["b": "40"])
        #expect(
            reason(
                #"{"version": 1, \#(Self.oneTable), "canaries": [{"table": "a.csv", "row": 0, "values": {"b": true}}]}"#
            )?
            .contains(#"canaries[0].values["b"]: expected a string or a number, found a boolean"#) == true
        )
        #expect(
            reason(
                #"{"version": 1, \#(Self.oneTable), "canaries": [{"table": "a.csv", "row": 0, "values": {"b": null}}]}"#
            )?
            .contains("expected a string or a number") == true
        )
        #expect(
            reason(
                #"{"version": 1, \#(Self.oneTable), "canaries": [{"table": "a.csv", "row": 0, "values": {"zz": "x"}}]}"#
            )?
            .contains(#"canaries[0].values["zz"]: expected a column that the policy lists for a.csv"#) == true
        )
        #expect(
            reason(#"{"version": 1, \#(Self.oneTable), "canaries": [{"table": "a.csv", "row": -1}]}"#)?
                .contains("canaries[0].row: expected a 0-based row number") == true
        )
        #expect(
            reason(#"{"version": 1, \#(Self.oneTable), "canaries": [{"table": "a.csv", "row": 1.5}]}"#)?
                .contains("canaries[0].row") == true
        )
        #expect(
            reason(#"{"version": 1, \#(Self.oneTable), "canaries": [{"table": "a.csv", "row": 0, "values": [1]}]}"#)?
                .contains("canaries[0].values: expected an object") == true
        )
    }

    @Test func everyThresholdIsOptionalWithTheIssueDefaultsAndEachCanBeSet() throws {
        let defaults = try parse(#"{"version": 1, \#(Self.oneTable)}"#).thresholds
        #expect(defaults.minCellCount == 10)
        #expect(defaults.dominanceN == 2)
        #expect(defaults.dominanceK == 0.9)
        #expect(defaults.minDegreesOfFreedom == 10)
        #expect(defaults.k == 10)
        #expect(defaults.pPercent == 0.10)
        let set = try parse(
            #"{"version": 1, \#(Self.oneTable), "thresholds": {"minCellCount": 5, "dominanceN": 3, "dominanceK": 0.8, "minDegreesOfFreedom": 20, "k": 4, "pPercent": 0.2}}"#
        ).thresholds
        #expect(set.minCellCount == 5)
        #expect(set.dominanceN == 3)
        #expect(set.dominanceK == 0.8)
        #expect(set.minDegreesOfFreedom == 20)
        #expect(set.k == 4)
        #expect(set.pPercent == 0.2)
        #expect(try parse(#"{"version": 1, \#(Self.oneTable), "thresholds": {}}"#).thresholds == defaults)
        for bad in [
            #""minCellCount": 0"#, #""dominanceN": "2""#, #""dominanceK": 0"#, #""minDegreesOfFreedom": -1"#,
            #""pPercent": 2"#, #""pPercent": true"#,
        ] {
            let key = String(bad.split(separator: "\"")[0])
            #expect(
                reason(#"{"version": 1, \#(Self.oneTable), "thresholds": {\#(bad)}}"#)?.contains("thresholds.\(key)")
                    == true,
                "\(bad)"
            )
        }
    }

    @Test func unknownKeysAreErrorsAtEveryLevelNamingKeyAndPlace() {
        let cases: [(String, String)] = [
            (#"{"version": 1, \#(Self.oneTable), "threshold": {}}"#, #"unknown key "threshold""#),
            (
                #"{"version": 1, "tables": {"a.csv": {"entity": "id", "columns": {"id": "key"}, "roles": {}}}}"#,
                #"unknown key tables["a.csv"].roles"#
            ),
            (
                #"{"version": 1, \#(Self.oneTable), "canaries": [{"table": "a.csv", "row": 0, "rows": 1}]}"#,
                "unknown key canaries[0].rows"
            ),
            (
                #"{"version": 1, \#(Self.oneTable), "thresholds": {"minCellcount": 5}}"#,
                "unknown key thresholds.minCellcount"
            ),
        ]
        for (text, expected) in cases {
            let message = reason(text)
            #expect(message?.contains(expected) == true, "\(message ?? "accepted")")
            #expect(message?.contains("expected one of") == true)
        }
    }
}
