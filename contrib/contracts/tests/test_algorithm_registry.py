"""AlgorithmRegistry: governance, operators, measurements, publishing, job records."""

import hashlib

from contract_helpers import CONSUMER, GOV, OPERATOR, SIGNER, STRANGER, events
from eth_utils import keccak

IMAGE, BUNDLE = keccak(text="image"), keccak(text="bundle")
JOB, DS = keccak(text="job/1"), keccak(text="dataset/1")
ZERO_ADDR = "0x0000000000000000000000000000000000000000"


def test_deployer_is_governance_and_the_constructor_says_so(chain):
    registry, receipt = chain.deploy("AlgorithmRegistry")
    assert registry.functions.governance().call() == GOV.address
    assert events(registry, receipt, "GovernanceTransferred") == [{"previous": ZERO_ADDR,
                                                                   "governance": GOV.address}]


def test_governance_only_functions(chain, registry):
    f = registry.functions
    for fn in (f.setPrivacySigner(SIGNER.address), f.setOperator(OPERATOR.address, True),
               f.trustMeasurement(IMAGE, b"", "x"), f.revokeMeasurement(IMAGE),
               f.transferGovernance(STRANGER.address)):
        chain.reverts(STRANGER, fn, "not governance")
    r = chain.send(GOV, f.setPrivacySigner(SIGNER.address))
    assert events(registry, r, "PrivacySignerSet") == [{"previous": ZERO_ADDR, "signer": SIGNER.address}]
    assert f.privacySigner().call() == SIGNER.address
    chain.reverts(GOV, f.setPrivacySigner(ZERO_ADDR), "signer is zero")
    r = chain.send(GOV, f.setOperator(OPERATOR.address, True))
    assert events(registry, r, "OperatorSet") == [{"operator": OPERATOR.address, "authorized": True}]
    chain.reverts(GOV, f.setOperator(ZERO_ADDR, True), "operator is zero")


def test_transfer_governance_moves_every_right(chain, registry):
    f = registry.functions
    chain.reverts(GOV, f.transferGovernance(ZERO_ADDR), "governance is zero")
    r = chain.send(GOV, f.transferGovernance(STRANGER.address))
    assert events(registry, r, "GovernanceTransferred") == [{"previous": GOV.address,
                                                             "governance": STRANGER.address}]
    chain.reverts(GOV, f.setOperator(OPERATOR.address, True), "not governance")
    chain.send(STRANGER, f.setOperator(OPERATOR.address, True))


def test_measurements_are_checked_against_their_digest(chain, registry):
    f = registry.functions
    raw = bytes(range(192))  # MRTD || RTMR0 || RTMR1 || RTMR2, 48 bytes each
    digest = hashlib.sha256(raw).digest()
    chain.reverts(GOV, f.trustMeasurement(digest, raw[:-1], "runner"), "measurements do not match digest")
    chain.reverts(GOV, f.trustMeasurement(b"\0" * 32, b"", "runner"), "measurement digest is zero")
    r = chain.send(GOV, f.trustMeasurement(digest, raw, "runner v1"))
    assert events(registry, r, "MeasurementTrusted") == [{"measurementDigest": digest, "measurements": raw,
                                                          "label": "runner v1"}]
    assert f.trustedMeasurements(digest).call() is True
    chain.reverts(GOV, f.trustMeasurement(digest, raw, "again"), "measurement already trusted")
    r = chain.send(GOV, f.revokeMeasurement(digest))
    assert events(registry, r, "MeasurementRevoked") == [{"measurementDigest": digest}]
    assert f.trustedMeasurements(digest).call() is False
    chain.reverts(GOV, f.revokeMeasurement(digest), "measurement not trusted")


def test_anyone_publishes_once(chain, registry):
    f = registry.functions
    r = chain.send(CONSUMER, f.publish(IMAGE, BUNDLE, "da://bundle"))
    assert events(registry, r, "AlgorithmPublished") == [{"imageDigest": IMAGE, "publisher": CONSUMER.address,
                                                          "bundleDigest": BUNDLE, "daLocator": "da://bundle"}]
    assert f.algorithms(IMAGE).call() == [CONSUMER.address, BUNDLE, "da://bundle"] or \
        tuple(f.algorithms(IMAGE).call()) == (CONSUMER.address, BUNDLE, "da://bundle")
    chain.reverts(STRANGER, f.publish(IMAGE, BUNDLE, "da://other"), "algorithm already published")
    chain.reverts(STRANGER, f.publish(b"\0" * 32, BUNDLE, ""), "image digest is zero")
    chain.reverts(STRANGER, f.publish(BUNDLE, b"\0" * 32, ""), "bundle digest is zero")


def test_only_authorized_operators_record_jobs(chain, registry):
    f = registry.functions
    out, att = keccak(text="output"), keccak(text="attestation")
    job = f.recordJob(JOB, DS, CONSUMER.address, IMAGE, out, att)
    chain.reverts(OPERATOR, job, "not an operator")
    chain.send(GOV, f.setOperator(OPERATOR.address, True))
    chain.reverts(OPERATOR, job, "algorithm not published")
    chain.send(CONSUMER, f.publish(IMAGE, BUNDLE, "da://bundle"))
    chain.reverts(OPERATOR, f.recordJob(b"\0" * 32, DS, CONSUMER.address, IMAGE, out, att), "job id is zero")
    r = chain.send(OPERATOR, job)
    assert events(registry, r, "JobRecorded") == [{"jobId": JOB, "datasetId": DS, "consumer": CONSUMER.address,
                                                   "imageDigest": IMAGE, "outputDigest": out,
                                                   "attestationDigest": att, "operator": OPERATOR.address}]
    assert [bytes(t) for t in r.logs[0].topics[1:3]] == [JOB, DS]  # jobId, datasetId, consumer indexed
    assert f.jobRecorder(JOB).call() == OPERATOR.address
    chain.reverts(OPERATOR, job, "job already recorded")
    chain.send(GOV, f.setOperator(OPERATOR.address, False))
    chain.reverts(OPERATOR, f.recordJob(keccak(text="job/2"), DS, CONSUMER.address, IMAGE, out, att),
                  "not an operator")
