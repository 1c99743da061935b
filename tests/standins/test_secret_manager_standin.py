"""The Secret Manager stand-in, driven by the real google-cloud-secret-manager REST client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions
from google.api_core.retry import Retry, if_exception_type
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager

from tests.standins.secret_manager import SecretManagerStandIn, crc32c

PROJECT = "capi-test"
SECRET = f"projects/{PROJECT}/secrets/meta-capi-token"
LATEST = f"{SECRET}/versions/latest"


def make_client(url: str) -> secretmanager.SecretManagerServiceClient:
    return secretmanager.SecretManagerServiceClient(
        transport="rest",
        client_options={"api_endpoint": url},
        credentials=AnonymousCredentials(),
    )


@pytest.fixture
def sm():
    with SecretManagerStandIn() as standin:
        yield standin


@pytest.fixture
def client(sm):
    return make_client(sm.url)


def test_crc32c_known_vector():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_access_latest_and_a_numbered_version(sm, client):
    assert sm.set_secret(SECRET, "EAAfirst") == f"{SECRET}/versions/1"
    assert sm.set_secret(SECRET, b"EAAsecond") == f"{SECRET}/versions/2"
    latest = client.access_secret_version(name=LATEST)
    assert latest.name == f"{SECRET}/versions/2"
    assert latest.payload.data == b"EAAsecond"
    assert latest.payload.data_crc32c == crc32c(b"EAAsecond")
    first = client.access_secret_version(name=f"{SECRET}/versions/1")
    assert (first.name, first.payload.data) == (f"{SECRET}/versions/1", b"EAAfirst")


def test_rotation_with_add_secret_version(sm, client):
    sm.set_secret(SECRET, "EAAold")
    assert client.access_secret_version(name=LATEST).payload.data == b"EAAold"
    added = client.add_secret_version(parent=SECRET, payload={"data": b"EAAnew"})
    assert added.name == f"{SECRET}/versions/2"
    assert added.state == secretmanager.SecretVersion.State.ENABLED
    assert client.access_secret_version(name=LATEST).payload.data == b"EAAnew"
    assert client.access_secret_version(name=f"{SECRET}/versions/1").payload.data == b"EAAold"
    assert sm.value(LATEST) == b"EAAnew"


def test_add_version_checks_a_given_crc32c(sm, client):
    sm.set_secret(SECRET, "x")
    ok = client.add_secret_version(
        parent=SECRET, payload={"data": b"EAA", "data_crc32c": crc32c(b"EAA")}
    )
    assert ok.name.endswith("/versions/2")
    with pytest.raises(exceptions.BadRequest):
        client.add_secret_version(parent=SECRET, payload={"data": b"EAA", "data_crc32c": 1})


def test_access_counts_show_caching(sm, client):
    sm.set_secret(SECRET, "EAA")
    for _ in range(3):
        client.access_secret_version(name=LATEST)
    client.access_secret_version(name=f"{SECRET}/versions/1")
    assert sm.access_count(SECRET) == 4
    assert sm.access_count(LATEST) == 3
    assert sm.access_count(f"{SECRET}/versions/1") == 1
    assert sm.access_count(f"projects/{PROJECT}/secrets/other") == 0
    assert sm.access_counts() == {SECRET: 4}
    assert [r.operation for r in sm.requests] == ["access"] * 4
    sm.reset()
    assert sm.access_count(SECRET) == 0
    assert client.access_secret_version(name=LATEST).payload.data == b"EAA"  # secrets kept


def test_missing_secret_is_not_found(sm, client):
    with pytest.raises(exceptions.NotFound, match="not found or has no versions"):
        client.access_secret_version(name=f"projects/{PROJECT}/secrets/nope/versions/latest")
    assert sm.access_count(f"projects/{PROJECT}/secrets/nope") == 1


def test_missing_version_is_not_found(sm, client):
    sm.set_secret(SECRET, "EAA")
    with pytest.raises(exceptions.NotFound):
        client.access_secret_version(name=f"{SECRET}/versions/7")


def test_secret_without_versions_is_not_found(sm, client):
    sm.create_secret(SECRET)
    with pytest.raises(exceptions.NotFound, match="has no versions"):
        client.access_secret_version(name=LATEST)


def test_injected_503_surfaces_as_service_unavailable(sm, client):
    sm.set_secret(SECRET, "EAA")
    sm.fail_next(1, status=503)
    with pytest.raises(exceptions.ServiceUnavailable):
        client.access_secret_version(name=LATEST, retry=None)
    assert client.access_secret_version(name=LATEST, retry=None).payload.data == b"EAA"
    assert [r.status for r in sm.requests] == [503, 200]


def test_the_client_retry_rides_over_injected_503s(sm, client):
    sm.set_secret(SECRET, "EAA")
    sm.fail_next(2, status=503)
    retry = Retry(
        initial=0.01,
        maximum=0.05,
        predicate=if_exception_type(exceptions.ServiceUnavailable),
        timeout=5,
    )
    assert client.access_secret_version(name=LATEST, retry=retry).payload.data == b"EAA"
    assert sm.access_count(LATEST) == 3


def test_injected_429_is_too_many_requests_and_not_retried_by_default(sm, client):
    """The default retry predicate names ResourceExhausted; over REST a 429 is TooManyRequests."""
    sm.set_secret(SECRET, "EAA")
    sm.fail_next(1, status=429)
    with pytest.raises(exceptions.TooManyRequests):
        client.access_secret_version(name=LATEST)
    assert sm.access_count(LATEST) == 1


def test_fault_limited_to_one_operation(sm, client):
    sm.set_secret(SECRET, "EAA")
    sm.fail_next(1, status=503, operation="access")
    client.add_secret_version(parent=SECRET, payload={"data": b"EAA2"})  # not faulted
    with pytest.raises(exceptions.ServiceUnavailable):
        client.access_secret_version(name=LATEST, retry=None)


def test_permission_denied(sm, client):
    """403 PERMISSION_DENIED. Over REST api_core raises Forbidden (by HTTP status), not its
    gRPC-flavoured subclass PermissionDenied: code that catches PermissionDenied misses it."""
    sm.set_secret(SECRET, "EAA")
    sm.fail_next(1, status=403)
    with pytest.raises(exceptions.Forbidden) as caught:
        client.access_secret_version(name=LATEST, retry=None)
    assert not isinstance(caught.value, exceptions.PermissionDenied)
    assert caught.value.code == 403
    sm.deny(SECRET)
    with pytest.raises(exceptions.Forbidden, match=r"secretmanager\.versions\.access"):
        client.access_secret_version(name=LATEST, retry=None)
    sm.allow(SECRET)
    assert client.access_secret_version(name=LATEST).payload.data == b"EAA"


def test_latest_is_the_newest_version_even_when_disabled(sm, client):
    """Faithful to Google: latest does not skip a disabled newest version."""
    sm.set_secret(SECRET, "EAAold")
    sm.set_secret(SECRET, "EAAnew")
    disabled = client.disable_secret_version(name=f"{SECRET}/versions/2")
    assert disabled.state == secretmanager.SecretVersion.State.DISABLED
    # Over REST, FAILED_PRECONDITION (HTTP 400) is raised as BadRequest, by HTTP status.
    with pytest.raises(exceptions.BadRequest, match=r"versions/2\] is in DISABLED state"):
        client.access_secret_version(name=LATEST)
    assert client.access_secret_version(name=f"{SECRET}/versions/1").payload.data == b"EAAold"
    client.enable_secret_version(name=f"{SECRET}/versions/2")
    assert client.access_secret_version(name=LATEST).payload.data == b"EAAnew"
    sm.destroy_version(f"{SECRET}/versions/2")
    with pytest.raises(exceptions.BadRequest, match="DESTROYED"):
        client.access_secret_version(name=LATEST)


def test_create_secret_and_conflict(sm, client):
    created = client.create_secret(
        parent=f"projects/{PROJECT}",
        secret_id="api-keys",
        secret={"replication": {"automatic": {}}},
    )
    assert created.name == f"projects/{PROJECT}/secrets/api-keys"
    with pytest.raises(exceptions.Conflict):
        client.create_secret(
            parent=f"projects/{PROJECT}",
            secret_id="api-keys",
            secret={"replication": {"automatic": {}}},
        )
    client.add_secret_version(parent=created.name, payload={"data": b"k1,k2"})
    got = client.access_secret_version(name=f"{created.name}/versions/latest")
    assert got.payload.data == b"k1,k2"
    assert client.get_secret(name=created.name).name == created.name
    versions = list(client.list_secret_versions(parent=created.name))
    assert [v.name for v in versions] == [f"{created.name}/versions/1"]


def test_add_version_to_a_missing_secret_is_not_found(client):
    with pytest.raises(exceptions.NotFound):
        client.add_secret_version(parent=SECRET, payload={"data": b"x"})


def test_project_numbers_in_names_like_google():
    with SecretManagerStandIn({PROJECT: "123456789"}) as sm:
        client = make_client(sm.url)
        assert (
            sm.set_secret(SECRET, "EAA") == "projects/123456789/secrets/meta-capi-token/versions/1"
        )
        by_id = client.access_secret_version(name=LATEST)
        assert by_id.name == "projects/123456789/secrets/meta-capi-token/versions/1"
        by_number = client.access_secret_version(
            name="projects/123456789/secrets/meta-capi-token/versions/1"
        )
        assert by_number.payload.data == b"EAA"
        assert sm.access_count(SECRET) == 2


def test_process_mode_with_the_real_client():
    script = Path(__file__).with_name("secret_manager.py")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "--port",
            "0",
            "--project",
            PROJECT,
            "--secret",
            "meta-capi-token=EAA=with=equals",
            "--secret",
            f"projects/{PROJECT}/secrets/api-keys=k1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split(" ", 1)[1]
        client = make_client(url)
        assert client.access_secret_version(name=LATEST).payload.data == b"EAA=with=equals"
        client.add_secret_version(parent=SECRET, payload={"data": b"EAArotated"})
        assert client.access_secret_version(name=LATEST).payload.data == b"EAArotated"
        with requests.Session() as http:
            assert http.post(f"{url}/_standin/faults", json={"n": 1, "status": 503}).ok
            with pytest.raises(exceptions.ServiceUnavailable):
                client.access_secret_version(name=LATEST, retry=None)
            counts = http.get(f"{url}/_standin/access-counts").json()
            assert counts == {SECRET: 3}
            made = http.post(
                f"{url}/_standin/secrets",
                json={"name": f"projects/{PROJECT}/secrets/api-keys", "value": "k2"},
            ).json()
            assert made == {"version": f"projects/{PROJECT}/secrets/api-keys/versions/2"}
            assert http.post(f"{url}/_standin/reset").ok
            assert http.get(f"{url}/_standin/access-counts").json() == {}
        name = f"projects/{PROJECT}/secrets/api-keys/versions/latest"
        assert client.access_secret_version(name=name).payload.data == b"k2"
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
