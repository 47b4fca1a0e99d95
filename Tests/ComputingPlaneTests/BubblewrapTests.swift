import ComputingPlane
import Testing

/// The sandbox's argv: what the job can see is decided here, so it is pinned option by option.
@Suite struct BubblewrapTests {
    static let base = Bubblewrap(
        bundle: "/run/delong/sandbox/j/job",
        data: "/srv/data",
        runtime: nil,
        out: "/run/delong/sandbox/j/out",
        tmpBytes: 1 << 20,
        entry: "src/run.py"
    )

    /// The value after each occurrence of `option`.
    static func values(_ a: [String], _ option: String, count: Int = 1) -> [[String]] {
        a.indices.filter { a[$0] == option }.map { Array(a[($0 + 1)...].prefix(count)) }
    }

    @Test func everyNamespaceIsNewAndNothingIsInherited() {
        let a = Self.base.arguments(statusFD: 4)
        let options = Array(a.prefix { $0 != "--" })
        for flag in [
            "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--clearenv",
        ] {
            #expect(options.contains(flag), "\(flag)")
        }
        #expect(Self.values(options, "--cap-drop") == [["ALL"]])
        #expect(!options.contains("--share-net"))
        #expect(Self.values(options, "--json-status-fd") == [["4"]])
    }

    @Test func onlyOutIsWritableAndTheRestIsReadOnly() {
        let a = Self.base.arguments(statusFD: 4)
        #expect(Self.values(a, "--bind", count: 2) == [["/run/delong/sandbox/j/out", "/out"]])
        let readOnly = Self.values(a, "--ro-bind", count: 2)
        #expect(readOnly.contains(["/usr", "/usr"]))
        #expect(readOnly.contains(["/run/delong/sandbox/j/job", "/job"]))
        #expect(readOnly.contains(["/srv/data", "/data"]))
        #expect(Self.values(a, "--size") == [["1048576"]])
        #expect(Self.values(a, "--tmpfs") == [["/tmp"]])
    }

    @Test func theEnvironmentIsAWhitelistAndOnlyKnownHintsPassThrough() {
        var wrap = Self.base
        wrap.passEnvironment = ["OPENBLAS_CORETYPE": "Haswell", "AWS_SECRET_ACCESS_KEY": "leak", "LD_PRELOAD": "/x.so"]
        let a = wrap.arguments(statusFD: 4)
        let names = Self.values(a, "--setenv", count: 2).map { $0[0] }
        #expect(
            Set(names) == [
                "PATH", "HOME", "TMPDIR", "LANG", "MPLCONFIGDIR", "PYTHONDONTWRITEBYTECODE", "OPENBLAS_CORETYPE",
            ]
        )
    }

    @Test func theCommandIsIsolatedPythonOnTheEntryScript() {
        let a = Self.base.arguments(statusFD: 4)
        #expect(Array(a.drop { $0 != "--" }) == ["--", "/usr/bin/python3", "-I", "-B", "/job/src/run.py"])
        var withRuntime = Self.base
        withRuntime.runtime = "/opt/delong/runtimes/abc"
        let b = withRuntime.arguments(statusFD: 4)
        #expect(
            Self.values(b, "--ro-bind", count: 2).contains(["/opt/delong/runtimes/abc", Bubblewrap.runtimeMountPoint])
        )
        #expect(b.drop { $0 != "--" }.dropFirst().first == Bubblewrap.runtimeMountPoint + "/bin/python3")
    }
}
