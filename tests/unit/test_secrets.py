from types import SimpleNamespace

import pytest

from capi.forward.tokens import NoToken, TokenSource
from capi.secret_store import SecretError, SecretReader


class FakeClient:
    def __init__(self, values):
        self.values = values
        self.calls = []

    def access_secret_version(self, name, **_):
        self.calls.append(name)
        value = self.values[name]
        if isinstance(value, Exception):
            raise value
        return SimpleNamespace(payload=SimpleNamespace(data=value.encode()))


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def reader(values, ttl=60.0):
    client = FakeClient(values)
    clock = Clock()
    return SecretReader(ttl_s=ttl, client_factory=lambda: client, clock=clock), client, clock


def test_value_is_cached_for_the_ttl_then_read_again():
    r, client, clock = reader({"s/1": " tok\n"})
    assert r.get("s/1") == "tok"
    assert r.get("s/1") == "tok"
    assert client.calls == ["s/1"]
    clock.t += 61
    client.values["s/1"] = "tok2"
    assert r.get("s/1") == "tok2"
    assert len(client.calls) == 2


def test_invalidate_forces_a_new_read():
    r, client, _ = reader({"s/1": "a"})
    r.get("s/1")
    client.values["s/1"] = "b"
    r.invalidate("s/1")
    assert r.get("s/1") == "b"


def test_failure_names_the_secret_and_is_remembered_briefly():
    r, client, clock = reader({"s/1": RuntimeError("boom")})
    with pytest.raises(SecretError, match="s/1"):
        r.get("s/1")
    client.values["s/1"] = "ok"
    with pytest.raises(SecretError, match="s/1"):  # no new read within the failure window
        r.get("s/1")
    assert client.calls == ["s/1"]
    clock.t += 11
    assert r.get("s/1") == "ok"


def test_a_flood_of_requests_during_an_outage_makes_one_read_and_keeps_the_last_good_value():
    r, client, clock = reader({"s/1": "good"}, ttl=60)
    assert r.get("s/1") == "good"
    clock.t += 61  # expired
    client.values["s/1"] = RuntimeError("unavailable")
    assert [r.get("s/1") for _ in range(200)] == ["good"] * 200
    assert client.calls == ["s/1", "s/1"]  # one read for the whole flood


def test_every_read_has_a_deadline():
    calls = []

    class Client:
        def access_secret_version(self, name, retry=None, timeout=None):
            calls.append((retry, timeout))
            return SimpleNamespace(payload=SimpleNamespace(data=b"v"))

    SecretReader(client_factory=Client, timeout_s=2.5).get("s/1")
    ((retry, timeout),) = calls
    assert timeout == 2.5 and retry is not None and retry.timeout == 2.5


def test_token_source_direct_token_and_secret():
    assert TokenSource(token="EAA1").get("123") == "EAA1"
    r, _, _ = reader({"projects/p/secrets/t/versions/latest": "EAA2"})
    source = TokenSource(secret_name="projects/p/secrets/t/versions/latest", reader=r)
    assert source.get("123") == "EAA2"
    assert source.refresh("123") is True
    assert TokenSource(token="x").refresh("123") is False


def test_token_source_per_pixel_secrets_are_separate():
    r, _, _ = reader({"a": "tokA", "b": "tokB"})
    source = TokenSource(secret_name="a", secrets_by_pixel={"222": "b"}, reader=r)
    assert source.get("111") == "tokA"
    assert source.get("222") == "tokB"


def test_no_token_configured():
    source = TokenSource()
    with pytest.raises(NoToken):
        source.get("1")
