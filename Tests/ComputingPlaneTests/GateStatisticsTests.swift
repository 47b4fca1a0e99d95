import ComputingPlane
import Foundation
import Testing

/// Each statistical rule of the Output Gate on the synthetic health dataset of `StatFixture`: a bare table is
/// re-derived on the data, so the rule fires without any count in the output.
@Suite struct GateStatisticsTests {
    typealias F = StatFixture

    static func countsBy(_ key: (F.Patient) -> String?, header: String) -> String {
        let g = F.groups(key)
        return header + "\n" + g.keys.sorted().map { "\($0),\(g[$0]!.count)" }.joined(separator: "\n") + "\n"
    }

    @Test func aFrequencyTableWithoutACountHeaderIsReDerivedAndItsSmallCellsFlagged() {
        let verdict = F.check("districts.csv", Self.countsBy({ $0.district }, header: "district,patients"))
        let flagged = verdict.findings.filter { $0.check == "threshold" }
        // Islands 6, Marsh 4, Fjord 8, Moor 3: exactly the four small districts.
        #expect(flagged.count == 4, "\(verdict.findings)")
        #expect(flagged.allSatisfy { $0.severity == .likely })
        #expect(verdict.decision == .review)
        #expect(flagged.contains { $0.detail.contains("3 rows") || $0.detail.contains("covers 3") })
    }

    @Test func largeGroupsAreReleasedAndLabelsThatMatchNothingAreNoFinding() {
        #expect(F.check("regions.csv", Self.countsBy({ $0.region }, header: "region,patients")).findings.isEmpty)
        #expect(F.check("sex.csv", Self.countsBy({ $0.sex }, header: "sex,n")).findings.isEmpty)
        // Labels that are not values of any column: nothing to re-derive, no statistical finding.
        let unrelated = "fruit,weight\napple,3\npear,4\nplum,2\n"
        #expect(F.check("fruit.csv", unrelated).findings.filter { $0.check != "small-cell" }.isEmpty)
    }

    @Test func aMeanOverFewerThanMinCellCountEntitiesIsFlaggedWithoutAnyCount() {
        let g = F.groups { $0.district }
        var csv = "district,income\n"
        for k in g.keys.sorted() { csv += "\(k),\(F.num(F.mean(g[k]!.map(\.income)), 2))\n" }
        let verdict = F.check("income.csv", csv)
        let places = verdict.findings.filter { $0.check == "threshold" }.map(\.where)
        #expect(places.count == 4, "\(verdict.findings)")
        #expect(verdict.findings.allSatisfy { $0.severity == .likely })
        // The same means rounded to whole units and in a Markdown report.
        var md = "# Income\n\n| district | mean income |\n|---|---:|\n"
        for k in g.keys.sorted() { md += "| \(k) | \(Int(F.mean(g[k]!.map(\.income)).rounded())) |\n" }
        #expect(F.check("report.md", md).findings.filter { $0.check == "threshold" }.count == 4)
    }

    @Test func contributorsAreDistinctEntitiesNotRows() {
        // 40 transplant claims from 3 patients: 40 rows, 3 entities.
        var counts: [String: Int] = [:]
        for c in F.claims { counts[c.category, default: 0] += 1 }
        let csv = "category,claims\n" + counts.keys.sorted().map { "\($0),\(counts[$0]!)" }.joined(separator: "\n")
        let verdict = F.check("claims.csv", csv)
        let flagged = verdict.findings.filter { $0.check == "threshold" }
        #expect(flagged.count == 1, "\(verdict.findings)")
        #expect(flagged.first?.where.contains("row 5") == true)
        #expect(flagged.first?.detail.contains("3 distinct patient_id") == true)
    }

    @Test func dominanceAndPPercentFireOnSumsOfASensitiveColumn() {
        let g = F.groups { $0.district }
        var csv = "district,total_income\n"
        for k in g.keys.sorted() where g[k]!.count >= 10 {
            csv += "\(k),\(F.money(g[k]!.map(\.income).reduce(0, +)))\n"
        }
        let verdict = F.check("sums.csv", csv)
        let dominance = verdict.findings.filter { $0.check == "dominance" }.map(\.where)
        let pPercent = verdict.findings.filter { $0.check == "p-percent" }.map(\.where)
        // Harbour (one income) and Ridge (two). With N = 2 and K = 0.9 a p % failure is also an NK failure, and
        // both districts fail both rules; a district of many similar incomes fails neither.
        #expect(dominance.count == 2, "\(verdict.findings)")
        #expect(pPercent == dominance, "\(verdict.findings)")
        #expect(Set(dominance.map { $0.split(separator: ",")[0] }) == ["row 31", "row 32"])
        #expect(verdict.findings.filter { $0.check == "threshold" }.isEmpty)
    }

    @Test func aZeroCellOfACrosstabIsClassDisclosure() {
        // pandas.crosstab(district, smoker).to_csv(): Valley has no non-smoker.
        let g = F.groups {
            ["Valley", "District 01", "District 02", "District 03"].contains($0.district) ? $0.district : nil
        }
        var csv = "district,no,yes\n"
        for k in g.keys.sorted() {
            csv += "\(k),\(g[k]!.filter { $0.smoker == "no" }.count),\(g[k]!.filter { $0.smoker == "yes" }.count)\n"
        }
        let verdict = F.check("smoking.csv", csv)
        let zero = verdict.findings.filter { $0.check == "class-disclosure" }
        #expect(zero.count == 1, "\(verdict.findings)")
        #expect(zero.first?.where == "row 4, column \"no\"")
    }

    @Test func extremesOfSmallGroupsAreFlagged() {
        let g = F.groups { $0.diagnosis }
        var csv = "diagnosis,max_age,min_age\n"
        for k in g.keys.sorted() {
            csv += "\(k),\(g[k]!.map(\.age).max()!),\(g[k]!.map(\.age).min()!)\n"
        }
        let verdict = F.check("ages.csv", csv)
        let extremes = verdict.findings.filter { $0.check == "extremes" }
        #expect(extremes.count == 4, "\(verdict.findings)")  // kuru and progeria, max and min
    }

    @Test func bandsOfANumericColumnAreMatchedInEveryUsualSpelling() {
        for spelling in ["dash", "interval", "to", "open"] {
            let g = F.groups { p -> String? in
                let low = p.age / 10 * 10
                if p.age >= 80 { return spelling == "open" ? "80+" : nil }
                switch spelling {
                case "interval": return "[\(low), \(low + 10))"
                case "to": return "\(low) to \(low + 9)"
                default: return "\(low)-\(low + 9)"
                }
            }
            var csv = "age_band,mean_income\n"
            for k in g.keys.sorted() { csv += "\(k),\(F.num(F.mean(g[k]!.map(\.income)), 1))\n" }
            // Plant one small band: the mean income of patients aged 18 (about 40 people, so not small) is fine;
            // a band of ages 18-18 restricted to the Moor district is not in the data, so use a known small one.
            #expect(F.check("bands-\(spelling).csv", csv).findings.isEmpty, "\(spelling)")
        }
        // A band table whose cells include a small group: income of the 5 oldest single ages.
        let g = F.groups { $0.age >= 85 ? "\($0.age)" : nil }
        let kuru = F.patients.filter { $0.diagnosis == "kuru" }
        var csv = "diagnosis,age_band,count\n"
        csv += "kuru,<50,\(kuru.filter { $0.age < 50 }.count)\nkuru,50+,\(kuru.filter { $0.age >= 50 }.count)\n"
        _ = g
        let verdict = F.check("kuru.csv", csv)
        #expect(verdict.findings.contains { $0.check == "threshold" }, "\(verdict.findings)")
    }

    @Test func modelSummariesWithFewResidualDegreesOfFreedomGoToReview() {
        let ols = """
                                        OLS Regression Results
            ==============================================================================
            Dep. Variable:                 income   R-squared:                       0.412
            No. Observations:                  14   AIC:                             301.2
            Df Residuals:                      11   BIC:                             303.1
            Df Model:                           2
            ==============================================================================
            """
        let small = ols.replacingOccurrences(of: "  14", with: "   9").replacingOccurrences(of: "  11", with: "   6")
        #expect(F.check("model.txt", ols).findings.isEmpty)
        let verdict = F.check("model.txt", small)
        #expect(verdict.findings.map(\.check) == ["degrees-of-freedom"], "\(verdict.findings)")
        #expect(verdict.findings.first?.where == "line 5")
        let r = "Residual standard error: 1.2 on 7 degrees of freedom\nMultiple R-squared: 0.5\n"
        #expect(F.check("lm.txt", r).findings.map(\.check) == ["degrees-of-freedom"])
        // No Df Residuals line: the observations less the coefficient rows.
        let table = """
            No. Observations:      12
            ==============================================================================
                             coef    std err          t      P>|t|      [0.025      0.975]
            ------------------------------------------------------------------------------
            const         1.2000      0.300      4.000      0.001       0.500       1.900
            age           0.0300      0.010      3.000      0.010       0.010       0.050
            income        0.0001      0.000      2.000      0.050       0.000       0.000
            ==============================================================================
            """
        #expect(F.check("coef.txt", table).findings.first?.detail.contains("9 residual") == true)
    }

    @Test func differencingTwoSafeReleasesIsFlaggedAndUnrelatedHistoryIsNot() {
        let all = Self.countsBy({ $0.region }, header: "region,patients")
        let minusFew = Self.countsBy({ $0.district == "Marsh" ? nil : $0.region }, header: "region,patients")
        #expect(F.check("now.csv", minusFew).findings.isEmpty)
        let verdict = F.check("now.csv", minusFew, history: [("earlier/regions.csv", all)])
        let found = verdict.findings.filter { $0.check == "differencing" }
        #expect(found.count >= 1, "\(verdict.findings)")
        #expect(found.allSatisfy { $0.detail.contains("earlier/regions.csv") && $0.severity == .likely })
        // A release of another table, or the same table again, is no differencing.
        #expect(F.check("now.csv", all, history: [("earlier/regions.csv", all)]).findings.isEmpty)
        let bySex = Self.countsBy({ $0.sex }, header: "sex,patients")
        #expect(F.check("now.csv", minusFew, history: [("earlier/sex.csv", bySex)]).findings.isEmpty)
        // Two unrelated populations (different years) move cells both ways: not a subset, no finding.
        let y2019 = Self.countsBy({ $0.visit.hasPrefix("2019") ? $0.region : nil }, header: "region,patients")
        let y2020 = Self.countsBy({ $0.visit.hasPrefix("2020") ? $0.region : nil }, header: "region,patients")
        #expect(F.check("now.csv", y2020, history: [("y2019.csv", y2019)]).findings.isEmpty)
    }

    @Test func groupedPandasOutputsWithSeveralHeaderLinesAreReadAndReleasedWhenLarge() {
        // df.groupby("region")["income"].agg(["mean", "count"]).to_csv() with a MultiIndex header.
        let g = F.groups { $0.region }
        var csv = ",income,income\n,mean,count\nregion,,\n"
        for k in g.keys.sorted() { csv += "\(k),\(F.num(F.mean(g[k]!.map(\.income)))),\(g[k]!.count)\n" }
        #expect(F.check("agg.csv", csv).findings.isEmpty)
        let d = F.groups { $0.district }
        var small = ",income,income\n,mean,count\ndistrict,,\n"
        for k in d.keys.sorted() { small += "\(k),\(F.num(F.mean(d[k]!.map(\.income)))),\(d[k]!.count)\n" }
        #expect(F.check("agg.csv", small).findings.contains { $0.check == "threshold" })
    }

    @Test func rowsThatRepeatTheirLabelsAreRecordsNotCells() {
        // Model predictions per patient with sex and smoker columns: not an aggregate, nothing to re-derive.
        var csv = "sex,smoker,score\n"
        for (i, p) in F.patients.prefix(2000).enumerated() { csv += "\(p.sex),\(p.smoker),0.\(i % 97)\n" }
        let clock = ContinuousClock()
        let start = clock.now
        let verdict = F.check("predictions.csv", csv)
        #expect(verdict.findings.isEmpty, "\(verdict.findings.prefix(3))")
        #expect(clock.now - start < .seconds(5))
    }
}
