#!/usr/bin/env bash
# Sandbox launch benchmark: `delong sandbox run` beside bare bubblewrap and bare python, all from the same run.
#   contrib/benchmarks/sandbox-bench.sh            (root; from a clean clone: installs, builds, builds the runtime)
# Env: RUNS (default 21) launches per figure, JOB_RUNS (default 11) pandas + scikit-learn jobs,
#      CONFIG (debug | release, default debug: the build the tests use).
# Prints figures only; it never fails on noise (goals: launch p50 <= 30 ms for `python3 -c pass`, the pandas +
# scikit-learn job's first stdout write <= 1.5 s p95 after the run starts, both as timestamped by the runner).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "sandbox-bench: needs root (the sandbox runner mounts and uses cgroups)" >&2; exit 5; }

contrib/scripts/install-deps.sh >&2
config="${CONFIG:-debug}"
echo "sandbox-bench: building delong ($config)" >&2
swift build -c "$config" --product delong 2>&1 | grep -E "error|Build complete" >&2 || true
delong="$(swift build -c "$config" --show-bin-path)/delong"
[ -x "$delong" ] || { echo "sandbox-bench: no delong at $delong" >&2; exit 5; }
echo "sandbox-bench: job runtime" >&2
"$delong" runtime build --lock contrib/runtime/requirements.lock >&2

exec /usr/bin/python3 - "$delong" "${RUNS:-21}" "${JOB_RUNS:-11}" <<'PY'
import json, os, shutil, statistics, subprocess, sys, tempfile, time

delong, runs, job_runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
venv = "/opt/delong/runtime"
python = venv + "/bin/python3"
work = tempfile.mkdtemp(prefix="delong-sandbox-bench-")
os.chmod(work, 0o755)


def folder(name, files):
    path = os.path.join(work, name)
    os.makedirs(path, mode=0o755)
    os.chmod(path, 0o755)
    for file, text in files.items():
        with open(os.path.join(path, file), "w") as f:
            f.write(text)
        os.chmod(os.path.join(path, file), 0o644)
    return path


data = folder("data", {"t.csv": "a,b\n1,2\n"})
noop = folder("noop", {"main.py": "pass\n"})
heavy = folder("heavy", {"main.py": "import pandas, sklearn\nprint('ready', flush=True)\n"})


def timed(argv):
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t1 = time.perf_counter()
    if r.returncode != 0:
        sys.exit("sandbox-bench: %s failed (%d): %s" % (argv[0], r.returncode, r.stderr.decode()[-400:]))
    return (t1 - t0) * 1000, r.stdout


def sandbox(bundle, n):
    out = os.path.join(work, "out-%d-%d" % (n, time.monotonic_ns()))
    ms, stdout = timed([delong, "sandbox", "run", bundle, "--data", data, "--out", out, "--json"])
    shutil.rmtree(out, ignore_errors=True)
    return ms, json.loads(stdout)


bwrap = [
    "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
    "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
    "--symlink", "usr/bin", "/bin", "--ro-bind", venv, venv, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
    "--", python, "-I", "-B", "-c", "pass",
]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]


def line(label, values, unit="ms"):
    print("%-58s p50 %8.1f %s   p95 %8.1f %s   min %8.1f   max %8.1f   (n=%d)" % (
        label, pct(values, 50), unit, pct(values, 95), unit, min(values), max(values), len(values)))


# Interleave the three launches so load from other processes hits them alike.
bare, wrapped, cli, runner, stub = [], [], [], [], []
sandbox(noop, -1)  # warm the page cache once
for i in range(runs):
    t0 = time.perf_counter()
    subprocess.run([delong, "sandbox-exec", "-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stub.append((time.perf_counter() - t0) * 1000)
    bare.append(timed([python, "-I", "-B", "-c", "pass"])[0])
    wrapped.append(timed(bwrap)[0])
    ms, result = sandbox(noop, i)
    cli.append(ms)
    runner.append(result["wallSeconds"] * 1000)
print("runtime %s, load %s, %d CPUs" % (result["runtime"], os.getloadavg(), os.cpu_count()))
print("== launch: python3 -I -B -c pass")
line("bare python (runtime venv)", bare)
line("bare bwrap (--unshare-all, no seccomp/cgroups/uid)", wrapped)
line("sandbox: runner clock, stub spawn -> job exit (wallSeconds)", runner)
line("  of which: delong's own start-up (the stub re-exec; exits at once)", stub)
line("sandbox: whole `delong sandbox run` command", cli)
print("goal: sandbox launch p50 <= 30 ms (runner clock): %s" % ("met" if pct(runner, 50) <= 30 else "NOT met"))

bare_first, first, total = [], [], []
for i in range(job_runs):
    t0 = time.perf_counter()
    p = subprocess.Popen([python, "-I", "-B", "-c", "import pandas, sklearn\nprint('ready', flush=True)"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.read(1)
    bare_first.append((time.perf_counter() - t0) * 1000)
    p.wait()
    ms, result = sandbox(heavy, 1000 + i)
    first.append(result["firstStdoutSeconds"] * 1000)
    total.append(ms)
print("== import pandas, sklearn; print (first stdout byte)")
line("bare python (runtime venv), from spawn", bare_first)
line("sandbox: runner clock, from the run's start", first)
line("sandbox: whole `delong sandbox run` command", total)
print("goal: first stdout <= 1500 ms p95 (runner clock): %s" % ("met" if pct(first, 95) <= 1500 else "NOT met"))
shutil.rmtree(work, ignore_errors=True)
PY
