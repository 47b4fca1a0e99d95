import Foundation
import Glibc
import TestSupport
import Testing

/// The escape suite: `delong sandbox run` as an operator runs it, with probe jobs that try to get out.
/// Probes reach only this machine: listeners the test opens on the host's loopback and abstract sockets.
@Suite(.serialized) struct SandboxEscapeTests {
    /// Runs `script` as main.py with `data` at /data; returns the result JSON, the exit status and stderr.
    static func run(
        _ script: String,
        data: [String: String] = ["t.csv": "a,b\n1,2\n"],
        options: [String] = []
    ) throws -> (json: [String: Any], status: Int32, stderr: String, out: URL) {
        let dir = try DelongProcess.temporaryDirectory()
        chmod(dir.path, 0o755)
        let bundle = dir.appendingPathComponent("bundle")
        let dataDir = dir.appendingPathComponent("data")
        for d in [bundle, dataDir] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            chmod(d.path, 0o755)
        }
        try Data(script.utf8).write(to: bundle.appendingPathComponent("main.py"))
        for (name, text) in data {
            try Data(text.utf8).write(to: dataDir.appendingPathComponent(name))
            chmod(dataDir.appendingPathComponent(name).path, 0o644)
        }
        let out = dir.appendingPathComponent("out")
        let r = try DelongProcess.run(
            ["sandbox", "run", bundle.path, "--data", dataDir.path, "--out", out.path, "--json"] + options
        )
        let json = try #require(r.json, "stdout: \(r.stdout)\nstderr: \(r.stderr)")
        return (json, r.status, r.stderr, out)
    }

    /// The lines the job printed as `KEY value` on stdout, which `sandbox run` forwards to stderr.
    static func probes(_ stderr: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in stderr.split(separator: "\n") where line.hasPrefix("PROBE ") {
            let parts = line.dropFirst(6).split(separator: " ", maxSplits: 1)
            out[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return out
    }

    @Test func theJobHasNoNetworkAndCannotReachHostLoopbackOrAbstractSockets() throws {
        // Host listeners: TCP and UDP on 127.0.0.1, TCP on ::1, an abstract Unix socket.
        let tcp = try Listener(family: AF_INET, stream: true)
        let udp = try Listener(family: AF_INET, stream: false)
        let tcp6 = try Listener(family: AF_INET6, stream: true)
        let abstract = "delong-test-\(UUID().uuidString)"
        let unix = try Listener(abstract: abstract)
        defer { [tcp, udp, tcp6, unix].forEach { $0.close() } }
        let (json, _, stderr, _) = try Self.run(
            """
            import socket, os
            def attempt(key, f):
                try:
                    f(); print("PROBE", key, "reached", flush=True)
                except OSError as e:
                    print("PROBE", key, "refused", e.errno, flush=True)
            print("PROBE interfaces", ",".join(sorted(n for _, n in socket.if_nameindex())), flush=True)
            attempt("tcp", lambda: socket.create_connection(("127.0.0.1", \(tcp.port)), timeout=2))
            attempt("tcp6", lambda: socket.create_connection(("::1", \(tcp6.port)), timeout=2))
            def udp():
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"x", ("127.0.0.1", \(udp.port)))
            attempt("udp", udp)
            def abstract():
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect("\\0\(abstract)")
            attempt("abstract", abstract)
            attempt("outside", lambda: socket.create_connection(("192.0.2.1", 80), timeout=2))
            routes = open("/proc/net/route").read().strip().splitlines()[1:]
            print("PROBE routes", len(routes), flush=True)
            """
        )
        #expect(json["exitCode"] as? Int == 0, "\(stderr)")
        let p = Self.probes(stderr)
        #expect(p["interfaces"] == "lo")
        #expect(p["tcp"]?.hasPrefix("refused") == true)
        #expect(p["tcp6"]?.hasPrefix("refused") == true)
        #expect(p["abstract"]?.hasPrefix("refused") == true)
        #expect(p["outside"] == "refused \(ENETUNREACH)")
        #expect(p["routes"] == "0")
        #expect(tcp.accepted() == 0 && tcp6.accepted() == 0 && unix.accepted() == 0)
        #expect(udp.received() == 0, "a UDP datagram reached the host")
    }

    @Test func theJobRunsAsItsOwnHostUidWithNoCapabilitiesAndSeesNothingOfTheHost() throws {
        // While the job runs, the host sees its Python process: every uid of it must be the job's.
        // A thread of its own: the run below blocks this test's thread, and the cooperative pool may have no other.
        let finished = Flag()
        defer { finished.set() }  // when the run throws; the normal path sets it right after the run
        let seen = Found()
        Thread.detachNewThread {
            while !finished.isSet {
                let found = Self.processes(running: "/job/main.py")
                if !found.isEmpty {
                    seen.store(found)
                    return
                }
                usleep(20_000)
            }
        }
        let secret = "/tmp/delong-host-secret-\(UUID().uuidString)"
        try Data("secret".utf8).write(to: URL(fileURLWithPath: secret))
        defer { unlink(secret) }
        let (json, _, stderr, _) = try Self.run(
            """
            import os
            import time
            status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
            for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
                print("PROBE", k, status[k].strip(), flush=True)
            print("PROBE secret", os.path.exists("\(secret)"), flush=True)
            print("PROBE root", os.path.exists("/root"), flush=True)
            print("PROBE pids", len([p for p in os.listdir("/proc") if p.isdigit()]), flush=True)
            print("PROBE env", ",".join(sorted(os.environ)), flush=True)
            print("PROBE fds", ",".join(sorted(os.listdir("/proc/self/fd"))), flush=True)
            for path in ("/data/t.csv", "/job/main.py", "/usr/x", "/etc/x", "/out/ok"):
                try:
                    open(path, "a").write("x"); print("PROBE write:" + path, "ok", flush=True)
                except OSError as e:
                    print("PROBE write:" + path, "refused", flush=True)
            time.sleep(1.5)  # while the host looks at this process
            """
        )
        finished.set()
        #expect(json["exitCode"] as? Int == 0, "\(stderr)")
        let p = Self.probes(stderr)
        let uid = try #require(json["uid"] as? Int)
        #expect(uid != 0 && uid != 65534 && uid >= 1000)
        let hostUIDs = seen.value
        #expect(!hostUIDs.isEmpty, "the job's process was never seen on the host")
        for line in hostUIDs { #expect(line == "Uid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)", "the job's host uids: \(line)") }
        for cap in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] { #expect(p[cap] == "0000000000000000", "\(cap)") }
        #expect(p["NoNewPrivs"] == "1")
        #expect(p["Seccomp"] == "2")
        #expect(p["secret"] == "False")
        #expect(p["root"] == "False")
        #expect(Int(p["pids"] ?? "99")! <= 3, "host processes visible: \(p["pids"] ?? "")")
        #expect(p["env"] == "HOME,LANG,MPLCONFIGDIR,PATH,PWD,PYTHONDONTWRITEBYTECODE,TMPDIR")
        // listdir's own descriptor is the one beyond stdin, stdout and stderr.
        #expect(p["fds"] == "0,1,2,3")
        #expect(p["write:/data/t.csv"] == "refused")
        #expect(p["write:/job/main.py"] == "refused")
        #expect(p["write:/usr/x"] == "refused")
        // /etc inside is the sandbox's own scratch root, never the host's.
        #expect(!FileManager.default.fileExists(atPath: "/etc/x"))
        #expect(p["write:/out/ok"] == "ok")
        #expect((try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) != nil)
    }

    /// x86_64 system call numbers of the deny list, written out here independently of libseccomp.
    static let denied: [(String, Int)] = [
        ("ptrace", 101), ("process_vm_readv", 310), ("process_vm_writev", 311), ("pidfd_getfd", 438),
        ("mount", 165), ("umount2", 166), ("pivot_root", 155), ("chroot", 161), ("fsopen", 430), ("fsconfig", 431),
        ("fsmount", 432), ("fspick", 433), ("open_tree", 428), ("move_mount", 429), ("mount_setattr", 442),
        ("unshare", 272), ("setns", 308), ("keyctl", 250), ("add_key", 248), ("request_key", 249), ("bpf", 321),
        ("perf_event_open", 298), ("userfaultfd", 323), ("io_uring_setup", 425), ("io_uring_enter", 426),
        ("io_uring_register", 427), ("kexec_load", 246), ("kexec_file_load", 320), ("init_module", 175),
        ("finit_module", 313), ("delete_module", 176), ("open_by_handle_at", 304), ("name_to_handle_at", 303),
        ("acct", 163), ("swapon", 167), ("swapoff", 168), ("reboot", 169), ("settimeofday", 164),
        ("clock_settime", 227), ("clock_adjtime", 305), ("adjtimex", 159), ("syslog", 103), ("quotactl", 179),
        ("lookup_dcookie", 212), ("vhangup", 153), ("uselib", 134), ("ioperm", 173), ("iopl", 172),
        ("modify_ldt", 154), ("fanotify_init", 300),
    ]

    @Test func everyDeniedCallFailsWithEPERMAndClone3WithENOSYS() throws {
        let calls = Self.denied.map { "(\"\($0.0)\", \($0.1))" }.joined(separator: ", ")
        let (json, _, stderr, _) = try Self.run(
            """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            # Arguments that make each call fail fast if the filter let it through (EFAULT, EINVAL, EBADF...).
            for name, nr in [\(calls)]:
                ctypes.set_errno(0)
                r = libc.syscall(nr, ctypes.c_long(-1), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
                print("PROBE", name, ctypes.get_errno() if r == -1 else "succeeded", flush=True)
            ctypes.set_errno(0)
            r = libc.syscall(435, ctypes.c_long(0), ctypes.c_long(0))
            print("PROBE clone3", ctypes.get_errno() if r == -1 else "succeeded", flush=True)
            CLONE_NEWUSER = 0x10000000
            r = libc.syscall(56, ctypes.c_long(CLONE_NEWUSER | 17), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
            print("PROBE clone_newuser", ctypes.get_errno() if r == -1 else "succeeded", flush=True)
            # TIOCSTI on stdin.
            r = libc.syscall(16, ctypes.c_long(0), ctypes.c_long(0x5412), ctypes.c_char_p(b"x"))
            print("PROBE tiocsti", ctypes.get_errno() if r == -1 else "succeeded", flush=True)
            # Ordinary work still runs: threads (clone), fork.
            import threading; t = threading.Thread(target=lambda: None); t.start(); t.join()
            pid = os.fork()
            if pid == 0: os._exit(7)
            print("PROBE fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
            """
        )
        #expect(json["exitCode"] as? Int == 0, "\(stderr)")
        let p = Self.probes(stderr)
        for (name, _) in Self.denied {
            #expect(
                p[name] == "\(EPERM)",
                "\(name): \(p[name] ?? "no answer") (ENOSPC, EBADF, EFAULT or EINVAL mean the filter missed it)"
            )
        }
        #expect(p["clone3"] == "\(ENOSYS)")
        #expect(p["clone_newuser"] == "\(EPERM)")
        #expect(p["tiocsti"] == "\(EPERM)")
        #expect(p["fork"] == "7")
    }

    @Test func anI386SystemCallKillsTheJob() throws {
        // mov eax, 20 (i386 getpid); int 0x80; ret — through a page mapped executable.
        let (json, status, stderr, _) = try Self.run(
            """
            import ctypes, mmap
            code = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])
            buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            buf.write(code)
            addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
            print("PROBE before", flush=True)
            r = ctypes.CFUNCTYPE(ctypes.c_int)(addr)()
            print("PROBE survived", r, flush=True)
            """
        )
        let p = Self.probes(stderr)
        #expect(p["before"] != nil, "\(stderr)")
        #expect(p["survived"] == nil, "an i386 call went through: \(p["survived"] ?? "")")
        #expect(json["exitCode"] as? Int == 128 + Int(SIGSYS))
        #expect(status == 1)
    }

    @Test func aDaemonizedGrandchildDoesNotOutliveTheJob() throws {
        let start = ContinuousClock.now
        let (json, _, stderr, out) = try Self.run(
            """
            import os, signal, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    signal.signal(signal.SIGTERM, signal.SIG_IGN); signal.signal(signal.SIGHUP, signal.SIG_IGN)
                    time.sleep(3)
                    open("/out/survivor", "w").write("still here")
                    time.sleep(60)
                os._exit(0)
            print("PROBE parent-done", flush=True)
            """
        )
        #expect(json["exitCode"] as? Int == 0, "\(stderr)")
        #expect(ContinuousClock.now - start < .seconds(10), "the run waited for the grandchild")
        let uid = try #require(json["uid"] as? Int)
        sleep(4)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("survivor").path))
        #expect(Self.processes(ofUID: uid).isEmpty, "processes of the job uid remain")
        #expect(!Self.mounts().contains("delong/sandbox"), "a sandbox mount remains")
    }

    @Test func onlyRegularFilesLeaveOutAndLinksFIFOsAreRejected() throws {
        let (json, _, stderr, out) = try Self.run(
            """
            import os
            os.makedirs("/out/sub")
            open("/out/sub/table.csv", "w").write("x,y\\n1,2\\n")
            os.symlink("/etc/passwd", "/out/link")
            os.mkfifo("/out/fifo")
            open("/out/a", "w").write("a"); os.link("/out/a", "/out/b")
            """
        )
        #expect(json["exitCode"] as? Int == 0, "\(stderr)")
        let outputs = try #require(json["outputs"] as? [[String: Any]])
        #expect(outputs.map { $0["path"] as? String } == ["sub/table.csv"])
        #expect(
            outputs.first?["sha256"] as? String == "81bf9fa83c6f7f151bd491a98cd7d933de3965289e3ebd77c6c425f7eaa16392"
        )
        let rejected = try #require(json["rejected"] as? [[String: Any]])
        let reasons = Dictionary(
            uniqueKeysWithValues: rejected.map { ($0["path"] as! String, $0["reason"] as! String) }
        )
        #expect(reasons["link"] == "a symlink")
        #expect(reasons["fifo"] == "a FIFO")
        #expect(reasons["a"]?.contains("hard link") == true && reasons["b"]?.contains("hard link") == true)
        #expect(try String(contentsOf: out.appendingPathComponent("sub/table.csv"), encoding: .utf8) == "x,y\n1,2\n")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("link").path))
    }

    @Test func memoryPidsTimeAndOutputLimitsEndOrStopTheJobWithTheirReason() throws {
        let memory = try Self.run(
            "b = bytearray(400 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('PROBE survived', flush=True)",
            options: ["--memory", "128MiB"]
        )
        #expect(memory.json["outcome"] as? String == "killed", "\(memory.stderr)")
        #expect(memory.json["reason"] as? String == "memory")
        #expect(memory.status == 1)

        let pids = try Self.run(
            """
            import os, time
            n = 0
            try:
                for _ in range(200):
                    if os.fork() == 0:
                        time.sleep(5); os._exit(0)
                    n += 1
            except OSError as e:
                print("PROBE forks", n, e.errno, flush=True)
            """,
            options: ["--pids", "16"]
        )
        #expect(pids.json["reason"] as? String == "pids", "\(pids.stderr)")
        #expect(Self.probes(pids.stderr)["forks"]?.hasSuffix(" \(EAGAIN)") == true)

        let start = ContinuousClock.now
        let slow = try Self.run("import time\ntime.sleep(100)", options: ["--timeout", "2"])
        #expect(slow.json["outcome"] as? String == "killed")
        #expect(slow.json["reason"] as? String == "timeout")
        #expect(ContinuousClock.now - start < .seconds(8))

        let tmp = try Self.run(
            """
            try:
                for i in range(4):
                    open(f"/tmp/big{i}", "wb").write(b"x" * (100 * 1024 * 1024))
                print("PROBE tmp wrote", flush=True)
            except OSError as e:
                print("PROBE tmp", e.errno, flush=True)
            """
        )
        #expect(Self.probes(tmp.stderr)["tmp"] == "\(ENOSPC)", "\(tmp.stderr)")

        let many = try Self.run(
            """
            import os
            for i in range(1200):
                try:
                    open(f"/out/f{i}", "w").close()
                except OSError as e:
                    print("PROBE files", i, e.errno, flush=True); break
            """
        )
        #expect(many.json["reason"] as? String == "outputLimit", "\(many.stderr)")
        #expect((many.json["outputs"] as? [Any])?.count == 1000)
    }

    @Test func theCPULimitHoldsAJobToItsShare() throws {
        let (json, _, stderr, _) = try Self.run(
            """
            import threading, time
            def spin():
                end = time.time() + 2
                while time.time() < end: pass
            ts = [threading.Thread(target=spin) for _ in range(2)]
            [t.start() for t in ts]; [t.join() for t in ts]
            """,
            options: ["--cpus", "0.5"]
        )
        #expect(json["exitCode"] as? Int == 0, "\(stderr)")
        let cpu = try #require(json["cpuSeconds"] as? Double)
        let wall = try #require(json["wallSeconds"] as? Double)
        #expect(cpu <= wall * 0.5 + 0.3, "cpu \(cpu) s in \(wall) s wall under --cpus 0.5")
    }

    @Test func dataTheJobUidCannotReadIsBadInputNamingTheFile() throws {
        let dir = try DelongProcess.temporaryDirectory()
        chmod(dir.path, 0o755)
        let bundle = dir.appendingPathComponent("b")
        try FileManager.default.createDirectory(at: bundle, withIntermediateDirectories: true)
        try Data("print(1)".utf8).write(to: bundle.appendingPathComponent("main.py"))
        let data = dir.appendingPathComponent("d")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        chmod(data.path, 0o755)
        try Data("x".utf8).write(to: data.appendingPathComponent("private.csv"))
        chmod(data.appendingPathComponent("private.csv").path, 0o600)
        let r = try DelongProcess.run([
            "sandbox", "run", bundle.path, "--data", data.path, "--out", dir.appendingPathComponent("o").path, "--json",
        ])
        #expect(r.status == 2)
        #expect(r.stderr.contains("private.csv"))
        #expect(r.json?["outcome"] as? String == "refused")
    }

    @Test func sandboxCheckFindsThisMachineReady() throws {
        let r = try DelongProcess.run(["sandbox", "check", "--json"])
        let json = try #require(r.json, "\(r.stdout)\(r.stderr)")
        let checks = try #require(json["checks"] as? [[String: Any]])
        let failing = checks.filter { $0["ok"] as? Bool != true }.map { "\($0["name"] ?? "?"): \($0["found"] ?? "")" }
        #expect(failing.isEmpty, "\(failing)")
        #expect(r.status == 0)
        #expect(checks.count >= 8)
    }

    // MARK: Helpers

    static func processes(ofUID uid: Int) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            guard Int(pid) != nil, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            else { return false }
            return status.split(separator: "\n").contains { $0.hasPrefix("Uid:") && $0.contains("\t\(uid)\t") }
        }
    }

    /// The `Uid:` lines of host processes whose command line contains `marker`.
    static func processes(running marker: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid in
            guard Int(pid) != nil,
                let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")),
                String(decoding: cmdline, as: UTF8.self).contains(marker),
                !String(decoding: cmdline, as: UTF8.self).contains("sandbox"),
                let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            else { return nil }
            return status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init)
        }
    }

    static func mounts() -> String { (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? "" }
}

/// What a polling thread found.
final class Found: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var value: [String] { lock.withLock { lines } }
    func store(_ found: [String]) { lock.withLock { lines = found } }
}

/// A one-way flag shared with a polling thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// A host socket the probes try to reach: it counts what arrives.
final class Listener: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init(family: Int32, stream: Bool) throws {
        let fd = socket(family, stream ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue), 0)
        var length: socklen_t
        if family == AF_INET6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_addr = in6addr_loopback
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            _ = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_addr.s_addr = inet_addr("127.0.0.1")
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
        }
        if stream { listen(fd, 16) }
        var storage = sockaddr_storage()
        var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) }
        }
        let raw = withUnsafeBytes(of: storage) { Array($0[2..<4]) }
        port = Int(raw[0]) << 8 | Int(raw[1])
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        self.fd = fd
    }

    init(abstract name: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        let bytes = [UInt8(0)] + Array(name.utf8)
        withUnsafeMutableBytes(of: &a.sun_path) { for (i, b) in bytes.enumerated() { $0[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        listen(fd, 16)
        port = 0
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        self.fd = fd
    }

    /// Connections accepted so far.
    func accepted() -> Int {
        var n = 0
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return n }
            Glibc.close(c)
            n += 1
        }
    }

    /// Datagrams received so far.
    func received() -> Int {
        var n = 0
        var buffer = [UInt8](repeating: 0, count: 64)
        while recv(fd, &buffer, buffer.count, 0) >= 0 { n += 1 }
        return n
    }

    func close() { Glibc.close(fd) }
}
