"""Start and stop a devnet subprocess (shared by the test suites and contrib/contracts/deploy)."""

import os
import select
import signal
import subprocess
import time
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "devnet" / "run"


class DevnetProcess:
    """`contrib/devnet/run --port PORT ARGS` (PORT 0: any free one); .url comes from its READY line."""

    def __init__(self, *args: str, port: int = 0, ready_timeout: float = 60.0):
        self.proc = subprocess.Popen([str(RUN), "--port", str(port), *args], stdout=subprocess.PIPE,
                                     stderr=None, text=True, start_new_session=True)
        started = time.monotonic()
        line = self._first_line(ready_timeout)
        if not line.startswith("READY "):
            code = self.proc.poll()
            self.stop()
            raise RuntimeError(f"devnet did not print READY within {time.monotonic() - started:.1f}s "
                               f"(first line {line!r}, exit code {code}; its stderr is above)")
        self.url = line.split()[1]

    def _first_line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                return fd.readline().strip()
            if self.proc.poll() is not None:
                return ""
        return ""

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session only
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
