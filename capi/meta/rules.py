"""Meta's Conversions API rules as data: where each rule of docs/META-RULES.md lives in code.

Section numbers refer to docs/META-RULES.md, the relay's own statement of the rules.
Nothing here imports anything heavy: ISO tables are in capi.meta.iso_data (generated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# --- section 2: a server event -------------------------------------------------------------------

MAX_EVENTS_PER_REQUEST: Final = 1000  # events in one request to Meta (and in one to the relay)

STANDARD_EVENTS: Final = frozenset(
    {
        "AddPaymentInfo",
        "AddToCart",
        "AddToWishlist",
        "CompleteRegistration",
        "Contact",
        "CustomizeProduct",
        "Donate",
        "FindLocation",
        "InitiateCheckout",
        "Lead",
        "PageView",
        "Purchase",
        "Schedule",
        "Search",
        "StartTrial",
        "SubmitApplication",
        "Subscribe",
        "ViewContent",
    }
)

ACTION_SOURCES: Final = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)


# event_time: Unix seconds, at most 7 days old (62 days for physical_store), at most ~1 minute
# ahead. A value of MILLISECONDS_FROM or more is milliseconds (Unix seconds reach 10**11 in 5138),
# of MICROSECONDS_FROM or more microseconds.
MILLISECONDS_FROM: Final = 10**11
MICROSECONDS_FROM: Final = 10**14
MAX_EVENT_AGE_S: Final = 7 * 24 * 3600
MAX_PHYSICAL_STORE_AGE_S: Final = 62 * 24 * 3600
MAX_FUTURE_S: Final = 60

# data_processing_options: ["LDU"] or []; with LDU a country (1 = US, 0 = geolocate) and a state
# (1000 = California, 0 = geolocate).
LDU: Final = "LDU"
LDU_COUNTRY_US: Final = 1
LDU_STATE_CODES: Final = {"CA": 1000}  # the US states Meta documents a code for
LDU_GEOLOCATE: Final = 0  # "let Meta geolocate"
LDU_COUNTRIES: Final = frozenset({LDU_GEOLOCATE, LDU_COUNTRY_US})
LDU_STATES: Final = frozenset({LDU_GEOLOCATE, *LDU_STATE_CODES.values()})

# --- section 3: user_data ------------------------------------------------------------------------


@dataclass(frozen=True)
class HashedField:
    """One hashed customer parameter: how the relay normalizes it, and what it is for.

    - `normalizer`: the name of its (value, reason) normalizer in capi.meta.normalize.NORMALIZERS;
    - `context`: what else the normalizer reads: "country" (the event's or CAPI_DEFAULT_COUNTRY's
      region), "phone" (the event's and the default region), "date_order" (CAPI_DATE_ORDER),
      "field" (the field's own name) or "" (nothing);
    - `shape`: what Meta expects, in the words of a warning;
    - `numeric`: a JSON number is taken too (as its digits);
    - `place`: a name or address part (capi.meta.match grades events with only these weak).
    """

    normalizer: str
    shape: str
    context: str = ""
    numeric: bool = False
    place: bool = False


# Hashed (SHA-256 of the normalized UTF-8 string, lowercase hex); each may be a string or a list.
# In Meta's order (the order of match keys everywhere). The split forms at the end are what Meta's
# business SDKs send (the first 5 letters of the first / last name, the first initial, day, month
# and year of birth).
HASHED: Final = {
    "em": HashedField("email", "an email address, trimmed and lowercase"),
    "ph": HashedField(
        "phone", "digits with the country code, e.g. 16505551212", "phone", numeric=True
    ),
    "fn": HashedField("name", "lowercase letters, no punctuation", place=True),
    "ln": HashedField("name", "lowercase letters, no punctuation", place=True),
    "db": HashedField(
        "date", "a date of birth, YYYYMMDD", "date_order", numeric=True, place=True
    ),
    "ge": HashedField("gender", "m or f", place=True),
    "ct": HashedField("city", "lowercase letters, no spaces or punctuation", place=True),
    "st": HashedField(
        "state", "US: 2-letter state code; elsewhere lowercase, no punctuation", "country",
        place=True,
    ),
    "zp": HashedField(
        "zip", "postal code, lowercase, no spaces or dash; US: 5 digits", "country",
        numeric=True, place=True,
    ),
    "country": HashedField("country", "ISO 3166-1 alpha-2 code, e.g. us", place=True),
    "external_id": HashedField("external_id", "your identifier for the person", numeric=True),
    "f5first": HashedField(
        "split", "the first 5 letters of the first name, lowercase", "field"
    ),
    "f5last": HashedField("split", "the first 5 letters of the last name, lowercase", "field"),
    "fi": HashedField("split", "the first letter of the first name, lowercase", "field"),
    "dobd": HashedField("split", "the day of birth, 2 digits (01-31)", "field", numeric=True),
    "dobm": HashedField("split", "the month of birth, 2 digits (01-12)", "field", numeric=True),
    "doby": HashedField("split", "the year of birth, 4 digits", "field", numeric=True),
}  # fmt: skip
HASHED_FIELDS: Final = tuple(HASHED)
PLACE_FIELDS: Final = frozenset(k for k, f in HASHED.items() if f.place)

# Sent as given (validated), never hashed.
NEVER_HASHED_FIELDS: Final = (
    "client_ip_address",
    "client_user_agent",
    "fbc",
    "fbp",
    "subscription_id",
    "fb_login_id",
    "lead_id",
    "anon_id",
    "madid",
    "page_id",
    "page_scoped_user_id",
    "ctwa_clid",
    "ig_account_id",
    "ig_sid",
)

USER_DATA_FIELDS: Final = frozenset(HASHED_FIELDS) | frozenset(NEVER_HASHED_FIELDS)

# Values a caller's code hashes when the real one is missing (a template variable that printed
# nothing, JavaScript's "undefined"). Their SHA-256, in any of these spellings, matches nobody:
# the relay drops such a value, raw or pre-hashed, with a warning (capi.meta.user_data). Meta
# documents no list; this one is ours (META-RULES §3), and leaves out words that are also real
# names ("Na", "Nan", "None" are surnames or given names).
PLACEHOLDER_VALUES: Final = (
    "",
    " ",
    "null",
    "undefined",
    "n/a",
    "false",
    "[object object]",
    "[object Object]",  # JavaScript's String({})
    "unknown",
)

# Since v13, an event whose only customer parameters are one of these sets (or a subset of one) is
# rejected with subcode 2804050.
INSUFFICIENT_SETS: Final = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)

# Common mistakes in user_data keys, with the key Meta expects (the unknown key is dropped, the
# warning suggests the right one).
USER_DATA_KEY_HINTS: Final = {
    "email": "em",
    "emails": "em",
    "phone": "ph",
    "phones": "ph",
    "phone_number": "ph",
    "first_name": "fn",
    "firstname": "fn",
    "last_name": "ln",
    "lastname": "ln",
    "date_of_birth": "db",
    "dob": "db",
    "birthday": "db",
    "gender": "ge",
    "city": "ct",
    "state": "st",
    "zip": "zp",
    "zip_code": "zp",
    "postal_code": "zp",
    "postcode": "zp",
    "country_code": "country",
    "externalid": "external_id",
    "external_ids": "external_id",
    "ip": "client_ip_address",
    "ip_address": "client_ip_address",
    "user_agent": "client_user_agent",
    "_fbc": "fbc",
    "_fbp": "fbp",
}

# --- section 4: custom_data ----------------------------------------------------------------------

# Events about one order: a missing order id is warned about (capi.meta.enrich), since the order
# id is what makes one order one event on every door.
ORDER_EVENTS: Final = frozenset({"Purchase"})


@dataclass(frozen=True)
class RequiredField:
    """A custom_data field an event name requires: what it holds, and Meta's subcode when it
    is missing."""

    holds: str
    subcode: int


# custom_data fields an event name requires (§4); validation reads this table.
REQUIRED_CUSTOM_DATA: Final = {
    "Purchase": {
        "value": RequiredField("the order value as a number", 2804009),
        "currency": RequiredField("an ISO 4217 code such as USD", 2804010),
    }
}
CONTENT_TYPES: Final = frozenset({"product", "product_group"})
DELIVERY_CATEGORIES: Final = frozenset({"in_store", "curbside", "home_delivery"})

# --- section 5: click ids ------------------------------------------------------------------------

SERVER_SUBDOMAIN_INDEX: Final = 1  # fbc built server-side uses subdomain index 1
FBCLID_PARAM: Final = "fbclid"


# META-RULES §1: Graph API versions stay served for at least two years after their release.
# v22.0 (2025-01) is the oldest still served on 2026-11-27; the Graph-compatible route refuses older
# ones as Meta would (code 2635) and takes every newer one, known or not. The version a caller
# uses never changes what the relay sends (CAPI_GRAPH_VERSION does).
OLDEST_SERVED_GRAPH_VERSION: Final = (22, 0)


# Graph API error codes and subcodes the relay reads or answers with (§6; capi.meta.answers
# classifies Meta's answers by them, the Graph-compatible route answers with them).
GRAPH_UNKNOWN_ERROR: Final = 1
GRAPH_SERVICE_UNAVAILABLE: Final = 2
GRAPH_INVALID_PARAMETER: Final = 100
GRAPH_INVALID_TOKEN: Final = 190
GRAPH_DEPRECATED_VERSION: Final = 2635
GRAPH_NO_SUCH_OBJECT_SUBCODE: Final = 33  # with code 100: the pixel is unknown or not visible
