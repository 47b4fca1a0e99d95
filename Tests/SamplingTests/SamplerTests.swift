import Sampling
import Testing

@Suite struct SamplerTests {
    static let bank = Bank(people: 5000)

    func sample(_ options: SampleOptions = SampleOptions(), bank: Bank = SamplerTests.bank) throws -> Sample {
        try Sampler.sample(
            tables: bank.tables,
            policy: try DatasetPolicy(json: Array(Bank.policyJSON.utf8)),
            options: options
        )
    }

    /// Every cell of every output table.
    func cells(_ sample: Sample) -> Set<String> {
        var out = Set<String>()
        for table in sample.tables.values {
            for row in table.rows { out.formUnion(row) }
            out.formUnion(table.header)
        }
        return out
    }

    @Test func noSourceIdentifierOrKeyValueAppearsInTheOutput() throws {
        let result = try sample()
        let output = cells(result)
        let bank = Self.bank
        for row in bank.accounts.rows {
            for index in [0, 1, 2] { #expect(!output.contains(row[index]), "accounts column \(index) leaked") }
        }
        for row in bank.transactions.rows {
            #expect(!output.contains(row[0]))
            #expect(!output.contains(row[1]))
        }
        // Substrings too: no email, name or account id inside any cell.
        let joined = output.joined(separator: "\u{1}")
        #expect(!joined.contains("@example.org"))
        #expect(!joined.contains("ACC"))
        #expect(!joined.contains("TX0"))
        #expect(result.report.identifierValuesFound == 0)
        // Direct identifiers and free text are absent; generalized columns keep their names.
        #expect(result.tables["accounts.csv"]?.header.contains("name") == false)
        #expect(result.tables["accounts.csv"]?.header.contains("memo") == false)
        #expect(result.tables["accounts.csv"]?.header.first == "account_id")
    }

    @Test func everyQuasiIdentifierCombinationOccursAtLeastKTimes() throws {
        for k in [5, 10, 25] {
            var options = SampleOptions()
            options.k = k
            options.seed = 1
            let result = try sample(options)
            for table in result.report.tables {
                let output = try #require(result.tables[table.name])
                let qi = table.quasiIdentifiers.map { output.column($0)! }
                var counts: [[String]: Int] = [:]
                for row in output.rows { counts[qi.map { row[$0] }, default: 0] += 1 }
                if !qi.isEmpty {
                    #expect(counts.values.min()! >= k, "\(table.name) k=\(k)")
                    #expect(table.k == counts.values.min())
                }
                #expect(table.rowsSuppressed <= table.rowsDrawn / 10)
                #expect(table.rowsOut == output.rows.count)
            }
            #expect(result.report.k.reached.map { $0 >= k } == true)
        }
    }

    @Test func lDiversityIsAtLeastTwoAndMatchesARecount() throws {
        var options = SampleOptions()
        options.seed = 3
        let result = try sample(options)
        for table in result.report.tables where !table.quasiIdentifiers.isEmpty {
            let output = try #require(result.tables[table.name])
            let qi = table.quasiIdentifiers.map { output.column($0)! }
            for (column, reported) in table.l {
                let s = output.column(column)!
                var values: [[String]: Set<String>] = [:]
                for row in output.rows { values[qi.map { row[$0] }, default: []].insert(row[s]) }
                #expect(values.values.map(\.count).min() == reported)
                #expect(reported >= 2)
            }
        }
    }

    @Test func canaryRowsAndTheirEntitiesAreNeverSampled() throws {
        var options = SampleOptions()
        options.entities = 100_000  // everything available
        let result = try sample(options)
        #expect(result.report.entities.canaryEntitiesExcluded == 2)
        #expect(result.report.entities.drawn == 4998)
        let accounts = result.report.tables.first { $0.name == "accounts.csv" }!
        #expect(accounts.rowsDrawn == 4998)
        #expect(accounts.canaryRowsExcluded == 1)
        let transactions = result.report.tables.first { $0.name == "transactions.csv" }!
        let canaryAccounts: Set<String> = [
            Self.bank.accounts.rows[41][0], Self.bank.transactions.rows[7][1],
        ]
        let expected = Self.bank.transactions.rows.filter { !canaryAccounts.contains($0[1]) }.count
        #expect(transactions.rowsDrawn == expected)
    }

    /// A policy that also releases a plain copy of the account id ("other") so the test can see the mapping.
    static let linkedPolicy = """
        {"version": 1, "tables": {
          "accounts.csv": {"entity": "account_id", "columns": {"account_id": "key", "plain": "other"}},
          "transactions.csv": {"entity": "account_id", "columns": {"account_id": "key", "plain": "other"}}}}
        """

    func linked(seed: UInt64?) throws -> (Sample, [String: String]) {
        let bank = Bank(people: 400)
        var accounts = bank.accounts
        accounts.header.append("plain")
        for i in accounts.rows.indices { accounts.rows[i].append("p" + accounts.rows[i][0]) }
        var transactions = bank.transactions
        transactions.header.append("plain")
        for i in transactions.rows.indices { transactions.rows[i].append("p" + transactions.rows[i][1]) }
        var options = SampleOptions()
        options.entities = 100
        options.seed = seed
        let result = try Sampler.sample(
            tables: ["accounts.csv": accounts, "transactions.csv": transactions],
            policy: try DatasetPolicy(json: Array(Self.linkedPolicy.utf8)),
            options: options
        )
        var mapping: [String: String] = [:]
        for name in ["accounts.csv", "transactions.csv"] {
            let table = result.tables[name]!
            for row in table.rows {
                let plain = row[table.column("plain")!]
                let pseudonym = row[table.column("account_id")!]
                #expect(mapping[plain] == nil || mapping[plain] == pseudonym, "\(plain) got two pseudonyms")
                mapping[plain] = pseudonym
            }
        }
        return (result, mapping)
    }

    @Test func oneEntityKeepsOnePseudonymAcrossTables() throws {
        let (result, mapping) = try linked(seed: 9)
        #expect(mapping.count == 100)
        #expect(Set(mapping.values).count == 100)
        #expect(mapping.values.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
        #expect(result.tables["transactions.csv"]!.rows.count > 100)
    }

    @Test func theSameSeedDrawsTheSameRowsButFreshPseudonyms() throws {
        let (a, mapA) = try linked(seed: 42)
        let (b, mapB) = try linked(seed: 42)
        let (c, _) = try linked(seed: 43)
        let plainColumn = a.tables["accounts.csv"]!.column("plain")!
        let rowsA = a.tables["accounts.csv"]!.rows.map { $0[plainColumn] }
        let rowsB = b.tables["accounts.csv"]!.rows.map { $0[plainColumn] }
        let rowsC = c.tables["accounts.csv"]!.rows.map { $0[plainColumn] }
        #expect(rowsA == rowsB)
        #expect(rowsA != rowsC)
        #expect(Set(mapA.keys) == Set(mapB.keys))
        for (plain, pseudonym) in mapA { #expect(mapB[plain] != pseudonym) }
        #expect(a.report.seeded)
    }

    @Test func theSameSeedGivesTheSameNoise() throws {
        var options = SampleOptions()
        options.seed = 5
        let a = try sample(options)
        let b = try sample(options)
        let balance = a.tables["accounts.csv"]!.column("balance")!
        #expect(
            a.tables["accounts.csv"]!.rows.map { $0[balance] } == b.tables["accounts.csv"]!.rows.map { $0[balance] }
        )
        let noise = try #require(a.report.tables.first { $0.name == "accounts.csv" }?.noise.first)
        #expect(noise.column == "balance")
        #expect(noise.mechanism == "laplace")
        #expect(noise.scale > 0)
        #expect(noise.decimals == 2)
    }

    @Test func dateColumnsAreShiftedPerEntityAndCutToTheMonth() throws {
        let bank = Bank(people: 300)
        var transactions = bank.transactions
        transactions.header.append("plain")
        for i in transactions.rows.indices { transactions.rows[i].append("p" + transactions.rows[i][1]) }
        let policy = """
            {"version": 1, "tables": {"transactions.csv": {"entity": "account_id",
              "columns": {"account_id": "key", "plain": "other", "booked": "date"}}}}
            """
        var options = SampleOptions()
        options.entities = 300
        let result = try Sampler.sample(
            tables: ["transactions.csv": transactions],
            policy: try DatasetPolicy(json: Array(policy.utf8)),
            options: options
        )
        func month(_ text: Substring) -> Int { Int(text.prefix(4))! * 12 + Int(text.dropFirst(5).prefix(2))! }
        // Source months per (entity, tx index within entity), in source order = output order within an entity.
        var sourceMonths: [String: [Int]] = [:]
        for row in transactions.rows { sourceMonths[row[5], default: []].append(month(row[4][...])) }
        let output = result.tables["transactions.csv"]!
        #expect(output.header == ["account_id", "booked", "plain"])
        var outputMonths: [String: [Int]] = [:]
        for row in output.rows {
            #expect(row[1].count == 7, "\(row[1]) is not YYYY-MM")
            outputMonths[row[2], default: []].append(month(row[1][...]))
        }
        var shifted = 0
        for (entity, months) in outputMonths {
            let deltas = zip(months, sourceMonths[entity]!).map { $0 - $1 }
            // ±180 days moves a date by at most 6 months plus one for the day of the month.
            #expect(deltas.allSatisfy { abs($0) <= 7 })
            // One shift per entity: its dates' month deltas differ by at most one.
            #expect(deltas.max()! - deltas.min()! <= 1, "\(entity): \(deltas)")
            if deltas.contains(where: { $0 != 0 }) { shifted += 1 }
        }
        #expect(outputMonths.count == 300)
        #expect(shifted > 200)
    }

    @Test func missingTablesAndColumnsAreDataErrors() throws {
        let policy = try DatasetPolicy(json: Array(Bank.policyJSON.utf8))
        #expect(throws: SamplingError(.dataMismatch, "")) {
            _ = try Sampler.sample(tables: ["accounts.csv": Self.bank.accounts], policy: policy)
        }
        var accounts = Self.bank.accounts
        accounts.header[0] = "acct"
        #expect {
            _ = try Sampler.sample(
                tables: ["accounts.csv": accounts, "transactions.csv": Self.bank.transactions],
                policy: policy
            )
        } throws: { error in
            (error as? SamplingError)?.reason.contains("the policy lists column \"account_id\"") == true
        }
    }

    @Test func kThatCannotHoldIsAnError() throws {
        var options = SampleOptions()
        options.entities = 5
        options.k = 50
        #expect(throws: SamplingError(.kNotReached, "")) { _ = try sample(options) }
    }
}
