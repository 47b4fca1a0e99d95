# pragma version 0.4.3
"""
@title DeLong DataMarket
@notice Providers list datasets; consumers rent them for a time, paying price x duration.
        Payments sit in escrow and become the provider's as time passes, so a revocation can
        always refund the unused part. Every state change emits an event that carries the
        resulting state, because the DeLong node indexes events only (see README.md).
"""

MAX_STRING: constant(uint256) = 256

struct Dataset:
    provider: address
    manifestDigest: bytes32
    pricePerSecond: uint256
    sampleLocator: String[MAX_STRING]
    metadataURI: String[MAX_STRING]
    retired: bool

struct Rental:
    startedAt: uint256
    expiresAt: uint256
    # Escrow not yet credited to the provider, covering [settledAt, expiresAt).
    escrow: uint256
    settledAt: uint256

event DatasetRegistered:
    datasetId: indexed(bytes32)
    provider: indexed(address)
    manifestDigest: bytes32
    pricePerSecond: uint256
    sampleLocator: String[MAX_STRING]
    metadataURI: String[MAX_STRING]

event DatasetUpdated:
    datasetId: indexed(bytes32)
    provider: indexed(address)
    manifestDigest: bytes32
    pricePerSecond: uint256
    sampleLocator: String[MAX_STRING]
    metadataURI: String[MAX_STRING]

event DatasetRetired:
    datasetId: indexed(bytes32)
    provider: indexed(address)

event RentalStarted:
    datasetId: indexed(bytes32)
    consumer: indexed(address)
    provider: indexed(address)
    startedAt: uint256
    expiresAt: uint256
    paid: uint256

event RentalExtended:
    datasetId: indexed(bytes32)
    consumer: indexed(address)
    provider: indexed(address)
    addedSeconds: uint256
    expiresAt: uint256
    paid: uint256

event RentalRevoked:
    datasetId: indexed(bytes32)
    consumer: indexed(address)
    provider: indexed(address)
    expiresAt: uint256
    refund: uint256

event EarningsSettled:
    datasetId: indexed(bytes32)
    consumer: indexed(address)
    provider: indexed(address)
    amount: uint256

event Withdrawal:
    account: indexed(address)
    amount: uint256

datasets: public(HashMap[bytes32, Dataset])
rentals: public(HashMap[bytes32, HashMap[address, Rental]])
# Withdrawable wei: providers' settled earnings and consumers' revocation refunds.
balances: public(HashMap[address, uint256])


@external
def registerDataset(datasetId: bytes32, manifestDigest: bytes32, pricePerSecond: uint256,
                    sampleLocator: String[MAX_STRING], metadataURI: String[MAX_STRING]):
    """
    @notice List a new dataset; the caller becomes its provider. Ids are chosen by the provider.
    """
    assert datasetId != empty(bytes32), "dataset id is zero"
    assert self.datasets[datasetId].provider == empty(address), "dataset exists"
    assert manifestDigest != empty(bytes32), "manifest digest is zero"
    self.datasets[datasetId] = Dataset(provider=msg.sender, manifestDigest=manifestDigest,
                                       pricePerSecond=pricePerSecond, sampleLocator=sampleLocator,
                                       metadataURI=metadataURI, retired=False)
    log DatasetRegistered(datasetId=datasetId, provider=msg.sender, manifestDigest=manifestDigest,
                          pricePerSecond=pricePerSecond, sampleLocator=sampleLocator, metadataURI=metadataURI)


@internal
def _onlyProvider(datasetId: bytes32) -> address:
    provider: address = self.datasets[datasetId].provider
    assert provider != empty(address), "unknown dataset"
    assert provider == msg.sender, "not the provider"
    return provider


@external
def updateDataset(datasetId: bytes32, manifestDigest: bytes32, pricePerSecond: uint256,
                  sampleLocator: String[MAX_STRING], metadataURI: String[MAX_STRING]):
    """
    @notice Replace a dataset's mutable fields. Running rentals keep what they paid;
            the new price applies to later rentals and extensions.
    """
    provider: address = self._onlyProvider(datasetId)
    assert not self.datasets[datasetId].retired, "dataset retired"
    assert manifestDigest != empty(bytes32), "manifest digest is zero"
    self.datasets[datasetId] = Dataset(provider=provider, manifestDigest=manifestDigest,
                                       pricePerSecond=pricePerSecond, sampleLocator=sampleLocator,
                                       metadataURI=metadataURI, retired=False)
    log DatasetUpdated(datasetId=datasetId, provider=provider, manifestDigest=manifestDigest,
                       pricePerSecond=pricePerSecond, sampleLocator=sampleLocator, metadataURI=metadataURI)


@external
def retireDataset(datasetId: bytes32):
    """
    @notice Stop new rentals and extensions for good. Running rentals run to their expiry
            (the provider may still revoke them).
    """
    provider: address = self._onlyProvider(datasetId)
    assert not self.datasets[datasetId].retired, "dataset retired"
    self.datasets[datasetId].retired = True
    log DatasetRetired(datasetId=datasetId, provider=provider)


@internal
def _settle(datasetId: bytes32, consumer: address, provider: address):
    """Credit the provider with the escrow share of the time elapsed since the last settlement."""
    r: Rental = self.rentals[datasetId][consumer]
    until: uint256 = min(block.timestamp, r.expiresAt)
    if r.escrow == 0 or until <= r.settledAt:
        return
    # Pro rata over the unsettled span; rounding leaves the remainder in escrow, never overpays.
    earned: uint256 = r.escrow * (until - r.settledAt) // (r.expiresAt - r.settledAt)
    self.rentals[datasetId][consumer].escrow = r.escrow - earned
    self.rentals[datasetId][consumer].settledAt = until
    self.balances[provider] += earned
    log EarningsSettled(datasetId=datasetId, consumer=consumer, provider=provider, amount=earned)


@internal
def _charge(price: uint256, duration: uint256, payment: uint256) -> uint256:
    """Take price x duration from `payment` (msg.value) and send any excess straight back."""
    cost: uint256 = price * duration
    assert payment >= cost, "insufficient payment"
    if payment > cost:
        send(msg.sender, payment - cost)
    return cost


@external
@payable
@nonreentrant
def rent(datasetId: bytes32, duration: uint256):
    """
    @notice Rent a dataset for `duration` seconds from now. Pays price x duration; excess is refunded.
            A consumer with a running rental extends it instead.
    """
    ds: Dataset = self.datasets[datasetId]
    assert ds.provider != empty(address), "unknown dataset"
    assert not ds.retired, "dataset retired"
    assert duration > 0, "duration is zero"
    assert self.rentals[datasetId][msg.sender].expiresAt <= block.timestamp, "rental active; use extend"
    # Whatever escrow an expired rental still holds belongs to the provider now.
    self._settle(datasetId, msg.sender, ds.provider)
    leftover: uint256 = self.rentals[datasetId][msg.sender].escrow
    self.balances[ds.provider] += leftover
    cost: uint256 = self._charge(ds.pricePerSecond, duration, msg.value)
    expiresAt: uint256 = block.timestamp + duration
    self.rentals[datasetId][msg.sender] = Rental(startedAt=block.timestamp, expiresAt=expiresAt,
                                                 escrow=cost, settledAt=block.timestamp)
    log RentalStarted(datasetId=datasetId, consumer=msg.sender, provider=ds.provider,
                      startedAt=block.timestamp, expiresAt=expiresAt, paid=cost)


@external
@payable
@nonreentrant
def extend(datasetId: bytes32, duration: uint256):
    """
    @notice Add `duration` seconds to a running rental at the dataset's current price.
    """
    ds: Dataset = self.datasets[datasetId]
    assert ds.provider != empty(address), "unknown dataset"
    assert not ds.retired, "dataset retired"
    assert duration > 0, "duration is zero"
    assert self.rentals[datasetId][msg.sender].expiresAt > block.timestamp, "rental not active"
    self._settle(datasetId, msg.sender, ds.provider)
    cost: uint256 = self._charge(ds.pricePerSecond, duration, msg.value)
    expiresAt: uint256 = self.rentals[datasetId][msg.sender].expiresAt + duration
    self.rentals[datasetId][msg.sender].expiresAt = expiresAt
    self.rentals[datasetId][msg.sender].escrow += cost
    log RentalExtended(datasetId=datasetId, consumer=msg.sender, provider=ds.provider,
                       addedSeconds=duration, expiresAt=expiresAt, paid=cost)


@external
def revokeRental(datasetId: bytes32, consumer: address):
    """
    @notice End a running rental now. The consumer gets back the escrow for the unused time
            (credited to balances[consumer]; withdraw() pays it out).
    """
    provider: address = self._onlyProvider(datasetId)
    assert self.rentals[datasetId][consumer].expiresAt > block.timestamp, "rental not active"
    self._settle(datasetId, consumer, provider)
    refund: uint256 = self.rentals[datasetId][consumer].escrow
    self.rentals[datasetId][consumer].escrow = 0
    self.rentals[datasetId][consumer].expiresAt = block.timestamp
    self.rentals[datasetId][consumer].settledAt = block.timestamp
    self.balances[consumer] += refund
    log RentalRevoked(datasetId=datasetId, consumer=consumer, provider=provider,
                      expiresAt=block.timestamp, refund=refund)


@external
def settle(datasetId: bytes32, consumer: address):
    """
    @notice Credit the provider with what a rental has earned so far. Anyone may call it.
    """
    provider: address = self.datasets[datasetId].provider
    assert provider != empty(address), "unknown dataset"
    self._settle(datasetId, consumer, provider)


@external
@nonreentrant
def withdraw():
    """
    @notice Pay out the caller's balance (provider earnings, consumer refunds).
    """
    amount: uint256 = self.balances[msg.sender]
    assert amount > 0, "nothing to withdraw"
    self.balances[msg.sender] = 0
    send(msg.sender, amount)
    log Withdrawal(account=msg.sender, amount=amount)


@view
@external
def rentalExpiry(datasetId: bytes32, consumer: address) -> uint256:
    """
    @notice The rental's expiry (unix seconds); 0 if never rented. Active iff > block.timestamp.
    """
    return self.rentals[datasetId][consumer].expiresAt


@view
@external
def isRentalActive(datasetId: bytes32, consumer: address) -> bool:
    return self.rentals[datasetId][consumer].expiresAt > block.timestamp


@view
@external
def earned(datasetId: bytes32, consumer: address) -> uint256:
    """
    @notice What settle() would credit to the provider now.
    """
    r: Rental = self.rentals[datasetId][consumer]
    until: uint256 = min(block.timestamp, r.expiresAt)
    if r.escrow == 0 or until <= r.settledAt:
        return 0
    return r.escrow * (until - r.settledAt) // (r.expiresAt - r.settledAt)
