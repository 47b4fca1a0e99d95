"""Fixtures: each test gets devnets started as subprocesses on --port 0 and stopped afterwards."""

import pytest
from devnet_helpers import DevnetProcess


@pytest.fixture
def start_devnet():
    started = []

    def start(*args: str) -> DevnetProcess:
        p = DevnetProcess(*args)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
