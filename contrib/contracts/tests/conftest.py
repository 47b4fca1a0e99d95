"""Fixtures: one devnet per test session; each test starts from a snapshot and deploys fresh contracts."""

import pytest
from contract_helpers import Chain, DevnetProcess


@pytest.fixture(scope="session")
def devnet():
    dn = DevnetProcess("--fork", "prague")
    yield dn
    dn.stop()


@pytest.fixture
def chain(devnet):
    c = Chain(devnet.url)
    snap = c.rpc("evm_snapshot")
    yield c
    c.rpc("evm_revert", snap)  # every test starts from the same empty chain


@pytest.fixture
def market(chain):
    return chain.deploy("DataMarket")[0]


@pytest.fixture
def registry(chain):
    return chain.deploy("AlgorithmRegistry")[0]
