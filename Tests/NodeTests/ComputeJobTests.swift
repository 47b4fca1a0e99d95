import ChainCore
import ComputingPlane
import Foundation
import PlaneCrypto
import PlaneProtocol
import TestSupport
import Testing

/// Secure jobs end to end on the devnet (issue #14): `compute serve` with a real Privacy Plane, a sealed
/// dataset read through the Decrypt FUSE inside the bubblewrap sandbox, human review, outputs sealed with age
/// to the consumer and recorded on chain, and every way a job can end.
@Suite(.serialized) struct ComputeJobTests {
    /// A mean with a contact address beside it: nothing of the dataset, but a PII pattern the gate sends to
    /// review.
    static let meanAge =
        cleanMean + """

            open("/out/note.txt", "w").write("questions: analyst@example.org\\n")
            """

    /// A mean and nothing else: the gate releases it without review. It also checks that its mount hides
    /// the provider's gate policy.
    static let cleanMean = """
        import csv, os
        assert sorted(os.listdir("/data")) == ["admissions.csv"], os.listdir("/data")
        rows = list(csv.DictReader(open("/data/admissions.csv")))
        mean = sum(int(r["age"]) for r in rows) / len(rows)
        open("/out/mean.txt", "w").write(f"{mean:.4f}\\n")
        print("rows", len(rows))
        """

    /// The events of a job whose output went to review and was released.
    static let reviewedAndReleased = [
        "submitted", "provisioning", "fetching", "attesting", "awaitingKey", "executing", "exited 0",
        "gating", "gate verdict: review", "review: approved", "publishing", "published: released",
    ]

    static let sleeper = """
        import time
        open("/data/admissions.csv").read()
        time.sleep(45)
        """

    @Test func aConsumerPublishesSubmitsAndFetchesAReviewedOutput() async throws {
        let w = try ComputeWorld()
        let plane = try w.startCompute()
        let bundle = try w.bundle("mean", Self.meanAge)
        let image = try await w.publish(bundle)
        let job = try w.submit(to: plane, bundle: bundle)
        #expect(job.hasPrefix("0x") && job.count == 66)

        // Nothing flagged leaves without review: the job waits, and its status names no output file.
        let waiting = try w.waitForPhase(job, "inReview")
        #expect(waiting["phase"] as? String == "inReview", "\(waiting)")
        #expect(waiting["imageDigest"] as? String == image)
        let outputDigest = try #require(waiting["outputDigest"] as? String)
        #expect(!"\(waiting)".contains("mean.txt") && !"\(waiting)".contains("note.txt"))
        // The provider names a second reviewer, and the consumer (who never reviews its own job).
        let named = try w.setReviewers(on: plane, ["reviewer.key", "consumer.key"], required: 2)
        #expect(named.stdout.contains("version 1"), "\(named.stdout)")
        let provider = try w.address("provider.key")
        let second = try w.address("reviewer.key")

        // Only reviewers read the output under review and decide on it; the consumer is not one.
        for who in ["stranger", "consumer"] {
            let view = try w.run(
                [
                    "review", "show", job, "--plane", plane.url, "--allow-insecure-plane-evidence", "--wallet-key",
                    w.path("\(who).key"), "-o", w.path("\(who)-view"),
                ],
                allowFailure: true
            )
            #expect(view.status == 4 && view.stderr.contains("is not a reviewer"), "\(who): \(view.stderr)")
            #expect(!FileManager.default.fileExists(atPath: w.path("\(who)-view")))
            let decision = try w.review("approve", job, on: plane, key: "\(who).key", allowFailure: true)
            #expect(decision.status == 4 && decision.stderr.contains("is not a reviewer"), "\(decision.stderr)")
        }
        let shown = try w.run(
            [
                "review", "show", job, "--plane", plane.url, "--allow-insecure-plane-evidence", "--wallet-key",
                w.path("provider.key"), "-o", w.path("review-view"),
            ]
        )
        // The findings name the file, the check and the place.
        #expect(shown.stdout.contains("gate: review") && shown.stdout.contains("out/note.txt: pii"), "\(shown.stdout)")
        let reviewed = try String(contentsOfFile: w.path("review-view/out/mean.txt"), encoding: .utf8)
        #expect(reviewed == w.expectedMean + "\n")
        #expect(try String(contentsOfFile: w.path("review-view/log.txt"), encoding: .utf8).contains("rows 200"))

        // Two approvals are needed: the provider's alone leaves the job waiting, and a second one from the
        // same wallet is refused.
        let first = try w.review("approve", job, on: plane)
        #expect(first.stdout.contains("1 of 2 approvals, waiting"), "\(first.stdout)")
        let again = try w.review("approve", job, on: plane, allowFailure: true)
        #expect(again.status != 0 && again.stderr.contains("already decided"), "\(again.stderr)")
        let half = try w.status(job)
        let panel = try #require(half["review"] as? [String: Any])
        #expect(half["phase"] as? String == "inReview")
        #expect(panel["reviewers"] as? [String] == [provider, second] && panel["required"] as? Int == 2, "\(panel)")
        #expect(panel["summary"] as? String == "1 of 2 reviewers have decided", "\(panel)")
        let last = try w.review("approve", job, on: plane, key: "reviewer.key")
        #expect(last.stdout.contains("2 of 2 approvals, approved"), "\(last.stdout)")

        let done = try w.waitForEnd(job)
        #expect(done["outcome"] as? String == "released", "\(done)")
        #expect(done["outputDigest"] as? String == outputDigest)
        let events = (done["phases"] as? [[String: Any]] ?? []).compactMap { $0["event"] as? String }
        #expect(events == Self.reviewedAndReleased, "\(events)")

        // The consumer verifies against its own light client, then decrypts.
        try w.syncConsumerIndex()
        let fetched = try w.run(
            [
                "job", "fetch", job, "-i", w.path("consumer-age.txt"), "-o", w.path("output"), "--data-dir",
                w.path("consumer-index"), "--sealed", w.path("output.age"), "--json",
            ]
        )
        #expect(fetched.json?["outputSha256"] as? String == outputDigest, "\(fetched.stdout)")
        #expect(fetched.json?["gateVerdict"] as? String == "review")
        #expect(fetched.json?["reviewers"] as? [String] == [provider, second], "\(fetched.stdout)")
        // The consumer sees each decision and its reason, never the findings.
        let decisions = try #require((done["review"] as? [String: Any])?["decisions"] as? [[String: Any]])
        #expect(decisions.count == 2 && decisions.allSatisfy { $0["reason"] as? String == "checked by the test" })
        #expect(!"\(done)".contains("analyst@") && !"\(done)".contains("pii"))

        // The plane's decision log verifies as a chain; this job's entries are its gate verdict, two reviews
        // and the approval, and the last one's hash is the reviewDigest the signed record names.
        let (_, logAnswer) = try await PlaneWorld.call(plane.url, "/v1/reviews/log")
        let lines = try #require(logAnswer["entries"] as? [String])
        let entries = try DecisionLog.verify(Array(lines.map { $0 + "\n" }.joined().utf8))
        let ours = entries.filter { $0.job.hex == job }
        #expect(ours.map(\.kind) == ["gate", "review", "review", "outcome"])
        #expect(ours.last?.hash.hex == fetched.json?["reviewDigest"] as? String)
        #expect(try String(contentsOfFile: w.path("output/out/mean.txt"), encoding: .utf8) == w.expectedMean + "\n")

        // The consumer kept the ciphertext it checked: the plane's own file, byte for byte. Debian's age opens
        // it with the consumer's identity; GNU tar reads the archive.
        let sealed = w.path("output.age")
        #expect(
            FileManager.default.contents(atPath: sealed)
                == FileManager.default.contents(atPath: w.path("compute-state/results/\(job.dropFirst(2))/output.age"))
        )
        let plain = try DelongProcess.run(
            executable: "/usr/bin/age",
            ["-d", "-i", w.path("consumer-age.txt"), "-o", w.path("output.tar"), sealed]
        )
        #expect(plain.status == 0, "\(plain.stderr)")
        let listing = try DelongProcess.run(executable: "/usr/bin/tar", ["-tf", w.path("output.tar")])
        #expect(listing.stdout.split(separator: "\n").sorted() == ["log.txt", "out/", "out/mean.txt", "out/note.txt"])

        // Another identity cannot open it, and a second fetch into an existing directory writes nothing.
        try w.run(["key", "new", "--out", w.path("other-age.txt")])
        let wrongKey = try w.run(
            [
                "job", "fetch", job, "-i", w.path("other-age.txt"), "-o", w.path("output-2"), "--data-dir",
                w.path("consumer-index"),
            ],
            allowFailure: true
        )
        #expect(wrongKey.status == 1, "\(wrongKey.stderr)")
        #expect(!FileManager.default.fileExists(atPath: w.path("output-2")))
        // A --sealed file that exists already is refused before anything is fetched or written.
        let existing = try w.run(
            [
                "job", "fetch", job, "-i", w.path("consumer-age.txt"), "-o", w.path("output-3"), "--data-dir",
                w.path("consumer-index"), "--sealed", w.path("output.age"),
            ],
            allowFailure: true
        )
        #expect(existing.status == 2 && existing.stderr.contains("--sealed"), "\(existing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: w.path("output-3")))

        // The job shows in the list; its logs are phase events and resources, not the job's output.
        let list = try w.run(["job", "list"]).stdout
        #expect(list.contains(job) && list.contains("released"))
        let logs = try w.run(["job", "logs", job]).stdout
        #expect(logs.contains("exited 0") && logs.contains("resources:") && !logs.contains("rows 200"))
    }

    @Test func aRejectedOutputReleasesNothing() async throws {
        let w = try ComputeWorld()
        let plane = try w.startCompute()
        let releasedKeys = ["kind": "sandbox", "outcome": "released"]
        let keysBefore = try await MetricsScrape.scrape(w.privacy.url).at("delong_key_releases_total", releasedKeys)
        let before = try await MetricsScrape.scrape(plane.url)
        #expect(before.at("delong_compute_job_outcomes_total", ["outcome": "reviewRejected"]) == 0, "\(before.samples)")
        #expect(before.at("delong_compute_jobs", ["stage": "finished"]) == 0)
        #expect(before.at("delong_explore_sessions_open") == 0)
        let bundle = try w.bundle("mean", Self.meanAge)
        try await w.publish(bundle)
        let job = try w.submit(to: plane, bundle: bundle)
        _ = try w.waitForPhase(job, "inReview")
        try w.review("reject", job, on: plane)
        let done = try w.waitForEnd(job)
        #expect(done["outcome"] as? String == "reviewRejected", "\(done)")
        // One rejection rejects, even though the provider alone could never make two approvals.
        let summary = (done["review"] as? [String: Any])?["summary"] as? String
        #expect(summary?.hasPrefix("rejected by") == true, "\(done)")
        #expect(done["cipherDigest"] is NSNull || done["cipherDigest"] == nil)
        let (status, body) = try await PlaneWorld.call(plane.url, "/v1/jobs/\(job)/output")
        #expect(status == 409, "\(body)")
        // A decision after the end changes nothing.
        let late = try w.review("approve", job, on: plane, allowFailure: true)
        #expect(late.status != 0)
        #expect(try w.status(job)["outcome"] as? String == "reviewRejected")

        // A job that fails gets a leak-safe summary at once (the built-in exception and the bundle's line), never
        // its message, which is part of its stderr and so an output.
        let failing = try w.bundle("failing", "import csv\nrows = list(open('/data/admissions.csv'))\nint(rows[1])\n")
        try await w.publish(failing)
        let failed = try w.waitForEnd(try w.submit(to: plane, bundle: failing))
        #expect(failed["outcome"] as? String == "exited(1)", "\(failed)")
        #expect(failed["failure"] as? String == "ValueError at main.py line 3", "\(failed)")
        #expect(!"\(failed)".contains("invalid literal"))

        // /metrics moved with both jobs: each outcome counted once by its name (never the job's id), the job
        // log's gauges agree, the 409 counted under its route template, and the Privacy Plane released 2 keys.
        let after = try await MetricsScrape.scrape(plane.url)
        let outcomes = "delong_compute_job_outcomes_total"
        #expect(after.at(outcomes, ["outcome": "reviewRejected"]) == 1, "\(after.samples(of: outcomes))")
        #expect(after.at(outcomes, ["outcome": "exited"]) == 1)
        #expect(after.at(outcomes, ["outcome": "released"]) == 0)
        #expect(after.seriesCount(outcomes) == 7)
        #expect(after.at("delong_compute_outcomes", ["outcome": "reviewRejected"]) == 1)
        #expect(after.at("delong_compute_jobs", ["stage": "finished"]) == 2)
        #expect(after.at("delong_compute_jobs", ["stage": "running"]) == 0)
        #expect(
            after.at(
                "delong_http_requests_total",
                ["route": "/v1/jobs/{id}/output", "method": "GET", "status": "4xx"]
            ) == 1
        )
        let keysAfter = try await MetricsScrape.scrape(w.privacy.url).at("delong_key_releases_total", releasedKeys)
        #expect(keysAfter - keysBefore == 2, "\(keysBefore) → \(keysAfter)")
    }

    @Test func eachCheckBeforeTheRunRefusesWithItsOwnOutcome() async throws {
        let w = try ComputeWorld()
        let plane = try w.startCompute()

        // A bundle whose DA object is gone: refused(bundleDigest).
        let gone = try w.bundle("gone", Self.meanAge + "\n# gone\n")
        try await w.publish(gone)
        let digest = try w.run(["bundle", "digest", gone]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try FileManager.default.removeItem(atPath: w.da + "/sha256/" + digest.dropFirst("sha256:".count))
        let goneJob = try w.submit(to: plane, bundle: gone)
        let goneEnd = try w.waitForEnd(goneJob)
        #expect(goneEnd["outcome"] as? String == "refused(bundleDigest)", "\(goneEnd)")
        #expect((goneEnd["detail"] as? String)?.contains("expected the bundle") == true)

        // Published for another runtime than this plane's: refused(imageDigest), before any key is asked for.
        let other = try w.bundle("other-runtime", Self.meanAge + "\n# other\n")
        let otherRuntime = "sha256:" + String(repeating: "ab", count: 32)
        let image = try await w.publish(other, runtime: otherRuntime)
        let otherJob = try w.run(
            [
                "job", "submit", "--plane", plane.url, "--allow-insecure-plane-evidence", "--session",
                w.path("consumer.session"), "--wallet-key", w.path("consumer.key"), "--dataset", w.dataset, "--bundle",
                other, "--recipient", try w.recipient,
            ],
            allowFailure: true
        )
        // The CLI computes the image from the plane's runtime, which differs, so the Privacy Plane finds no
        // such algorithm; the plane's own check is exercised with a hand-made request below.
        #expect(otherJob.status != 0)
        let refusedImage = try await w.postJob(to: plane, image: image)
        let imageEnd = try w.waitForEnd(refusedImage, on: plane)
        #expect(imageEnd["outcome"] as? String == "refused(imageDigest)", "\(imageEnd)")
        #expect((imageEnd["detail"] as? String)?.contains("this plane runs") == true)

        // A token the Privacy Plane did not sign (altered after signing): refused(token).
        let mean = try w.bundle("mean", Self.meanAge)
        let meanImage = try await w.publish(mean)
        let forged = try await w.postJob(to: plane, image: meanImage, alterToken: true)
        let forgedEnd = try w.waitForEnd(forged, on: plane)
        #expect(forgedEnd["outcome"] as? String == "refused(token)", "\(forgedEnd)")

        // A request not signed by the token's consumer is not even recorded.
        let strangers = try await w.jobBody(for: plane, image: meanImage, signer: PlaneWorld.strangerKey)
        let (status, body) = try await PlaneWorld.call(plane.url, "/v1/jobs", strangers.body)
        #expect(status == 400 && "\(body)".contains("signed by"), "\(status) \(body)")
        #expect(try await PlaneWorld.call(plane.url, "/v1/jobs/\(strangers.job)").0 == 404)

        // An Explore Mode token never runs a Secure job: refused(token).
        let explore = try await w.jobBody(for: plane, image: meanImage, explore: true)
        #expect(try await PlaneWorld.call(plane.url, "/v1/jobs", explore.body).0 == 202)
        let exploreEnd = try w.waitForEnd(explore.job, on: plane)
        #expect(exploreEnd["outcome"] as? String == "refused(token)", "\(exploreEnd)")
        #expect((exploreEnd["detail"] as? String)?.contains("explore") == true)

        // A token for another Computing Plane (another authorized operator): refused(token).
        let otherOperator = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"  // dev account 7
        try w.call(as: "governance", "AlgorithmRegistry", "setOperator", [otherOperator, "true"])
        _ = try await w.world.devnet.call("anvil_mine", params: "[\"0x2\"]")
        try await w.waitForHead(of: w.privacy)
        let elsewhere = try await w.jobBody(for: plane, image: meanImage, audience: otherOperator)
        #expect(try await PlaneWorld.call(plane.url, "/v1/jobs", elsewhere.body).0 == 202)
        let elsewhereEnd = try w.waitForEnd(elsewhere.job, on: plane)
        #expect(elsewhereEnd["outcome"] as? String == "refused(token)", "\(elsewhereEnd)")
        #expect((elsewhereEnd["detail"] as? String)?.contains("not this one") == true, "\(elsewhereEnd)")

        // An agent whose measurements are not on the on-chain allow-list: refused(attestation).
        let untrusted = try w.startCompute("untrusted", measurements: String(repeating: "11", count: 192))
        let attestationJob = try w.submit(to: untrusted, bundle: mean)
        let attestationEnd = try w.waitForEnd(attestationJob)
        #expect(attestationEnd["outcome"] as? String == "refused(attestation)", "\(attestationEnd)")

        // A token issued while the rental was active, submitted after the provider revoked it: refused(rental).
        let late = try await w.jobBody(for: plane, image: meanImage)
        let consumer = try Secp256k1.shared.address(privateKey: try Hex.decode(PlaneWorld.consumerKey))
        try w.call(as: "demoProviders:0", "DataMarket", "revokeRental", [w.dataset, consumer.checksummed])
        try await w.waitForHead(of: plane)
        #expect(try await PlaneWorld.call(plane.url, "/v1/jobs", late.body).0 == 202)
        let rentalEnd = try w.waitForEnd(late.job, on: plane)
        #expect(rentalEnd["outcome"] as? String == "refused(rental)", "\(rentalEnd)")
    }

    @Test func cancelEndsAJobOnceInEveryPhaseItCanBeCaughtIn() async throws {
        let w = try ComputeWorld()
        let plane = try w.startCompute()
        let sleeper = try w.bundle("sleeper", Self.sleeper)
        try await w.publish(sleeper)
        let mean = try w.bundle("mean", Self.meanAge)
        try await w.publish(mean)

        let running = try w.submit(to: plane, bundle: sleeper)
        _ = try w.waitForPhase(running, "executing")
        let queued = try w.submit(to: plane, bundle: mean)
        #expect(try w.status(queued)["phase"] as? String == "queued")

        // Queued: ends at once; cancelling again changes nothing.
        for _ in 0..<2 {
            let cancelled = try w.run(["job", "cancel", queued, "--wallet-key", w.path("consumer.key")])
            #expect(cancelled.stdout.contains("killed(cancelled)"), "\(cancelled.stdout)")
        }
        // Only the consumer may cancel.
        let stranger = try w.run(
            ["job", "cancel", running, "--wallet-key", w.path("stranger.key")],
            allowFailure: true
        )
        #expect(stranger.status != 0 && stranger.stderr.contains("only the job's consumer"), "\(stranger.stderr)")
        // Executing: the sandbox is killed and the dataset unmounted.
        let started = Date()
        try w.run(["job", "cancel", running])
        #expect(try w.status(running)["outcome"] as? String == "killed(cancelled)")
        _ = try w.wait(running, seconds: 20) { _ in
            !((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").contains(
                w.path("compute-work")
            )
        }
        #expect(Date().timeIntervalSince(started) < 20)

        // In review: the output is dropped, and a later decision is refused.
        let reviewed = try w.submit(to: plane, bundle: mean)
        _ = try w.waitForPhase(reviewed, "inReview")
        try w.run(["job", "cancel", reviewed, "--wallet-key", w.path("consumer.key")])
        #expect(try w.status(reviewed)["outcome"] as? String == "killed(cancelled)")
        #expect(try w.review("approve", reviewed, on: plane, allowFailure: true).status != 0)

        // A finished job stays as it ended.
        let again = try w.run(["job", "cancel", running, "--wallet-key", w.path("consumer.key")])
        #expect(again.stdout.contains("killed(cancelled)"))
        let work = (try? FileManager.default.contentsOfDirectory(atPath: w.path("compute-work"))) ?? []
        _ = try w.wait(running, seconds: 20) { _ in
            ((try? FileManager.default.contentsOfDirectory(atPath: w.path("compute-work"))) ?? []).isEmpty
        }
        #expect(work.count <= 1)
    }

    @Test func aRunnerKilledMidJobIsFoundAtRestartAndSweptUp() async throws {
        let w = try ComputeWorld()
        var plane = try w.startCompute()
        let sleeper = try w.bundle("sleeper", Self.sleeper)
        try await w.publish(sleeper)
        let job = try w.submit(to: plane, bundle: sleeper)
        _ = try w.waitForPhase(job, "executing")
        plane.signal(SIGKILL)
        for _ in 0..<100 where plane.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!plane.isRunning)

        let port = String(plane.url.split(separator: ":").last ?? "0")
        // Another runner's sandbox on the same host (no plane's name) must survive this plane's sweep.
        let foreign = "/run/delong/sandbox/job-0-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: foreign) }
        plane = try w.startCompute(listen: "127.0.0.1:" + port)
        #expect(FileManager.default.fileExists(atPath: foreign), "the restart swept another runner's sandbox")
        let status = try w.status(job)
        #expect(status["outcome"] as? String == "killed(runnerLost)", "\(status)")
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains(w.path("compute-work")), "a mount of the lost job remains")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: w.path("compute-work"))) ?? []).isEmpty)
        // A work directory job uids cannot reach is refused at start, naming the directory in the way.
        let closed = w.path("closed")
        try FileManager.default.createDirectory(atPath: closed, withIntermediateDirectories: true)
        chmod(closed, 0o700)
        let refused = try w.run(
            [
                "compute", "serve", "--rpc", w.world.devnet.url, "--contracts", w.world.deploymentPath, "--checkpoint",
                "0:\(w.world.genesis)", "--data-dir", w.path("closed-index"), "--finality", "1", "--listen",
                "127.0.0.1:0", "--operator-key", w.path("operator.key"), "--privacy-plane", w.privacy.url,
                "--allow-insecure-plane-evidence", "--da", w.da, "--datasets", w.datasets,
                "--insecure-dev-measurements",
                w.measurements, "--work-dir", closed + "/work",
            ],
            allowFailure: true
        )
        #expect(refused.status == 2 && refused.stderr.contains("not reachable by job uids"), "\(refused.stderr)")
        // The restarted plane runs new jobs.
        let mean = try w.bundle("mean", Self.meanAge)
        try await w.publish(mean)
        let next = try w.submit(to: plane, bundle: mean)
        #expect(try w.waitForPhase(next, "inReview")["phase"] as? String == "inReview")
    }

    /// The lease test of the issue: a 5 s lease; a job that reads the dataset in a loop and records each read
    /// in /out (the test copies it from the host while the job runs); the rental is revoked on chain mid-job.
    @Test func aRentalRevokedMidJobKillsTheJobAndStopsTheReads() async throws {
        let w = try ComputeWorld(leaseSeconds: 5)
        let plane = try w.startCompute()
        let reader = try w.bundle(
            "reader",
            """
            import time
            log = open("/out/reads.txt", "w", buffering=1)
            end = time.time() + 50
            while time.time() < end:
                try:
                    n = len(open("/data/admissions.csv", "rb").read())
                    log.write(f"{time.time():.3f} ok {n}\\n")
                except OSError as e:
                    log.write(f"{time.time():.3f} error {e.errno}\\n")
                time.sleep(0.1)
            """
        )
        try await w.publish(reader)
        let job = try w.submit(to: plane, bundle: reader)
        _ = try w.waitForPhase(job, "executing")
        let reads = ReadsWatcher(stateDirectory: "/run/delong/sandbox")
        reads.start()
        try await Task.sleep(for: .seconds(3))
        let consumer = try Secp256k1.shared.address(privateKey: try Hex.decode(PlaneWorld.consumerKey))
        try w.call(as: "demoProviders:0", "DataMarket", "revokeRental", [w.dataset, consumer.checksummed])
        let revokedAt = Date().timeIntervalSince1970
        let done = try w.waitForEnd(job, seconds: 30)
        reads.stop()
        #expect(done["outcome"] as? String == "killed(revoked)", "\(done)")
        let killedAt = ((done["phases"] as? [[String: Any]])?.last?["at"] as? Int).map { Double($0) / 1000 } ?? 0
        #expect(killedAt - revokedAt <= 10, "killed \(killedAt - revokedAt) s after the revocation (lease 5 s + 5 s)")
        let lines = reads.lines
        let ok = lines.filter { $0.contains(" ok ") }.compactMap { Double($0.split(separator: " ")[0]) }
        #expect(ok.count >= 10, "the job read the dataset before the revocation: \(lines.suffix(5))")
        #expect(ok.allSatisfy { $0 <= killedAt }, "a read succeeded after the kill: \(ok.last ?? 0) > \(killedAt)")
        #expect(!"\(done)".contains("reads.txt"))
        let (status, _) = try await PlaneWorld.call(plane.url, "/v1/jobs/\(job)/output")
        #expect(status == 409)
    }

    /// The Output Gate in the pipeline: a clean output is released without review (and kept for
    /// differencing), a copy of the data is blocked and nothing leaves, and a flagged output with too few
    /// eligible reviewers says so at once.
    @Test func theGateReleasesCleanOutputsBlocksLeaksAndNamesAShortPanel() async throws {
        let w = try ComputeWorld()
        let plane = try w.startCompute()
        let clean = try w.bundle("clean", Self.cleanMean)
        try await w.publish(clean)
        let cleanJob = try w.submit(to: plane, bundle: clean)
        let released = try w.waitForEnd(cleanJob)
        #expect(released["outcome"] as? String == "released", "\(released)")
        let events = (released["phases"] as? [[String: Any]] ?? []).compactMap { $0["event"] as? String }
        #expect(events.contains("gate verdict: release") && !events.contains { $0.hasPrefix("review") }, "\(events)")
        #expect(released["review"] is NSNull)
        try w.syncConsumerIndex()
        let fetched = try w.run(
            [
                "job", "fetch", cleanJob, "-i", w.path("consumer-age.txt"), "-o", w.path("clean-output"),
                "--data-dir", w.path("consumer-index"), "--json",
            ]
        )
        #expect(fetched.json?["gateVerdict"] as? String == "release", "\(fetched.stdout) \(fetched.stderr)")
        #expect(
            try String(contentsOfFile: w.path("clean-output/out/mean.txt"), encoding: .utf8) == w.expectedMean + "\n"
        )
        let history = w.path("compute-state/results/history/\(w.dataset.dropFirst(2))/\(cleanJob.dropFirst(2)).tar")
        #expect(FileManager.default.fileExists(atPath: history))

        // A copy of the table is certain: blocked, and nothing leaves.
        let copy = try w.bundle("copy", "import shutil\nshutil.copy('/data/admissions.csv', '/out/copy.csv')\n")
        try await w.publish(copy)
        let copyJob = try w.submit(to: plane, bundle: copy)
        let blocked = try w.waitForEnd(copyJob)
        #expect(blocked["outcome"] as? String == "gateBlocked", "\(blocked)")
        #expect(!"\(blocked)".contains("ADM-") && !"\(blocked)".contains("copy.csv"))
        let (status, body) = try await PlaneWorld.call(plane.url, "/v1/jobs/\(copyJob)/output")
        #expect(status == 409, "\(body)")
        #expect(
            !FileManager.default.fileExists(atPath: w.path("compute-state/results/\(copyJob.dropFirst(2))/output.age"))
        )
        let (_, log) = try await PlaneWorld.call(plane.url, "/v1/reviews/log")
        let lines = (log["entries"] as? [String] ?? []).filter { $0.contains(String(copyJob.dropFirst(2))) }
        #expect(lines.count == 1 && lines[0].contains("\"verdict\":\"block\""), "\(lines)")

        // Flagged, and the provider is the only reviewer of two needed: the status says so at once.
        let flagged = try w.bundle("mean", Self.meanAge)
        try await w.publish(flagged)
        let flaggedJob = try w.submit(to: plane, bundle: flagged)
        let waiting = try w.waitForPhase(flaggedJob, "inReview")
        let shortfall = (waiting["review"] as? [String: Any])?["summary"] as? String
        #expect(shortfall?.contains("needs 2 approving reviewers; 1 eligible") == true, "\(waiting)")
        let (_, queue) = try await PlaneWorld.call(plane.url, "/v1/reviews")
        let listed = (queue["reviews"] as? [[String: Any]] ?? []).first { $0["job"] as? String == flaggedJob }
        #expect(listed?["required"] as? Int == 2 && listed?["shortfall"] is String, "\(queue)")
        try w.review("reject", flaggedJob, on: plane)
        #expect(try w.waitForEnd(flaggedJob)["outcome"] as? String == "reviewRejected")
    }

    @Test func outputsThatBreakTheRulesAreDroppedOrKillTheJob() async throws {
        let w = try ComputeWorld()
        let plane = try w.startCompute("compute", ["--max-output", "1MiB"])
        let link = try w.bundle(
            "link",
            """
            import os
            open("/out/kept.txt", "w").write("kept\\n")
            open("/out/note.txt", "w").write("questions: analyst@example.org\\n")
            os.symlink("/data/admissions.csv", "/out/leak.csv")
            """
        )
        try await w.publish(link)
        let linked = try w.submit(to: plane, bundle: link)
        _ = try w.waitForPhase(linked, "inReview")
        try w.run(
            [
                "review", "show", linked, "--plane", plane.url, "--allow-insecure-plane-evidence", "--wallet-key",
                w.path("provider.key"), "-o", w.path("link-view"),
            ]
        )
        #expect(FileManager.default.fileExists(atPath: w.path("link-view/out/kept.txt")))
        #expect(!FileManager.default.fileExists(atPath: w.path("link-view/out/leak.csv")))

        let big = try w.bundle("big", "open('/out/big.bin', 'wb').write(b'x' * (4 << 20))\n")
        try await w.publish(big)
        let bigJob = try w.submit(to: plane, bundle: big)
        let end = try w.waitForEnd(bigJob)
        #expect(end["outcome"] as? String == "killed(outputLimit)", "\(end)")
    }
}

/// Copies a running job's /out/reads.txt from the host every 100 ms (root reads the sandbox's staging
/// directory), so the test sees what the job read even though a killed job releases nothing.
final class ReadsWatcher: @unchecked Sendable {
    let stateDirectory: String
    private let lock = NSLock()
    private var seen: [String] = []
    private var running = true

    init(stateDirectory: String) { self.stateDirectory = stateDirectory }

    var lines: [String] { lock.withLock { seen } }

    func start() {
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? []
                for name in names where name.contains("job-") {
                    if let text = try? String(
                        contentsOfFile: "\(stateDirectory)/\(name)/out/reads.txt",
                        encoding: .utf8
                    ) {
                        let got = text.split(separator: "\n").map(String.init)
                        lock.withLock { if got.count > seen.count { seen = got } }
                    }
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    func stop() { lock.withLock { running = false } }
}

extension ComputeWorld {
    /// POSTs a job built by hand (see ``jobBody``); returns the job id.
    func postJob(to plane: ReadyService, image: String, alterToken: Bool = false) async throws -> String {
        let (job, body) = try await jobBody(for: plane, image: image, alterToken: alterToken)
        let (status, answer) = try await PlaneWorld.call(plane.url, "/v1/jobs", body)
        #expect(status == 202, "\(answer)")
        return job
    }

    /// A job request built by hand: a fresh token from the Privacy Plane for `image` (Secure Mode for `plane`'s
    /// operator unless told otherwise; optionally altered after signing) and a request signed by `signer`.
    func jobBody(
        for plane: ReadyService,
        image: String,
        signer: String = PlaneWorld.consumerKey,
        alterToken: Bool = false,
        explore: Bool = false,
        audience: String? = nil
    ) async throws -> (job: String, body: [String: Any]) {
        let attestation = try await PlaneWorld.call(plane.url, "/v1/attestation").1
        let operatorAddress = try #require(attestation["signer"] as? String)
        let job = explore ? Hash32.zero.hex : Keccak256.hash(Array(UUID().uuidString.utf8)).hex
        let session = try String(contentsOfFile: path("consumer.session"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let tokenRequest: [String: Any] =
            explore
            ? ["dataset": dataset, "mode": "explore", "audience": audience ?? operatorAddress]
            : [
                "dataset": dataset, "mode": "secure", "imageDigest": image, "jobId": job,
                "audience": audience ?? operatorAddress,
            ]
        let (tokenStatus, tokenJSON) = try await PlaneWorld.call(
            privacy.url,
            "/v1/tokens",
            tokenRequest,
            session: session
        )
        #expect(tokenStatus == 200, "\(tokenJSON)")
        var token = try SignedAccessToken(json: tokenJSON)
        let registry = try Address(
            hex: (world.deployment["AlgorithmRegistry"] as? [String: Any])?["address"] as? String ?? ""
        )
        if alterToken { token.token.notBefore -= 1 }
        let request = JobRequest(
            jobID: try Hash32(hex: job),
            dataset: try Hash32(hex: dataset),
            imageDigest: explore ? .zero : try Hash32(hex: image),
            tokenHash: try token.token.signingHash(TokenDomain(chainID: world.chainID, verifyingContract: registry)),
            plane: try Address(hex: operatorAddress),
            outputRecipient: try AgeRecipient(parsing: try recipient),
            limits: JobLimits(cpus: 1, memoryBytes: 512 << 20, timeoutSeconds: 60)
        )
        let signed = try SignedJobRequest(
            signing: request,
            domain: JobDomain(chainID: world.chainID, verifyingContract: registry),
            privateKey: try Hex.decode(signer)
        )
        return (job, ["token": token.json, "request": signed.json])
    }
}
