import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capi import logs


@pytest.fixture
def captured():
    stream = io.StringIO()
    logs.set_stream(stream)
    yield stream
    logs.set_stream(None)


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_severity_and_message(captured):
    logs.info("hello", count=3)
    logs.error("bad", code=100)
    first, second = lines(captured)
    assert first["severity"] == "INFO" and first["message"] == "hello" and first["count"] == 3
    assert second["severity"] == "ERROR"


def test_pii_and_secret_fields_are_redacted_even_when_passed_by_mistake(captured):
    logs.info(
        "oops",
        em="john@example.com",
        access_token="EAAsecret123456789",
        extra={"user_data": {"ph": "16505551212"}, "note": "mail john@example.com now"},
    )
    text = captured.getvalue()
    assert "john@example.com" not in text
    assert "EAAsecret123456789" not in text
    assert "16505551212" not in text
    assert lines(captured)[0]["extra"]["user_data"] == "[redacted]"


def test_free_text_is_scrubbed_of_emails_and_tokens(captured):
    logs.warning("failed for Jane.Doe@Example.org with Bearer abc.def and EAAB1234567890abcd")
    message = lines(captured)[0]["message"]
    assert "Jane.Doe" not in message and "abc.def" not in message and "EAAB" not in message


def test_other_libraries_lines_come_out_as_redacted_json(capture_logs):
    import logging

    from capi import logs

    logs.install()
    logging.getLogger("werkzeug").warning("request from %s failed", "jane@example.com")
    logging.getLogger("urllib3.connectionpool").error("token EAAabcdefghijklmnop rejected")
    lines = [e for e in capture_logs() if e.get("logger") in {"werkzeug", "urllib3.connectionpool"}]
    assert [e["severity"] for e in lines] == ["WARNING", "ERROR"]
    assert "jane@example.com" not in str(lines) and "EAAabcdefghijklmnop" not in str(lines)


def test_lines_of_a_request_carry_its_cloud_trace(capture_logs, monkeypatch):
    from capi import logs

    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    trace = "105445aa7843bc8bf206b12000100000"
    with logs.request_context({"X-Cloud-Trace-Context": f"{trace}/1;o=1"}):
        logs.info("inside")
    logs.info("outside")
    inside, outside = [e for e in capture_logs() if e["message"] in {"inside", "outside"}]
    assert inside[logs.TRACE_FIELD] == f"projects/my-project/traces/{trace}"
    assert logs.TRACE_FIELD not in outside


def test_every_customer_information_field_of_the_rule_book_is_redacted(captured):
    """capi.logs (layer 0) cannot import the rule book, so it keeps its own list of sensitive
    keys: every field the rules hash or pass through as customer information must be on it."""
    from capi.meta import rules

    fields = [*rules.HASHED_FIELDS, "client_ip_address", "client_user_agent", "fbc", "fbp"]
    logs.info("fields", **{name: f"raw-{name}-value" for name in fields})
    text = captured.getvalue()
    assert [name for name in fields if f"raw-{name}-value" in text] == []


@given(
    st.lists(
        st.sampled_from(
            ["@", "a", "Z", "9", ".", " ", "\n", "EAA", "Bearer", "\t", "'", "<", "com", "é"]
        ),
        max_size=40,
    ).map("".join)
)
def test_scrubbing_masks_exactly_what_both_patterns_mask(text):
    # scrub_text skips a pattern when its literal is absent: it must change nothing
    expected = logs._TOKENISH.sub("[redacted]", logs._EMAIL.sub("[redacted-email]", text))
    assert logs.scrub_text(text) == expected
