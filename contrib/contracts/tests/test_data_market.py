"""DataMarket: registration, rentals, pro-rata revocation, escrow accounting, events, reverts."""

from contract_helpers import CONSUMER, CONSUMER2, PROVIDER, PROVIDER2, STRANGER, events
from eth_utils import keccak

DS = keccak(text="test/dataset/1")
DS2 = keccak(text="test/dataset/2")
MANIFEST = keccak(text="manifest v1")
PRICE = 1_000_000_007  # wei per second; odd, so rounding shows up


def register(chain, market, ds=DS, price=PRICE, who=PROVIDER):
    return chain.send(who, market.functions.registerDataset(ds, MANIFEST, price, "sample://x", "meta://x"))


def test_register_emits_everything_an_indexer_needs(chain, market):
    r = register(chain, market)
    (ev,) = events(market, r, "DatasetRegistered")
    assert ev == {"datasetId": DS, "provider": PROVIDER.address, "manifestDigest": MANIFEST,
                  "pricePerSecond": PRICE, "sampleLocator": "sample://x", "metadataURI": "meta://x"}
    log = r.logs[0]
    assert log.topics[1] == DS and log.topics[2][-20:] == bytes.fromhex(PROVIDER.address[2:])
    ds = market.functions.datasets(DS).call()
    assert ds[0] == PROVIDER.address and ds[2] == PRICE and ds[5] is False


def test_register_rejects_duplicates_and_zero_values(chain, market):
    register(chain, market)
    f = market.functions
    chain.reverts(PROVIDER2, f.registerDataset(DS, MANIFEST, 1, "", ""), "dataset exists")
    chain.reverts(PROVIDER, f.registerDataset(b"\0" * 32, MANIFEST, 1, "", ""), "dataset id is zero")
    chain.reverts(PROVIDER, f.registerDataset(DS2, b"\0" * 32, 1, "", ""), "manifest digest is zero")


def test_update_and_retire_are_provider_only(chain, market):
    register(chain, market)
    f = market.functions
    new_manifest = keccak(text="manifest v2")
    chain.reverts(STRANGER, f.updateDataset(DS, new_manifest, 5, "s2", "m2"), "not the provider")
    chain.reverts(PROVIDER, f.updateDataset(DS2, new_manifest, 5, "s2", "m2"), "unknown dataset")
    r = chain.send(PROVIDER, f.updateDataset(DS, new_manifest, 5, "s2", "m2"))
    assert events(market, r, "DatasetUpdated") == [{"datasetId": DS, "provider": PROVIDER.address,
                                                    "manifestDigest": new_manifest, "pricePerSecond": 5,
                                                    "sampleLocator": "s2", "metadataURI": "m2"}]
    chain.reverts(STRANGER, f.retireDataset(DS), "not the provider")
    r = chain.send(PROVIDER, f.retireDataset(DS))
    assert events(market, r, "DatasetRetired") == [{"datasetId": DS, "provider": PROVIDER.address}]
    chain.reverts(PROVIDER, f.retireDataset(DS), "dataset retired")
    chain.reverts(PROVIDER, f.updateDataset(DS, new_manifest, 5, "s2", "m2"), "dataset retired")
    chain.reverts(CONSUMER, f.rent(DS, 10), "dataset retired", value=50)


def test_rent_charges_price_times_duration_and_refunds_excess(chain, market):
    register(chain, market)
    duration, excess = 3600, 123_456_789
    cost = PRICE * duration
    before, contract_before = chain.balance(CONSUMER), chain.balance(market.address)
    r = chain.send(CONSUMER, market.functions.rent(DS, duration), value=cost + excess)
    ts = chain.w3.eth.get_block(r.blockNumber).timestamp
    assert chain.balance(CONSUMER) == before - cost - chain.gas_cost(r)
    assert chain.balance(market.address) == contract_before + cost
    assert events(market, r, "RentalStarted") == [{"datasetId": DS, "consumer": CONSUMER.address,
                                                   "provider": PROVIDER.address, "startedAt": ts,
                                                   "expiresAt": ts + duration, "paid": cost}]
    assert r.logs[0].topics[1] == DS  # datasetId, consumer and provider are all indexed
    assert len(r.logs[0].topics) == 4
    assert market.functions.rentalExpiry(DS, CONSUMER.address).call() == ts + duration
    assert market.functions.isRentalActive(DS, CONSUMER.address).call() is True
    assert market.functions.rentalExpiry(DS, CONSUMER2.address).call() == 0


def test_rent_reverts(chain, market):
    register(chain, market)
    f = market.functions
    chain.reverts(CONSUMER, f.rent(DS, 100), "insufficient payment", value=PRICE * 100 - 1)
    chain.reverts(CONSUMER, f.rent(DS2, 100), "unknown dataset", value=PRICE * 100)
    chain.reverts(CONSUMER, f.rent(DS, 0), "duration is zero")
    chain.send(CONSUMER, f.rent(DS, 100), value=PRICE * 100)
    chain.reverts(CONSUMER, f.rent(DS, 100), "rental active; use extend", value=PRICE * 100)
    # A mined underpayment fails and moves no money.
    before = chain.balance(market.address)
    r = chain.send_unchecked(CONSUMER2, market, f.rent(DS, 100), value=PRICE * 100 - 1)
    assert r.status == 0 and r.logs == [] and chain.balance(market.address) == before


def test_extend_adds_time_at_the_current_price(chain, market):
    register(chain, market)
    f = market.functions
    chain.reverts(CONSUMER, f.extend(DS, 60), "rental not active", value=PRICE * 60)
    t0 = chain.now() + 10
    chain.next_block_at(t0)
    chain.send(CONSUMER, f.rent(DS, 1000), value=PRICE * 1000)
    chain.send(PROVIDER, f.updateDataset(DS, MANIFEST, 2 * PRICE, "s", "m"))
    chain.next_block_at(t0 + 400)
    chain.reverts(CONSUMER, f.extend(DS, 500), "insufficient payment", value=2 * PRICE * 500 - 1)
    r = chain.send(CONSUMER, f.extend(DS, 500), value=2 * PRICE * 500 + 99)
    assert events(market, r, "RentalExtended") == [{"datasetId": DS, "consumer": CONSUMER.address,
                                                    "provider": PROVIDER.address, "addedSeconds": 500,
                                                    "expiresAt": t0 + 1500, "paid": 2 * PRICE * 500}]
    # Extending settles what the first 400 s earned.
    (settled,) = events(market, r, "EarningsSettled")
    assert settled["amount"] == PRICE * 1000 * 400 // 1000
    assert market.functions.rentalExpiry(DS, CONSUMER.address).call() == t0 + 1500


def test_revocation_refunds_the_unused_part_pro_rata(chain, market):
    register(chain, market)
    f = market.functions
    t0 = chain.now() + 10
    chain.next_block_at(t0)
    paid = PRICE * 7200
    chain.send(CONSUMER, f.rent(DS, 7200), value=paid)
    chain.reverts(STRANGER, f.revokeRental(DS, CONSUMER.address), "not the provider")
    chain.reverts(PROVIDER, f.revokeRental(DS, CONSUMER2.address), "rental not active")
    chain.next_block_at(t0 + 1801)
    r = chain.send(PROVIDER, f.revokeRental(DS, CONSUMER.address))
    earned = paid * 1801 // 7200
    refund = paid - earned
    assert events(market, r, "RentalRevoked") == [{"datasetId": DS, "consumer": CONSUMER.address,
                                                   "provider": PROVIDER.address, "expiresAt": t0 + 1801,
                                                   "refund": refund}]
    assert events(market, r, "EarningsSettled")[0]["amount"] == earned
    assert market.functions.rentalExpiry(DS, CONSUMER.address).call() == t0 + 1801
    assert market.functions.isRentalActive(DS, CONSUMER.address).call() is False
    assert market.functions.balances(CONSUMER.address).call() == refund
    assert market.functions.balances(PROVIDER.address).call() == earned
    chain.reverts(PROVIDER, f.revokeRental(DS, CONSUMER.address), "rental not active")
    # Both sides withdraw; the contract is left with nothing.
    before = chain.balance(CONSUMER)
    r = chain.send(CONSUMER, f.withdraw())
    assert chain.balance(CONSUMER) == before + refund - chain.gas_cost(r)
    assert events(market, r, "Withdrawal") == [{"account": CONSUMER.address, "amount": refund}]
    chain.send(PROVIDER, f.withdraw())
    assert chain.balance(market.address) == 0
    chain.reverts(PROVIDER, f.withdraw(), "nothing to withdraw")
    # A revoked consumer may rent again.
    chain.send(CONSUMER, f.rent(DS, 10), value=PRICE * 10)


def test_escrow_is_earned_over_time_and_fully_after_expiry(chain, market):
    register(chain, market)
    register(chain, market, DS2, price=3, who=PROVIDER2)
    f = market.functions
    t0 = chain.now() + 10
    chain.next_block_at(t0)
    chain.send(CONSUMER, f.rent(DS, 1000), value=PRICE * 1000)
    chain.next_block_at(t0 + 250)
    chain.send(CONSUMER2, f.rent(DS2, 77), value=3 * 77)
    assert f.earned(DS, CONSUMER.address).call() == PRICE * 1000 * 250 // 1000
    chain.next_block_at(t0 + 300)
    r = chain.send(STRANGER, f.settle(DS, CONSUMER.address))  # anyone may settle
    assert events(market, r, "EarningsSettled") == [{"datasetId": DS, "consumer": CONSUMER.address,
                                                     "provider": PROVIDER.address,
                                                     "amount": PRICE * 1000 * 300 // 1000}]
    chain.next_block_at(t0 + 5000)
    chain.send(STRANGER, f.settle(DS, CONSUMER.address))
    assert f.balances(PROVIDER.address).call() == PRICE * 1000
    chain.send(STRANGER, f.settle(DS2, CONSUMER2.address))
    assert f.balances(PROVIDER2.address).call() == 3 * 77
    # After expiry the consumer may start a new rental (the old escrow is already the provider's).
    r = chain.send(CONSUMER, f.rent(DS, 5), value=PRICE * 5)
    assert events(market, r, "RentalStarted")[0]["startedAt"] == chain.now()
    chain.reverts(STRANGER, f.settle(keccak(text="nope"), CONSUMER.address), "unknown dataset")


def test_contract_balance_equals_balances_plus_escrow(chain, market):
    """Conservation: nothing is created or lost across rent, extend, revoke, settle and withdraw."""
    register(chain, market)
    f = market.functions
    t0 = chain.now() + 10
    for i, (who, d) in enumerate([(CONSUMER, 333), (CONSUMER2, 1001)]):
        chain.next_block_at(t0 + i)
        chain.send(who, f.rent(DS, d), value=PRICE * d + 17)
    chain.next_block_at(t0 + 100)
    chain.send(CONSUMER, f.extend(DS, 7), value=PRICE * 7)
    chain.next_block_at(t0 + 211)
    chain.send(PROVIDER, f.revokeRental(DS, CONSUMER2.address))
    chain.send(PROVIDER, f.withdraw())
    escrow = sum(f.rentals(DS, c.address).call()[2] for c in (CONSUMER, CONSUMER2))
    owed = sum(f.balances(a.address).call() for a in (PROVIDER, CONSUMER, CONSUMER2))
    assert chain.balance(market.address) == escrow + owed
