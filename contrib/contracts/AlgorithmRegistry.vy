# pragma version 0.4.3
"""
@title DeLong AlgorithmRegistry (the DA-layer record)
@notice Algorithms published for Secure Mode, jobs recorded by Computing Plane operators, the
        allow-list of Computing Plane measurements, and the Privacy Plane's signer address.
        Governance (the deployer, transferable) manages operators, measurements and the signer;
        anyone may publish an algorithm; only authorized operators record jobs.
"""

MAX_LOCATOR: constant(uint256) = 256
MAX_MEASUREMENTS: constant(uint256) = 256
MAX_LABEL: constant(uint256) = 64

struct Algorithm:
    publisher: address
    bundleDigest: bytes32
    daLocator: String[MAX_LOCATOR]

event AlgorithmPublished:
    imageDigest: indexed(bytes32)
    publisher: indexed(address)
    bundleDigest: bytes32
    daLocator: String[MAX_LOCATOR]

event JobRecorded:
    jobId: indexed(bytes32)
    datasetId: indexed(bytes32)
    consumer: indexed(address)
    imageDigest: bytes32
    outputDigest: bytes32
    attestationDigest: bytes32
    operator: address

event MeasurementTrusted:
    measurementDigest: indexed(bytes32)
    measurements: Bytes[MAX_MEASUREMENTS]
    label: String[MAX_LABEL]

event MeasurementRevoked:
    measurementDigest: indexed(bytes32)

event OperatorSet:
    operator: indexed(address)
    authorized: bool

event PrivacySignerSet:
    previous: indexed(address)
    signer: indexed(address)

event GovernanceTransferred:
    previous: indexed(address)
    governance: indexed(address)

governance: public(address)
privacySigner: public(address)
operators: public(HashMap[address, bool])
trustedMeasurements: public(HashMap[bytes32, bool])
algorithms: public(HashMap[bytes32, Algorithm])
# jobId -> operator that recorded it (zero: not recorded)
jobRecorder: public(HashMap[bytes32, address])


@deploy
def __init__():
    self.governance = msg.sender
    log GovernanceTransferred(previous=empty(address), governance=msg.sender)


@internal
def _onlyGovernance():
    assert msg.sender == self.governance, "not governance"


@external
def transferGovernance(newGovernance: address):
    self._onlyGovernance()
    assert newGovernance != empty(address), "governance is zero"
    log GovernanceTransferred(previous=self.governance, governance=newGovernance)
    self.governance = newGovernance


@external
def setPrivacySigner(signer: address):
    """
    @notice The address whose EIP-712 signatures (job tokens, key-release receipts) the planes accept.
    """
    self._onlyGovernance()
    assert signer != empty(address), "signer is zero"
    log PrivacySignerSet(previous=self.privacySigner, signer=signer)
    self.privacySigner = signer


@external
def setOperator(operator: address, authorized: bool):
    """
    @notice Allow or disallow a Computing Plane operator to record jobs.
    """
    self._onlyGovernance()
    assert operator != empty(address), "operator is zero"
    self.operators[operator] = authorized
    log OperatorSet(operator=operator, authorized=authorized)


@external
def trustMeasurement(measurementDigest: bytes32, measurements: Bytes[MAX_MEASUREMENTS],
                     label: String[MAX_LABEL]):
    """
    @notice Add a Computing Plane measurement to the allow-list. measurementDigest is
            sha256(MRTD || RTMR0 || RTMR1 || RTMR2 [|| RTMR3]); when the raw `measurements` are
            given (may be empty) the contract checks they hash to it, so auditors see the values.
    """
    self._onlyGovernance()
    assert measurementDigest != empty(bytes32), "measurement digest is zero"
    assert not self.trustedMeasurements[measurementDigest], "measurement already trusted"
    if len(measurements) > 0:
        assert sha256(measurements) == measurementDigest, "measurements do not match digest"
    self.trustedMeasurements[measurementDigest] = True
    log MeasurementTrusted(measurementDigest=measurementDigest, measurements=measurements, label=label)


@external
def revokeMeasurement(measurementDigest: bytes32):
    self._onlyGovernance()
    assert self.trustedMeasurements[measurementDigest], "measurement not trusted"
    self.trustedMeasurements[measurementDigest] = False
    log MeasurementRevoked(measurementDigest=measurementDigest)


@external
def publish(imageDigest: bytes32, bundleDigest: bytes32, daLocator: String[MAX_LOCATOR]):
    """
    @notice Record an algorithm bundle in the DA layer. Anyone may publish; an image digest is
            published once (the first publisher is recorded).
    """
    assert imageDigest != empty(bytes32), "image digest is zero"
    assert bundleDigest != empty(bytes32), "bundle digest is zero"
    assert self.algorithms[imageDigest].publisher == empty(address), "algorithm already published"
    self.algorithms[imageDigest] = Algorithm(publisher=msg.sender, bundleDigest=bundleDigest,
                                             daLocator=daLocator)
    log AlgorithmPublished(imageDigest=imageDigest, publisher=msg.sender, bundleDigest=bundleDigest,
                           daLocator=daLocator)


@external
def recordJob(jobId: bytes32, datasetId: bytes32, consumer: address, imageDigest: bytes32,
              outputDigest: bytes32, attestationDigest: bytes32):
    """
    @notice Record a finished Secure Mode job. Only authorized Computing Plane operators;
            the algorithm must be published; a job id is recorded once.
    """
    assert self.operators[msg.sender], "not an operator"
    assert jobId != empty(bytes32), "job id is zero"
    assert self.jobRecorder[jobId] == empty(address), "job already recorded"
    assert self.algorithms[imageDigest].publisher != empty(address), "algorithm not published"
    self.jobRecorder[jobId] = msg.sender
    log JobRecorded(jobId=jobId, datasetId=datasetId, consumer=consumer, imageDigest=imageDigest,
                    outputDigest=outputDigest, attestationDigest=attestationDigest, operator=msg.sender)
