import Foundation

/// Fixtures written by Python with the real libraries (numpy, pandas, scikit-learn, joblib, gzip, bz2, zlib,
/// zipfile) through contrib/references/gate_fixtures.py, run with the job runtime's interpreter (the library
/// versions jobs use): `DELONG_GATE_PYTHON`, else /opt/delong/runtime/bin/python3 (`delong runtime build`).
enum GateFilesFixtures {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static var python: String {
        ProcessInfo.processInfo.environment["DELONG_GATE_PYTHON"] ?? "/opt/delong/runtime/bin/python3"
    }

    /// Writes every recipe with Python and returns name → bytes.
    static func make(_ recipes: [[String: Any]]) throws -> [String: [UInt8]] {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw Failure(
                description:
                    "\(python) not found: build the job runtime (delong runtime build --lock contrib/runtime/requirements.lock) or set DELONG_GATE_PYTHON to a Python with numpy, pandas, scikit-learn and joblib"
            )
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gate-fixtures-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let recipeFile = dir.appendingPathComponent("recipes.json")
        try JSONSerialization.data(withJSONObject: recipes).write(to: recipeFile)
        let out = dir.appendingPathComponent("out")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["contrib/references/gate_fixtures.py", recipeFile.path, out.path]
        let errors = Pipe()
        process.standardError = errors
        process.environment = ["PATH": "/usr/bin:/bin", "MPLCONFIGDIR": dir.path, "OMP_NUM_THREADS": "1"]
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "gate_fixtures.py failed: \(String(decoding: message, as: UTF8.self))")
        }
        var files: [String: [UInt8]] = [:]
        for recipe in recipes {
            let name = recipe["name"] as! String
            files[name] = Array(try Data(contentsOf: out.appendingPathComponent(name)))
        }
        return files
    }
}
