import ComputeEngine
import ComputeEngineFake
import Foundation
import NIOHTTP1
import TestSupport
import Testing

@Suite struct InstanceSweeperTests {
    /// Three job VMs and one VM that is not a job's: the sweeper deletes the one past maxRunDuration + grace and
    /// the one whose job has ended, keeps the running job and never sees the unlabelled VM; a second sweep finds
    /// nothing to do.
    @Test func theSweeperDeletesExpiredAndEndedJobVMsAndLeavesOthers() async throws {
        try await ComputeEngineHarness.with { h in
            let expiredID = ComputeEngineHarness.jobID()
            let runningID = ComputeEngineHarness.jobID()
            let endedID = ComputeEngineHarness.jobID()
            let expired = try h.jobRequest(expiredID)
            let running = try h.jobRequest(runningID)
            let ended = try h.jobRequest(endedID)
            let other = try InstanceRequest(
                name: "not-a-job",
                zone: h.fake.zone,
                machineType: "c3-standard-4",
                sourceImage: "projects/p/global/images/i",
                maxRunDurationSeconds: 3600,
                labels: ["team": "ops"]
            )
            for request in [expired, running, ended, other] { try await h.insertAndWait(request) }
            await h.fake.backdate(expired.name, bySeconds: 3600 + 301)
            await h.fake.backdate(other.name, bySeconds: 7 * 86_400)
            let pids = [
                expired.name: await h.fake.instance(expired.name)?.pid,
                ended.name: await h.fake.instance(ended.name)?.pid,
            ]

            // Paging: one instance a page still lists the three job VMs.
            #expect(try await h.client.list(filter: InstanceSweeper.labelFilter, maxResults: 1).count == 3)

            let sweeper = InstanceSweeper(client: h.client, grace: .seconds(300))
            let report = try await sweeper.sweep { instance in instance.metadataValue("job-id") == endedID }
            #expect(report.deleted == [expired.name, ended.name].sorted())
            #expect(report.kept == [running.name])
            // Generous bounds: a loaded CI machine takes its time to end and reap the "VMs".
            let gone = try await eventually(within: 120) {
                let first = try await h.client.get(expired.name)
                let second = try await h.client.get(ended.name)
                return first == nil && second == nil
            }
            #expect(gone)
            for pid in pids.values {
                let pid = try #require(pid)
                #expect(await eventually(within: 120) { !ComputeEngineHarness.processExists(pid) })
            }
            #expect(try await h.client.get(running.name)?.status == "RUNNING")
            #expect(try await h.client.get(other.name)?.status == "RUNNING")
            let deletes = await h.fake.received().filter { $0.method == "DELETE" }
            #expect(deletes.count == 2)
            #expect(deletes.allSatisfy { $0.query?.hasPrefix("requestId=") == true })

            let again = try await sweeper.sweep { instance in instance.metadataValue("job-id") == endedID }
            #expect(again.deleted.isEmpty)
            #expect(again.kept == [running.name])
        }
    }

    @Test func expiryIsCreationPlusMaxRunPlusGrace() throws {
        let client = ComputeEngineClient(project: "p", zone: "z", tokens: FixedToken(value: "t"))
        let sweeper = InstanceSweeper(client: client, grace: .seconds(60), defaultMaxRun: .seconds(1000))
        let json = """
            {"name":"a","status":"RUNNING","creationTimestamp":"2026-12-04T13:00:00.000-08:00",
             "scheduling":{"maxRunDuration":{"seconds":"100"}}}
            """
        let instance = try JSONDecoder().decode(Instance.self, from: Data(json.utf8))
        let created = try #require(instance.createdAt)
        #expect(created == Date(timeIntervalSince1970: 1_796_418_000))  // 21:00:00 UTC
        #expect(!sweeper.isExpired(instance, at: created.addingTimeInterval(160)))
        #expect(sweeper.isExpired(instance, at: created.addingTimeInterval(161)))
        var noLimit = instance
        noLimit.scheduling = nil
        #expect(!sweeper.isExpired(noLimit, at: created.addingTimeInterval(1060)))
        #expect(sweeper.isExpired(noLimit, at: created.addingTimeInterval(1061)))
    }
}

/// The fake's insert check can fail: each broken field of a valid body is refused with a 400 naming it.
@Suite struct FakeComputeEngineChecksTests {
    @Test func theFakeRefusesBodiesThatBreakTheShape() async throws {
        try await ComputeEngineHarness.with { h in
            let token = try await h.tokens.token()
            let valid =
                try JSONSerialization.jsonObject(with: h.jobRequest(ComputeEngineHarness.jobID()).jsonBody())
                as! [String: Any]
            func post(_ body: [String: Any]) async throws -> (Int, String) {
                let answer = try await h.raw(
                    .POST,
                    "/projects/\(h.key.projectID)/zones/\(h.fake.zone)/instances?requestId=\(UUID().uuidString)",
                    headers: [("authorization", "Bearer \(token)"), ("content-type", "application/json")],
                    body: try JSONSerialization.data(withJSONObject: body)
                )
                let error = answer.json["error"] as? [String: Any]
                return (answer.status, error?["message"] as? String ?? "")
            }
            func scheduling(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
                var body = valid
                var s = body["scheduling"] as! [String: Any]
                change(&s)
                body["scheduling"] = s
                return body
            }
            var cases: [(String, [String: Any])] = []
            var noTDX = valid
            noTDX.removeValue(forKey: "confidentialInstanceConfig")
            cases.append(("resource.confidentialInstanceConfig'", noTDX))
            var sev = valid
            sev["confidentialInstanceConfig"] = ["confidentialInstanceType": "SEV"]
            cases.append(("confidentialInstanceType", sev))
            cases.append(("scheduling.onHostMaintenance", scheduling { $0["onHostMaintenance"] = "MIGRATE" }))
            cases.append(("scheduling.maxRunDuration'", scheduling { $0.removeValue(forKey: "maxRunDuration") }))
            cases.append(("scheduling.maxRunDuration.seconds", scheduling { $0["maxRunDuration"] = ["seconds": 60] }))
            cases.append(("scheduling.automaticRestart", scheduling { $0["automaticRestart"] = true }))
            cases.append(
                ("scheduling.instanceTerminationAction", scheduling { $0["instanceTerminationAction"] = "STOP" })
            )
            var badName = valid
            badName["name"] = "Delong_Job"
            cases.append(("resource.name'", badName))
            var noGVNIC = valid
            noGVNIC["networkInterfaces"] = [["network": "global/networks/default"]]
            cases.append(("nicType", noGVNIC))
            var badImage = valid
            badImage["disks"] = [
                ["boot": true, "autoDelete": true, "initializeParams": ["sourceImage": "ubuntu", "diskSizeGb": "10"]]
            ]
            cases.append(("sourceImage", badImage))
            var unknown = valid
            unknown["canIpForward"] = true
            cases.append(("Unknown name \"canIpForward\"", unknown))
            for (field, body) in cases {
                let (status, message) = try await post(body)
                #expect(status == 400, "\(field)")
                #expect(message.contains(field), "\(field): \(message)")
            }
            #expect(await h.fake.instancesCreated() == 0)
            let (status, _) = try await post(valid)
            #expect(status == 200)
        }
    }
}
