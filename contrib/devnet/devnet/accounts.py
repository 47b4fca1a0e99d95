"""Dev accounts derived from the standard test mnemonic (the one Hardhat and Anvil use)."""

from dataclasses import dataclass

from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from eth_keys import keys

MNEMONIC = "test test test test test test test test test test test junk"
COUNT = 10
# Every dev account starts with 10,000 ether, as on Hardhat and Anvil.
BALANCE = 10_000 * 10**18
# The Clique signer is the last dev account, so it never collides with the contract roles.
CLIQUE_SIGNER_INDEX = 9


@dataclass(frozen=True)
class DevAccount:
    index: int
    address: bytes
    private_key: keys.PrivateKey

    @property
    def checksum(self) -> str:
        return self.private_key.public_key.to_checksum_address()


def dev_accounts(count: int = COUNT) -> list[DevAccount]:
    # One PBKDF2 for the seed, then cheap BIP-32 steps per account (keeps startup fast).
    seed = seed_from_mnemonic(MNEMONIC, "")
    out = []
    for i in range(count):
        pk = keys.PrivateKey(key_from_seed(seed, f"m/44'/60'/0'/0/{i}"))
        out.append(DevAccount(i, pk.public_key.to_canonical_address(), pk))
    return out
