import ComputeEngine
import ComputeEngineFake
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// insert, get, delete and wait against the fake, which boots a local process per instance.
@Suite struct InstanceLifecycleTests {
    /// The body the fake received, parsed with JSONSerialization and compared with the fields of the design
    /// note's §3 written out here by hand.
    @Test func theInsertBodyIsTheDesignShape() async throws {
        try await ComputeEngineHarness.with { h in
            let jobID = ComputeEngineHarness.jobID()
            let request = try h.jobRequest(
                "0x" + jobID,
                metadata: [.init(key: "delong-runner", value: "https://runner.example/x")]
            )
            let requestID = UUID()
            let before = Date()
            let operation = try await h.client.insert(request, requestID: requestID)
            #expect(operation.operationType == "insert")
            #expect(operation.targetName == "delong-job-" + jobID.prefix(20))
            try await h.client.wait(operation)

            let received = try #require(
                await h.fake.received().first { $0.method == "POST" && $0.path.hasSuffix("/instances") }
            )
            #expect(received.path == "/compute/v1/projects/\(h.key.projectID)/zones/us-central1-a/instances")
            #expect(received.query == "requestId=\(requestID.uuidString.lowercased())")
            #expect(received.contentType == "application/json")
            #expect(received.authorization?.hasPrefix("Bearer ya29.fake-") == true)
            let body = try #require(try JSONSerialization.jsonObject(with: received.body) as? NSDictionary)
            let expected: NSDictionary = [
                "name": "delong-job-" + jobID.prefix(20),
                "machineType": "zones/us-central1-a/machineTypes/c3-standard-4",
                "confidentialInstanceConfig": ["confidentialInstanceType": "TDX"],
                "scheduling": [
                    "onHostMaintenance": "TERMINATE", "automaticRestart": false, "instanceTerminationAction": "DELETE",
                    "maxRunDuration": ["seconds": "3600"],
                ],
                "disks": [
                    [
                        "boot": true, "autoDelete": true,
                        "initializeParams": [
                            "sourceImage": "projects/delong-images/global/images/delong-runner-1", "diskSizeGb": "20",
                        ],
                    ]
                ],
                "networkInterfaces": [["network": "global/networks/default", "nicType": "GVNIC"]],
                "metadata": [
                    "items": [
                        ["key": "job-id", "value": jobID],
                        ["key": "delong-runner", "value": "https://runner.example/x"],
                    ]
                ],
                "labels": ["delong-job": String(jobID.prefix(63))],
            ]
            #expect(body == expected)
            // Sorted keys, slashes not escaped, booleans as JSON booleans.
            let text = String(decoding: received.body, as: UTF8.self)
            #expect(!text.contains("\\/"))
            let topKeys = ["confidentialInstanceConfig", "disks", "labels", "machineType", "metadata", "name"]
            let positions = topKeys.map { text.range(of: "\"\($0)\":")?.lowerBound }
            #expect(positions.allSatisfy { $0 != nil })
            #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
            #expect(text.contains("\"automaticRestart\":false"))

            // The instance ran, and the boot closure saw its name and metadata.
            let instance = try #require(try await h.client.get(request.name))
            #expect(instance.status == "RUNNING")
            #expect(instance.labels?["delong-job"] == String(jobID.prefix(63)))
            #expect(instance.metadataValue("job-id") == jobID)
            #expect(instance.maxRunDurationSeconds == 3600)
            let created = try #require(instance.createdAt)
            // Made by this insert: not before it was sent, not after now (milliseconds in the timestamp).
            #expect(created >= before.addingTimeInterval(-0.001) && created <= Date(), "\(before) ≤ \(created)")
            let boot = try #require(h.booted.all.first)
            #expect(boot.name == request.name)
            #expect(boot.metadata.map(\.key) == ["job-id", "delong-runner"])
        }
    }

    @Test func anExternalAddressOnlyWhenAsked() throws {
        let plain = try InstanceRequest(
            name: "a1",
            zone: "us-central1-a",
            machineType: "c3-standard-4",
            sourceImage: "projects/p/global/images/i",
            maxRunDurationSeconds: 60
        )
        let external = try InstanceRequest(
            name: "a1",
            zone: "us-central1-a",
            machineType: "c3-standard-4",
            sourceImage: "projects/p/global/images/i",
            maxRunDurationSeconds: 60,
            externalAccess: true
        )
        func interface(_ r: InstanceRequest) throws -> [String: Any] {
            let body = try JSONSerialization.jsonObject(with: r.jsonBody()) as! [String: Any]
            return (body["networkInterfaces"] as! [[String: Any]])[0]
        }
        #expect(try interface(plain)["accessConfigs"] == nil)
        let configs = try #require(try interface(external)["accessConfigs"] as? [[String: Any]])
        #expect(configs.first?["type"] as? String == "ONE_TO_ONE_NAT")
    }

    @Test func theSameRequestIDMakesOneInstanceAndAnotherIDForTheSameNameIs409() async throws {
        try await ComputeEngineHarness.with { h in
            let request = try h.jobRequest(ComputeEngineHarness.jobID())
            let id = UUID()
            let first = try await h.client.insert(request, requestID: id)
            let again = try await h.client.insert(request, requestID: id)
            #expect(first.name == again.name)
            try await h.client.wait(again)
            #expect(await h.fake.instancesCreated() == 1)
            #expect(h.booted.all.count == 1)

            let conflict = await #expect(throws: ComputeEngineError.self) {
                try await h.client.insert(request, requestID: UUID())
            }
            #expect(conflict?.code == .api)
            #expect(conflict?.httpStatus == 409)
            #expect(conflict?.apiReason == "alreadyExists")
            #expect(await h.fake.instancesCreated() == 1)
        }
    }

    @Test func getAndDeleteOfAMissingInstanceAreNil() async throws {
        try await ComputeEngineHarness.with { h async throws in
            #expect(try await h.client.get("delong-job-missing") == nil)
            #expect(try await h.client.delete("delong-job-missing", requestID: UUID()) == nil)
        }
    }

    /// DELETE ends the booted process: SIGTERM first, SIGKILL after the grace for one that ignores SIGTERM.
    @Test func deleteEndsTheBootedProcess() async throws {
        try await ComputeEngineHarness.with { h in
            let request = try h.jobRequest(ComputeEngineHarness.jobID())
            try await h.insertAndWait(request)
            let pid = try #require(await h.fake.instance(request.name)?.pid)
            #expect(ComputeEngineHarness.processExists(pid))

            let deleteID = UUID()
            let operation = try #require(try await h.client.delete(request.name, requestID: deleteID))
            #expect(operation.operationType == "delete")
            let repeated = try #require(try await h.client.delete(request.name, requestID: deleteID))
            #expect(repeated.name == operation.name)
            let done = try await h.client.wait(operation)
            #expect(done.isDone)
            #expect(try await h.client.get(request.name) == nil)
            #expect(await eventually(within: 120) { !ComputeEngineHarness.processExists(pid) })
            #expect(await h.fake.deletions().map(\.cause) == [.api])
            #expect(try await h.client.delete(request.name, requestID: UUID()) == nil)  // already gone
        }
        // A "VM" that ignores SIGTERM is killed after the grace.
        try await ComputeEngineHarness.with(
            killGrace: .seconds(1),
            command: ["/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 300"]
        ) { h in
            let request = try h.jobRequest(ComputeEngineHarness.jobID())
            try await h.insertAndWait(request)
            let pid = try #require(await h.fake.instance(request.name)?.pid)
            try await Task.sleep(for: .milliseconds(200))  // let sh install the trap and exec
            let started = ContinuousClock.now
            let operation = try #require(try await h.client.delete(request.name, requestID: UUID()))
            try await h.client.wait(operation)
            #expect(ContinuousClock.now - started >= .seconds(1))
            #expect(await eventually(within: 120) { !ComputeEngineHarness.processExists(pid) })
        }
    }

    /// maxRunDuration (20 s here) passing does what instanceTerminationAction DELETE does.
    @Test func maxRunDurationEndsTheProcessAndTheInstance() async throws {
        try await ComputeEngineHarness.with { h in
            // 20 s: long enough that a loaded test process still sees the instance RUNNING before it expires.
            let request = try h.jobRequest(ComputeEngineHarness.jobID(), maxRun: 20)
            try await h.insertAndWait(request)
            let pid = try #require(await h.fake.instance(request.name)?.pid)
            #expect(ComputeEngineHarness.processExists(pid))
            #expect(try await h.client.get(request.name)?.status == "RUNNING")
            let gone = try await eventually(within: 120) {
                try await h.client.get(request.name) == nil
            }
            #expect(gone)
            #expect(await eventually(within: 120) { !ComputeEngineHarness.processExists(pid) })
            #expect(await h.fake.deletions().map(\.name) == [request.name])
            #expect(await h.fake.deletions().map(\.cause) == [.maxRunDuration])
        }
    }

    /// An instance deleted before it reached RUNNING (a plane sweeping a job's leftover VM as it is made) ends its
    /// insert operation too: a caller waiting on the insert is not left waiting.
    @Test func anInstanceDeletedWhileProvisioningEndsItsInsert() async throws {
        try await ComputeEngineHarness.with(stepDelay: .seconds(5)) { h in
            let request = try h.jobRequest(ComputeEngineHarness.jobID())
            let insert = try await h.client.insert(request, requestID: UUID())
            #expect(try await h.client.get(request.name)?.status == "PROVISIONING")
            let delete = try #require(try await h.client.delete(request.name, requestID: UUID()))
            #expect(try await h.client.wait(delete, timeout: .seconds(180)).isDone)
            #expect(try await h.client.wait(insert, timeout: .seconds(180)).isDone)
            #expect(try await h.client.get(request.name) == nil)
            #expect(h.booted.all.isEmpty)
        }
    }

    /// wait loops over several bounded waits, and gives up at the caller's bound.
    @Test func waitLoopsUntilDoneWithinABound() async throws {
        try await ComputeEngineHarness.with(stepDelay: .milliseconds(1500), waitCap: .milliseconds(300)) { h in
            let operation = try await h.client.insert(try h.jobRequest(ComputeEngineHarness.jobID()), requestID: UUID())
            let error = await #expect(throws: ComputeEngineError.self) {
                try await h.client.wait(operation, timeout: .milliseconds(500))
            }
            #expect(error?.code == .timedOut)
            let done = try await h.client.wait(operation, timeout: .seconds(120))
            #expect(done.isDone)
            let waits = await h.fake.received().filter { $0.path.hasSuffix("/wait") }.count
            // The first call gave up at its bound; the second looped to DONE (how many waits that took depends on
            // the machine's load).
            #expect(waits >= 2)
        }
    }

    /// A full zone: the insert operation ends with ZONE_RESOURCE_POOL_EXHAUSTED and creates nothing; as an HTTP
    /// error it is recognisable too; the next insert works.
    @Test func aFullZoneIsRecognisable() async throws {
        try await ComputeEngineHarness.with { h in
            let request = try h.jobRequest(ComputeEngineHarness.jobID())
            await h.fake.failNextInsert()
            let operation = try await h.client.insert(request, requestID: UUID())
            let failed = await #expect(throws: ComputeEngineError.self) { try await h.client.wait(operation) }
            #expect(failed?.code == .operationFailed)
            #expect(failed?.apiReason == "ZONE_RESOURCE_POOL_EXHAUSTED")
            #expect(failed?.isZoneResourcePoolExhausted == true)
            #expect(await h.fake.instancesCreated() == 0)

            await h.fake.failNextInsert(httpStatus: 503)
            let refused = await #expect(throws: ComputeEngineError.self) {
                try await h.client.insert(request, requestID: UUID())
            }
            #expect(refused?.code == .api)
            #expect(refused?.httpStatus == 503)
            #expect(refused?.isZoneResourcePoolExhausted == true)

            try await h.insertAndWait(request)
            #expect(await h.fake.instancesCreated() == 1)
            let other = ComputeEngineError(.api, "x", httpStatus: 403, apiReason: "forbidden", apiMessage: "no")
            #expect(!other.isZoneResourcePoolExhausted)
        }
    }

    /// A Google-shaped 400 becomes the typed error with its reason and message.
    @Test func googleErrorsBecomeTypedErrors() async throws {
        try await ComputeEngineHarness.with { h in
            let error = await #expect(throws: ComputeEngineError.self) { try await h.client.list(filter: "name = x") }
            #expect(error?.code == .api)
            #expect(error?.httpStatus == 400)
            #expect(error?.apiReason == "invalid")
            #expect(error?.apiMessage?.contains("'filter'") == true)
            #expect(error?.reason.contains("HTTP 400 invalid") == true)
        }
    }
}
