import pytest

from capi.config import DEFAULT_GRAPH_VERSION, ConfigError, Settings


def test_defaults_when_nothing_is_set():
    s = Settings.from_env({})
    assert s.graph_url == "https://graph.facebook.com"
    assert s.graph_version == DEFAULT_GRAPH_VERSION
    assert s.api_keys == ()
    assert s.allow_unauthenticated is False


def test_reads_every_documented_variable():
    s = Settings.from_env(
        {
            "CAPI_PIXEL_ID": "123",
            "CAPI_ACCESS_TOKEN": "tok",
            "CAPI_GRAPH_URL": "http://127.0.0.1:9/",
            "CAPI_GRAPH_VERSION": "27.0",
            "CAPI_TOPIC": "projects/p/topics/capi-events",
            "CAPI_DLQ_TOPIC": "projects/p/topics/capi-events-dlq",
            "CAPI_API_KEYS": "a, b,,\nc",
            "CAPI_TEST_EVENT_CODE": "TEST1",
            "CAPI_DEFAULT_COUNTRY": "gb",
            "CAPI_MAX_DELIVERY_ATTEMPTS": "7",
        }
    )
    assert s.pixel_id == "123"
    assert s.graph_url == "http://127.0.0.1:9"
    assert s.graph_version == "v27.0"
    assert s.api_keys == ("a", "b", "c")
    assert s.default_country == "GB"
    assert s.max_delivery_attempts == 7


def test_token_is_not_in_repr():
    s = Settings.from_env({"CAPI_ACCESS_TOKEN": "EAAsecret", "CAPI_API_KEYS": "key1"})
    assert "EAAsecret" not in repr(s)
    assert "key1" not in repr(s)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CAPI_TOPIC", "capi-events"),
        ("CAPI_DEFAULT_COUNTRY", "USA"),
        ("CAPI_GRAPH_TIMEOUT", "soon"),
        ("CAPI_GRAPH_TIMEOUT", "-1"),
        ("CAPI_DATE_ORDER", "YDM"),
        ("CAPI_MAX_DELIVERY_ATTEMPTS", "x"),
    ],
)
def test_unusable_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_the_worst_case_of_one_delivery_adds_every_outside_deadline():
    from capi.config import Settings

    settings = Settings.from_env(
        {
            "CAPI_SECRET_TIMEOUT": "2",
            "CAPI_GRAPH_TIMEOUT": "10",
            "CAPI_PUBLISH_TIMEOUT": "4",
            "CAPI_ACK_DEADLINE": "40",
        }
    )
    # token read + Graph + (190) token re-read + Graph again + dead-letter publish + margin
    assert settings.delivery_worst_case_s == 2 * 2 + 2 * (3.05 + 10) + 4 + 5
    assert settings.ack_deadline_s == 40


def test_a_forwarder_whose_ack_deadline_is_shorter_than_its_worst_case_refuses_to_start():
    import pytest

    from capi.config import ConfigError, Settings
    from capi.wiring import build_forwarder

    tight = Settings.from_env({"CAPI_ACCESS_TOKEN": "EAAx", "CAPI_ACK_DEADLINE": "10"})
    with pytest.raises(ConfigError, match="CAPI_ACK_DEADLINE is 10 s but one delivery may take"):
        build_forwarder(tight)
    roomy = Settings.from_env({"CAPI_ACCESS_TOKEN": "EAAx", "CAPI_ACK_DEADLINE": "60"})
    assert build_forwarder(roomy).in_flight_wait_s == roomy.delivery_worst_case_s
