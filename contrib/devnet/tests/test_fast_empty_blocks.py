"""The empty-block fast path (no VM run) must produce exactly the blocks the full VM path does."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from devnet.chain import DevChain  # noqa: E402


@pytest.mark.parametrize("fork", ["paris", "shanghai", "cancun", "prague"])
def test_fast_path_equals_vm_path(fork):
    chains = []
    for fast in (True, False):
        c = DevChain(fork, deterministic=True)
        c.fast_empty = fast
        c.mine(30)
        c.increase_time(500)
        c.mine(5)
        chains.append([mb.hash for mb in c.canon])
    assert chains[0] == chains[1]


def test_fast_path_is_not_used_pre_merge():
    c = DevChain("london", deterministic=True)
    c.mine(2)
    # London pays a block reward, so every empty block changes the state root.
    assert c.canon[1].header.state_root != c.canon[2].header.state_root
