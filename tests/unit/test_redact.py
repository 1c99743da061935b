from capi.forward.redact import Redactor
from tests.factories import purchase


def test_meta_message_quoting_the_events_values_keeps_none_of_them():
    event = purchase(
        user_data={
            "fn": "Johnathan",
            "ln": "Smithersonian",
            "ph": "+1 (650) 555-1212",
            "em": "JOHN@Example.com",
            "client_ip_address": "203.0.113.7",
            "ct": "San Francisco",
        }
    )
    text = (
        "Invalid IP 203.0.113.7 for user Johnathan Smithersonian +16505551212 "
        "(john@example.com) in san francisco / SANFRANCISCO"
    )
    clean = Redactor.for_event(event)(text)
    for raw in ("203.0.113.7", "Johnathan", "Smithersonian", "6505551212", "john@", "francisco"):
        assert raw.lower() not in clean.lower(), clean
    assert clean.startswith("Invalid IP [redacted] for user [redacted]")


def test_generic_masks_catch_values_the_event_did_not_hold():
    clean = Redactor()("user 198.51.100.23 / 2001:db8::1 phone (415) 555-0199 mail a@b.co")
    assert "198.51" not in clean and "2001:db8" not in clean and "555-0199" not in clean
    assert "a@b.co" not in clean


def test_codes_and_short_words_survive():
    clean = Redactor.for_event(purchase())("(#100) Invalid parameter: value must be positive")
    assert clean == "(#100) Invalid parameter: value must be positive"


def test_the_user_agents_words_are_not_taken_for_customer_data():
    clean = Redactor.for_event(purchase())("looks like a bad value; agent Mozilla/5.0 (iPhone; CPU")
    assert clean.startswith("looks like a bad value")
