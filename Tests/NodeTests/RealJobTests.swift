import Foundation
import Glibc
import TestSupport
import Testing

/// A real job on the job runtime: pandas, scikit-learn with two worker processes and matplotlib, in the sandbox
/// `delong sandbox run` uses, checked against values the test computes itself from the same CSV.
@Suite(.serialized) struct RealJobTests {
    /// Rows of group, x, y with y = 3x + 2 exactly, so the fit and its scores are known in advance.
    static func rows() -> [(group: String, x: Int, y: Int)] {
        (0..<60).map { i in (["north", "south", "east"][i % 3], i * 7 % 61, 3 * (i * 7 % 61) + 2) }
    }

    static let job = """
        import json, os, sys
        print("started", flush=True)
        import numpy as np
        import pandas as pd
        from sklearn.linear_model import LinearRegression
        from sklearn.model_selection import cross_val_score
        from joblib import Parallel, delayed
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        df = pd.read_csv("/data/points.csv")
        groups = df.groupby("group")["x"].agg(["count", "sum"])
        X, y = df[["x"]].to_numpy(), df["y"].to_numpy()
        model = LinearRegression().fit(X, y)
        scores = cross_val_score(LinearRegression(), X, y, cv=3, n_jobs=2)
        workers = Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(6))
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.scatter(df["x"], df["y"], s=4)
        ax.plot(df["x"], model.predict(X))
        fig.savefig("/out/plot.png", dpi=72)
        try:
            open("/opt/delong/runtime/written", "w")
            runtime_write = "allowed"
        except OSError as e:
            runtime_write = e.errno
        summary = {
            "groups": {g: [int(r["count"]), int(r["sum"])] for g, r in groups.iterrows()},
            "meanY": float(df["y"].mean()),
            "coef": float(model.coef_[0]),
            "intercept": float(model.intercept_),
            "scores": [float(s) for s in scores],
            "workerPids": sorted(set(workers) - {os.getpid()}),
            "prefix": sys.prefix,
            "runtimeWrite": runtime_write,
        }
        with open("/out/summary.json", "w") as f:
            json.dump(summary, f)
        print("done", flush=True)
        """

    /// A bundle of `files` and a data folder with points.csv; returns the paths and the CSV's rows.
    static func prepare(_ files: [String: String]) throws -> (dir: URL, bundle: URL, data: URL) {
        let dir = try DelongProcess.temporaryDirectory()
        chmod(dir.path, 0o755)
        let bundle = dir.appendingPathComponent("bundle")
        let data = dir.appendingPathComponent("data")
        for d in [bundle, data] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            chmod(d.path, 0o755)
        }
        for (name, text) in files { try Data(text.utf8).write(to: bundle.appendingPathComponent(name)) }
        let csv = "group,x,y\n" + rows().map { "\($0.group),\($0.x),\($0.y)\n" }.joined()
        try Data(csv.utf8).write(to: data.appendingPathComponent("points.csv"))
        chmod(data.appendingPathComponent("points.csv").path, 0o644)
        return (dir, bundle, data)
    }

    @Test func aPandasScikitLearnMatplotlibJobRunsOnTheRuntimeAndComputesTheRightValues() throws {
        let runtime = try RuntimeCommandTests.ensureRuntime()
        let (dir, bundle, data) = try Self.prepare(["main.py": Self.job])
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        let r = try DelongProcess.run(
            ["sandbox", "run", bundle.path, "--data", data.path, "--out", out.path, "--cpus", "2", "--json"]
        )
        let json = try #require(r.json, "stdout: \(r.stdout)\nstderr: \(r.stderr)")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(json["outcome"] as? String == "exited")
        #expect(json["runtime"] as? String == runtime)
        #expect((json["firstStdoutSeconds"] as? Double ?? -1) > 0)

        let summaryData = try Data(contentsOf: out.appendingPathComponent("summary.json"))
        let summary = try #require(try JSONSerialization.jsonObject(with: summaryData) as? [String: Any])
        // The test's own arithmetic over the same rows.
        var expectedGroups: [String: [Int]] = [:]
        for row in Self.rows() {
            let current = expectedGroups[row.group] ?? [0, 0]
            expectedGroups[row.group] = [current[0] + 1, current[1] + row.x]
        }
        #expect(summary["groups"] as? [String: [Int]] == expectedGroups)
        let meanY = Double(Self.rows().map(\.y).reduce(0, +)) / Double(Self.rows().count)
        #expect(abs((summary["meanY"] as? Double ?? 0) - meanY) < 1e-9)
        #expect(abs((summary["coef"] as? Double ?? 0) - 3) < 1e-9)
        #expect(abs((summary["intercept"] as? Double ?? 0) - 2) < 1e-9)
        let scores = summary["scores"] as? [Double] ?? []
        #expect(scores.count == 3 && scores.allSatisfy { abs($0 - 1) < 1e-9 })
        // n_jobs=2 ran in worker processes of its own, inside the sandbox.
        #expect((summary["workerPids"] as? [Int] ?? []).count >= 1)
        #expect(summary["prefix"] as? String == "/opt/delong/runtime")
        #expect(summary["runtimeWrite"] as? Int == Int(EROFS))

        let png = try Data(contentsOf: out.appendingPathComponent("plot.png"))
        #expect(png.count > 1000)
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let outputs = json["outputs"] as? [[String: Any]] ?? []
        #expect(Set(outputs.compactMap { $0["path"] as? String }) == ["plot.png", "summary.json"])
        #expect(r.stderr.contains("started") && r.stderr.contains("done"))
    }

    @Test func aBundleNamingAnotherRuntimeIsRefusedNamingBothAndItsOwnRuns() throws {
        let runtime = try RuntimeCommandTests.ensureRuntime()
        let other = "sha256:" + String(repeating: "0", count: 63) + "1"
        let (dir, bundle, data) = try Self.prepare([
            "main.py": "print('ran')\n", "delong.json": "{\"runtime\": \"\(other)\"}\n",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let refused = try DelongProcess.run(
            [
                "sandbox", "run", bundle.path, "--data", data.path, "--out", dir.appendingPathComponent("o1").path,
                "--json",
            ]
        )
        #expect(refused.status == 2)
        #expect(refused.json?["outcome"] as? String == "refused")
        #expect(refused.stderr.contains(other) && refused.stderr.contains(runtime))
        #expect(!refused.stderr.contains("ran\n"))

        try Data("{\"runtime\": \"\(runtime)\"}\n".utf8).write(to: bundle.appendingPathComponent("delong.json"))
        let ran = try DelongProcess.run(
            [
                "sandbox", "run", bundle.path, "--data", data.path, "--out", dir.appendingPathComponent("o2").path,
                "--json",
            ]
        )
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(ran.json?["runtime"] as? String == runtime)
        #expect(ran.stderr.contains("ran"))
    }
}
