import Foundation
import TestSupport
import Testing

/// The planes' boundary, as the sources say it: clients, sandboxes and auditors link PlaneProtocol, not the
/// plane. In Node/Commands only the serve command and the SIWE check may import PrivacyPlane, in any form of
/// import; PlaneProtocol and the Computing Plane never do.
@Suite struct ModuleBoundaryTests {
    /// The files under `folder` (relative to the package root) with an import of `module` in any form
    /// (`import`, `public import`, `@testable import`, `import struct Module.Type`, `@_exported import`).
    static func importers(of module: String, under folder: String) throws -> Set<String> {
        let root = TestData.packageRoot.appendingPathComponent(folder)
        let pattern = try Regex(
            "^\\s*(@[A-Za-z_]+\\s+)*((public|package|internal|fileprivate|private)\\s+)?import\\s+((typealias|struct|class|enum|protocol|let|var|func)\\s+)?\(module)(\\.|\\s|$)"
        )
        var found: Set<String> = []
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        while let url = files?.nextObject() as? URL {
            guard url.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: url, encoding: .utf8)
            if text.split(separator: "\n").contains(where: { $0.contains(pattern) }) {
                found.insert(String(url.path.dropFirst(root.path.count + 1)))
            }
        }
        return found
    }

    @Test func onlyTheServeAndSIWEVerifyCommandsImportPrivacyPlane() throws {
        #expect(
            try Self.importers(of: "PrivacyPlane", under: "Node/Commands") == [
                "PrivacyCommand.swift", "AuthVerifySIWE.swift",
            ]
        )
    }

    @Test func theProtocolAndTheComputingPlaneNeverImportPrivacyPlane() throws {
        #expect(try Self.importers(of: "PrivacyPlane", under: "Planes/PlaneProtocol").isEmpty)
        #expect(try Self.importers(of: "PrivacyPlane", under: "Planes/ComputingPlane").isEmpty)
        #expect(try Self.importers(of: "ComputingPlane", under: "Planes/PrivacyPlane").isEmpty)
    }

    /// The Compute Engine client is a cloud library: it links no plane, so the Computing Plane's backend can use it
    /// without a cycle and nothing of a plane reaches the cloud code.
    @Test func computeEngineLinksNoPlane() throws {
        let client = TestData.packageRoot.appendingPathComponent("Planes/ComputeEngine/ComputeEngineClient.swift")
        #expect(FileManager.default.fileExists(atPath: client.path))
        for module in [
            "PrivacyPlane", "ComputingPlane", "PrivacyPlaneHTTP", "ComputingPlaneHTTP", "PlaneProtocol", "Audit",
            "Sealing", "Attestation",
        ] {
            #expect(try Self.importers(of: module, under: "Planes/ComputeEngine").isEmpty, "\(module)")
        }
    }

    /// The auditor is a separate party: it links no plane and no server.
    @Test func theAuditLinksNoPlaneServer() throws {
        for module in ["PrivacyPlane", "ComputingPlane", "PrivacyPlaneHTTP", "ComputingPlaneHTTP", "Hummingbird"] {
            #expect(try Self.importers(of: module, under: "Planes/Audit").isEmpty, "\(module)")
        }
    }
}
