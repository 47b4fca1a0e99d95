import Foundation
import PlaneCrypto
import Sealing
import TestSupport

/// Temporary directories and deterministic plaintext trees for the sealing tests.
enum Scratch {
    /// A fresh temporary directory, removed by the caller's `defer`.
    static func directory(_ label: String = "sealing") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("delong-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func remove(_ url: URL) { try? FileManager.default.removeItem(at: url) }
}

/// A plaintext tree described as path → bytes (directories end with "/").
struct PlainTree {
    var files: [String: [UInt8]] = [:]
    var directories: [String] = []

    func write(to root: URL) throws {
        for d in directories {
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent(d),
                withIntermediateDirectories: true
            )
        }
        for (path, bytes) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try Data(bytes).write(to: url)
        }
    }

    /// Files of the boundary sizes around `chunk`, nested directories and an empty directory.
    static func boundaries(chunk: Int, seed: UInt64 = 1) -> PlainTree {
        var rng = DeterministicBytes(seed: seed)
        var tree = PlainTree()
        let sizes = [0, 1, chunk - 1, chunk, chunk + 1, 7 * chunk + 123]
        for size in sizes { tree.files["sizes/\(size).bin"] = rng.bytes(size) }
        tree.files["a/b/c/deep.txt"] = Array("deep file\n".utf8)
        tree.files["top.txt"] = Array("hello, sealed world\n".utf8)
        tree.directories = ["empty", "a/b/c"]
        return tree
    }
}

let testDatasetID = try! DatasetID(hex: "0x" + String(repeating: "ab", count: 32))

func testKey(_ byte: UInt8 = 7) -> SecretBytes {
    SecretBytes(copying: [UInt8](repeating: byte, count: 32))
}

/// Seals `tree` into `<dir>/sealed` and returns (sealed root, result).
func sealTree(
    _ tree: PlainTree,
    in dir: URL,
    key: SecretBytes = testKey(),
    chunkSize: UInt32 = 4096,
    name: String = "sealed"
) throws -> (URL, Sealer.Result) {
    let source = dir.appendingPathComponent("plain-\(name)")
    try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
    try tree.write(to: source)
    let output = dir.appendingPathComponent(name)
    let sealer = try Sealer(options: .init(datasetID: testDatasetID, chunkSize: chunkSize, durable: false))
    let result = try sealer.seal(source: source.path, output: output.path, keySource: InMemoryKeySource(key: key))
    return (output, result)
}

/// Path of the sealed object for a plaintext path.
func objectURL(_ sealed: URL, _ result: Sealer.Result, _ path: String) -> URL {
    let entry = result.manifest.entries.first { $0.path == path }!
    return sealed.appendingPathComponent(SealedFormat.objectPath(for: entry.fileID!))
}

/// Reads, edits and writes back a file's bytes.
func editFile(_ url: URL, _ edit: (inout [UInt8]) -> Void) throws {
    var bytes = [UInt8](try Data(contentsOf: url))
    edit(&bytes)
    try Data(bytes).write(to: url)
}
