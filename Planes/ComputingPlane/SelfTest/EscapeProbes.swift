import Foundation
import Glibc

/// The escape suite: every way out the sandbox must close, as probe jobs. `delong sandbox selftest` runs it
/// on the machine at hand; the test suite runs it probe by probe.
extension EscapeProbe {
    public static let all: [EscapeProbe] = [
        network, identity, deniedCalls, i386, grandchild, outputs, memory, pids, timeout, tmp, outputLimit, cpu,
        unreadableData,
    ]

    /// x86_64 numbers of the calls the filter denies, written out here independently of libseccomp so that a
    /// wrong name in the policy table cannot hide a call.
    public static let deniedCallNumbers: [(name: String, number: Int)] = [
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

    static let network = EscapeProbe(
        "network",
        "the job has only a loopback of its own: no route, and no host listener (TCP, UDP, IPv6, abstract "
            + "Unix socket, this machine's own addresses) hears from it",
        script: { bait in
            let own = bait.hostAddresses.map { "\"\($0)\"" }.joined(separator: ", ")
            return """
                import socket
                def attempt(key, f):
                    try:
                        f(); print("PROBE", key, "reached", flush=True)
                    except OSError as e:
                        print("PROBE", key, "refused", e.errno, flush=True)
                print("PROBE interfaces", ",".join(sorted(n for _, n in socket.if_nameindex())), flush=True)
                attempt("tcp", lambda: socket.create_connection(("127.0.0.1", \(bait.tcpPort)), timeout=2))
                attempt("tcp6", lambda: socket.create_connection(("::1", \(bait.tcp6Port)), timeout=2))
                def udp():
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"x", ("127.0.0.1", \(bait.udpPort)))
                attempt("udp", udp)
                def abstract():
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect("\\0\(bait.abstractName)")
                attempt("abstract", abstract)
                for i, ip in enumerate([\(own)]):
                    attempt("host%d" % i, lambda: socket.create_connection((ip, \(bait.tcpPort)), timeout=2))
                routes = open("/proc/net/route").read().strip().splitlines()[1:]
                print("PROBE routes", len(routes), flush=True)
                """
        },
        judge: { run in
            var e = Expect()
            e.exitedCleanly(run)
            e.probe(run, "interfaces", is: "lo", "network interfaces inside")
            e.probe(run, "routes", is: "0", "IPv4 routes inside")
            // UDP is fire-and-forget: the bait's count shows whether a datagram got out.
            for key in ["tcp", "tcp6", "abstract"] + run.probes.keys.filter({ $0.hasPrefix("host") }).sorted() {
                e.that(run.probes[key]?.hasPrefix("refused") == true, "\(key): \(run.probes[key] ?? "no answer")")
            }
            e.that(run.baitContacts == 0, "the host's listeners heard from the job \(run.baitContacts) times")
            return e.failures
        }
    )

    static let identity = EscapeProbe(
        "identity",
        "the job runs as its own host uid with no capabilities, NoNewPrivs and seccomp; it sees no host "
            + "process, file, secret, environment or descriptor, and can write only /out and /tmp",
        script: { bait in
            """
            import os, time
            status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
            for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
                print("PROBE", k, status[k].strip(), flush=True)
            print("PROBE secret", os.path.exists("\(bait.secretPath)"), flush=True)
            print("PROBE root", os.path.exists("/root"), flush=True)
            print("PROBE pids", len([p for p in os.listdir("/proc") if p.isdigit()]), flush=True)
            print("PROBE env", ",".join(sorted(os.environ)), flush=True)
            print("PROBE fds", ",".join(sorted(os.listdir("/proc/self/fd"))), flush=True)
            for path in ("/data/t.csv", "/job/main.py", "/usr/x", "/etc/x", "/out/ok", "/tmp/ok"):
                try:
                    open(path, "a").write("x"); print("PROBE write:" + path, "ok", flush=True)
                except OSError as e:
                    print("PROBE write:" + path, "refused", flush=True)
            time.sleep(1.5)  # while the host looks at this process
            """
        },
        judge: { run in
            var e = Expect()
            e.exitedCleanly(run)
            guard let uid = run.result?.uid else { return e.failures }
            e.that(uid != 0 && uid != 65534 && uid >= 1000, "the job's uid \(uid) is root, nobody or a system uid")
            e.that(!run.hostUIDs.isEmpty, "the job's process was never seen on the host")
            for line in run.hostUIDs {
                e.that(line == "Uid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)", "the job's host uids: \(line)")
            }
            for cap in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
                e.probe(run, cap, is: "0000000000000000", "capabilities")
            }
            e.probe(run, "NoNewPrivs", is: "1", "no_new_privs")
            e.probe(run, "Seccomp", is: "2", "seccomp filter mode")
            e.probe(run, "secret", is: "False", "the host's /tmp")
            e.probe(run, "root", is: "False", "the host's /root")
            e.that(Int(run.probes["pids"] ?? "") ?? 99 <= 3, "processes visible inside: \(run.probes["pids"] ?? "?")")
            e.probe(run, "env", is: "HOME,LANG,MPLCONFIGDIR,PATH,PWD,PYTHONDONTWRITEBYTECODE,TMPDIR", "environment")
            // listdir's own descriptor is the one beyond stdin, stdout and stderr.
            e.probe(run, "fds", is: "0,1,2,3", "open descriptors")
            for path in ["/data/t.csv", "/job/main.py", "/usr/x"] {
                e.probe(run, "write:" + path, is: "refused", "writing \(path)")
            }
            e.probe(run, "write:/out/ok", is: "ok", "writing /out")
            e.probe(run, "write:/tmp/ok", is: "ok", "writing /tmp")
            // /etc inside lies on the sandbox's own scratch root, never the host's.
            e.that(access("/etc/x", F_OK) != 0, "the job wrote the host's /etc/x")
            return e.failures
        }
    )

    static let deniedCalls = EscapeProbe(
        "denied-calls",
        "every call on the deny list fails with EPERM whatever its arguments, clone3 with ENOSYS, "
            + "clone(CLONE_NEWUSER) and TIOCSTI with EPERM; threads and fork still work",
        script: { _ in
            let calls = deniedCallNumbers.map { "(\"\($0.name)\", \($0.number))" }.joined(separator: ", ")
            return """
                import ctypes, os, threading
                libc = ctypes.CDLL(None, use_errno=True)
                libc.syscall.restype = ctypes.c_long
                def call(*args):
                    ctypes.set_errno(0)
                    r = libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
                    return ctypes.get_errno() if r == -1 else "succeeded"
                # Arguments that make each call fail fast if the filter let it through (EFAULT, EINVAL, EBADF...).
                for name, nr in [\(calls)]:
                    print("PROBE", name, call(nr, -1, 0, 0, 0, 0), flush=True)
                print("PROBE clone3", call(435, 0, 0), flush=True)
                print("PROBE clone_newuser", call(56, 0x10000000 | 17, 0, 0, 0, 0), flush=True)
                print("PROBE tiocsti", call(16, 0, 0x5412, ctypes.c_char_p(b"x")), flush=True)
                t = threading.Thread(target=lambda: None); t.start(); t.join()
                pid = os.fork()
                if pid == 0: os._exit(7)
                print("PROBE fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
                """
        },
        judge: { run in
            var e = Expect()
            e.exitedCleanly(run)
            for (name, _) in deniedCallNumbers {
                let found = run.probes[name]
                e.that(
                    found == "\(EPERM)",
                    "\(name): expected EPERM (\(EPERM)), found \(found ?? "no answer")"
                        + " (ENOSPC, EBADF, EFAULT or EINVAL mean the filter missed it)"
                )
            }
            e.probe(run, "clone3", is: "\(ENOSYS)", "clone3")
            e.probe(run, "clone_newuser", is: "\(EPERM)", "clone(CLONE_NEWUSER)")
            e.probe(run, "tiocsti", is: "\(EPERM)", "ioctl(TIOCSTI)")
            e.probe(run, "fork", is: "7", "fork")
            return e.failures
        }
    )

    static let i386 = EscapeProbe(
        "i386",
        "an i386 system call (int 0x80) kills the job with SIGSYS",
        script: { _ in
            // mov eax, 20 (i386 getpid); int 0x80; ret — through a page mapped executable.
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
        },
        judge: { run in
            var e = Expect()
            e.that(run.probes["before"] != nil, "the probe did not start")
            e.that(run.probes["survived"] == nil, "an i386 call went through: \(run.probes["survived"] ?? "")")
            e.that(
                run.result?.exitCode == 128 + SIGSYS,
                "expected exit code \(128 + SIGSYS) (SIGSYS), found \(run.result?.exitCode.map(String.init) ?? "none")"
            )
            return e.failures
        }
    )

    static let grandchild = EscapeProbe(
        "grandchild",
        "a daemonized grandchild that ignores SIGTERM and SIGHUP dies when the job's entry process exits",
        setup: {
            var s = Setup()
            s.settle = .seconds(4)
            return s
        }(),
        script: { _ in
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
        },
        judge: { run in
            var e = Expect()
            e.exitedCleanly(run)
            e.that(run.wall < .seconds(10), "the run waited for the grandchild (\(run.wall))")
            e.that(!run.outputNames.contains("survivor"), "the grandchild wrote after the job ended")
            return e.failures
        }
    )

    static let outputs = EscapeProbe(
        "outputs",
        "only regular files leave /out; symlinks, FIFOs and hard links are rejected with a reason",
        script: { _ in
            """
            import os
            os.makedirs("/out/sub")
            open("/out/sub/table.csv", "w").write("x,y\\n1,2\\n")
            os.symlink("/etc/passwd", "/out/link")
            os.mkfifo("/out/fifo")
            open("/out/a", "w").write("a"); os.link("/out/a", "/out/b")
            """
        },
        judge: { run in
            var e = Expect()
            e.exitedCleanly(run)
            guard let result = run.result else { return e.failures }
            e.that(
                result.outputs.map(\.path) == ["sub/table.csv"],
                "expected only sub/table.csv kept, found \(result.outputs.map(\.path))"
            )
            // sha256 of "x,y\n1,2\n".
            e.that(
                result.outputs.first?.sha256 == "81bf9fa83c6f7f151bd491a98cd7d933de3965289e3ebd77c6c425f7eaa16392",
                "sub/table.csv's digest"
            )
            let reasons = Dictionary(result.rejected.map { ($0.path, $0.reason) }, uniquingKeysWith: { a, _ in a })
            e.that(reasons["link"] == "a symlink", "link: \(reasons["link"] ?? "not rejected")")
            e.that(reasons["fifo"] == "a FIFO", "fifo: \(reasons["fifo"] ?? "not rejected")")
            for name in ["a", "b"] {
                e.that(reasons[name]?.contains("hard link") == true, "\(name): \(reasons[name] ?? "not rejected")")
            }
            e.that(!run.outputNames.contains("link"), "the symlink landed in the output folder")
            return e.failures
        }
    )

    static let memory = EscapeProbe(
        "memory",
        "a job over its memory limit is killed and the reason is memory (swap off)",
        setup: {
            var s = Setup()
            s.memoryBytes = 128 << 20
            return s
        }(),
        script: { _ in
            "b = bytearray(400 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('PROBE survived', flush=True)"
        },
        judge: { run in
            var e = Expect()
            e.that(run.result?.outcome == .killed, "a 400 MiB job under a 128 MiB limit was not killed")
            e.that(run.result?.reason == "memory", "reason: expected memory, found \(run.result?.reason ?? "none")")
            e.that(run.probes["survived"] == nil, "the job finished its allocation")
            return e.failures
        }
    )

    static let pids = EscapeProbe(
        "pids",
        "fork beyond the pids limit fails with EAGAIN and the reason is pids",
        setup: {
            var s = Setup()
            s.pids = 16
            return s
        }(),
        script: { _ in
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
            """
        },
        judge: { run in
            var e = Expect()
            e.that(run.result?.reason == "pids", "reason: expected pids, found \(run.result?.reason ?? "none")")
            e.that(
                run.probes["forks"]?.hasSuffix(" \(EAGAIN)") == true,
                "fork past the limit: expected EAGAIN, found \(run.probes["forks"] ?? "no failure")"
            )
            return e.failures
        }
    )

    static let timeout = EscapeProbe(
        "timeout",
        "a job past its wall-clock limit is killed promptly and the reason is timeout",
        setup: {
            var s = Setup()
            s.timeout = .seconds(2)
            return s
        }(),
        script: { _ in "import time\ntime.sleep(100)" },
        judge: { run in
            var e = Expect()
            e.that(run.result?.outcome == .killed, "a sleeping job outlived its timeout")
            e.that(run.result?.reason == "timeout", "reason: expected timeout, found \(run.result?.reason ?? "none")")
            e.that(run.wall < .seconds(8), "the kill took \(run.wall) after a 2 s timeout")
            return e.failures
        }
    )

    static let tmp = EscapeProbe(
        "tmp",
        "/tmp is a bounded private tmpfs: writing past it fails with ENOSPC",
        script: { _ in
            """
            try:
                for i in range(4):
                    open(f"/tmp/big{i}", "wb").write(b"x" * (100 * 1024 * 1024))
                print("PROBE tmp wrote", flush=True)
            except OSError as e:
                print("PROBE tmp", e.errno, flush=True)
            """
        },
        judge: { run in
            var e = Expect()
            e.probe(run, "tmp", is: "\(ENOSPC)", "writing 400 MB to /tmp")
            return e.failures
        }
    )

    static let outputLimit = EscapeProbe(
        "output-limit",
        "/out holds at most 1,000 files; the reason is outputLimit and the 1,000 are kept",
        script: { _ in
            """
            for i in range(1200):
                try:
                    open(f"/out/f{i}", "w").close()
                except OSError as e:
                    print("PROBE files", i, e.errno, flush=True); break
            """
        },
        judge: { run in
            var e = Expect()
            e.that(
                run.result?.reason == "outputLimit",
                "reason: expected outputLimit, found \(run.result?.reason ?? "none")"
            )
            e.that(run.result?.outputs.count == 1000, "kept \(run.result?.outputs.count ?? 0) outputs, expected 1000")
            return e.failures
        }
    )

    static let cpu = EscapeProbe(
        "cpu",
        "two spinning threads under --cpus 0.5 get at most half a CPU",
        setup: {
            var s = Setup()
            s.cpus = 0.5
            return s
        }(),
        script: { _ in
            """
            import threading, time
            def spin():
                end = time.time() + 2
                while time.time() < end: pass
            ts = [threading.Thread(target=spin) for _ in range(2)]
            [t.start() for t in ts]; [t.join() for t in ts]
            """
        },
        judge: { run in
            var e = Expect()
            e.exitedCleanly(run)
            guard let r = run.result else { return e.failures }
            e.that(
                r.cpuSeconds <= r.wallSeconds * 0.5 + 0.3,
                String(format: "%.2f s CPU in %.2f s wall under a 0.5 CPU limit", r.cpuSeconds, r.wallSeconds)
            )
            return e.failures
        }
    )

    static let unreadableData = EscapeProbe(
        "unreadable-data",
        "data the job uid cannot read is refused before the job starts, naming the file",
        setup: {
            var s = Setup()
            s.data.append(("private.csv", "x", 0o600))
            return s
        }(),
        script: { _ in "print('PROBE ran', flush=True)" },
        judge: { run in
            var e = Expect()
            e.that(run.result == nil, "the job ran although it could not read private.csv")
            e.that(
                run.refusal?.code == .badInput,
                "expected a bad-input refusal, found \(String(describing: run.refusal))"
            )
            e.that(run.refusal?.reason.contains("private.csv") == true, "the refusal does not name private.csv")
            return e.failures
        }
    )
}
