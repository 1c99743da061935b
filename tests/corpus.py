"""A deterministic corpus of realistic, messy server events (seeded random).

Used by the SDK parity test, the property tests and bench/bench_normalize.py. Each event carries
the kind of customer data real senders produce: mixed case and stray spaces, phones in national,
international, ``00`` and trunk-zero forms with extensions, names with accents (some decomposed,
NFD), hyphens and apostrophes, US state names, country names and alpha-3 codes, UK/US/other
postcodes, dates of birth in several formats, pre-hashed upper-case values, lists with
duplicates, and a few invalid values (which must cost only that value).

``make_corpus()`` returns the same events on every run and machine (given the same
``phonenumbers`` metadata).
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

SEED = 20261126
NOW = 1_800_000_000  # fixed "now" for event times (2027-01-15)

COUNTRIES: dict[str, tuple[str, ...]] = {
    # alpha-2: the ways senders write the country
    "US": ("US", "us", "USA", "United States", "United States of America", "usa"),
    "CA": ("CA", "ca", "Canada", "CAN"),
    "GB": ("GB", "gb", "UK", "United Kingdom", "GBR"),
    "DE": ("DE", "de", "Germany", "DEU", "Deutschland"),
    "FR": ("FR", "fr", "France", "FRA"),
    "IN": ("IN", "in", "India", "IND"),
    "BR": ("BR", "br", "Brazil", "BRA", "Brasil"),
    "AU": ("AU", "au", "Australia", "AUS"),
    "JP": ("JP", "jp", "Japan", "JPN"),
    "IT": ("IT", "it", "Italy", "ITA"),
    "ES": ("ES", "es", "Spain", "ESP"),
    "MX": ("MX", "mx", "Mexico", "MEX"),
    "NL": ("NL", "nl", "Netherlands", "NLD"),
}
COUNTRY_WEIGHTS = (40, 5, 12, 8, 6, 5, 5, 5, 3, 3, 3, 3, 2)

FIRST_NAMES = (
    "John", "Mary", "james", "PATRICIA", "Robert", "Jennifer", "Valéry", "José", "Zoë", "Ørjan",
    "Łukasz", "Françoise", "Mary-Jane", "Anne Marie", "Jean-Luc", "Renée", "Søren", "Chloé",
    "Müller", "Σοφία", "Иван", "太郎", "Nguyễn", "D'Angelo", "Siobhán", "Dr. Emily", "André",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "O'Brien", "Johnson", "García", "Müller", "de la Cruz", "Nguyễn", "Smith-Jones",
    "O'Neil", "Brown", "Lefèvre", "Ødegård", "Kowalski", "van der Berg", "田中", "Петров",
    "MacDonald", "St. John", "Williams Jr.", "Dubois",
)  # fmt: skip
CITIES = {
    "US": ("Menlo Park", "San Francisco", "New York", "St. Louis", "Winston-Salem",
           "Coeur d'Alene", "Boston", "Austin", "LOS ANGELES"),
    "CA": ("Toronto", "Montréal", "Québec City", "St. John's"),
    "GB": ("London", "Manchester", "Stoke-on-Trent", "Bury St Edmunds"),
    "DE": ("Berlin", "München", "Frankfurt am Main", "Köln"),
    "FR": ("Paris", "Saint-Étienne", "Aix-en-Provence", "L'Haÿ-les-Roses"),
    "IN": ("Mumbai", "New Delhi", "Bengaluru"),
    "BR": ("São Paulo", "Rio de Janeiro", "Belo Horizonte"),
    "AU": ("Sydney", "Melbourne", "Alice Springs"),
    "JP": ("Tokyo", "東京", "Osaka"),
    "IT": ("Roma", "Milano", "Reggio nell'Emilia"),
    "ES": ("Madrid", "A Coruña", "L'Hospitalet de Llobregat"),
    "MX": ("Ciudad de México", "Guadalajara"),
    "NL": ("Amsterdam", "'s-Hertogenbosch", "Den Haag"),
}  # fmt: skip
STATES = {
    "US": ("California", "CA", "ca", "New York", "NY", "Texas", "tx", "Massachusetts", "MA",
           "North Carolina", "District of Columbia", "Washington", " fl ", "Calif"),
    "CA": ("Ontario", "ON", "Québec", "QC", "British Columbia", "bc"),
    "GB": ("England", "Greater Manchester", "Scotland"),
    "DE": ("Berlin", "Bayern", "BY", "Nordrhein-Westfalen"),
    "FR": ("Île-de-France", "IDF", "Provence-Alpes-Côte d'Azur"),
    "IN": ("Maharashtra", "MH", "Karnataka"),
    "BR": ("SP", "São Paulo", "RJ"),
    "AU": ("NSW", "New South Wales", "VIC", "Victoria"),
    "JP": ("Tokyo", "13"),
    "IT": ("Lazio", "RM", "Lombardia"),
    "ES": ("Madrid", "Cataluña"),
    "MX": ("CDMX", "Jalisco"),
    "NL": ("Noord-Holland", "NH"),
}  # fmt: skip
ZIPS = {
    "US": ("94025", "94025-1234", "10001", "02134", "2134", "941251234", " 73301 ", "60614"),
    "CA": ("K1A 0B1", "M5V 3L9", "h2x1y4"),
    "GB": ("M1 1AE", "SW1A 1AA", "EC1A 1BB", "b33 8th"),
    "DE": ("10115", "80331"),
    "FR": ("75001", "13100"),
    "IN": ("400001", "560 001"),
    "BR": ("01310-100", "20040-020"),
    "AU": ("2000", "3000"),
    "JP": ("100-0001", "150-0002"),
    "IT": ("00184", "20121"),
    "ES": ("28013", "08001"),
    "MX": ("06600", "44100"),
    "NL": ("1012 AB", "3511 LX"),
}
DOMAINS = ("gmail.com", "yahoo.com", "Outlook.com", "example.org", "web.de", "orange.fr",
           "icloud.com", "company.co.uk")  # fmt: skip
GENDERS = ("m", "f", "M", "F", "Male", "female", "FEMALE", "Woman", "man", " f ", "x", "unknown")
BAD_EMAILS = ("n/a", "none", "john@", "@gmail.com", "john at gmail dot com", "test@test", "  ",
              "john..smith@gmail.com", "mary@gmail.c")  # fmt: skip
BAD_PHONES = ("n/a", "000", "12345", "call me", "+1 555 1212", "0")
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
)
EVENT_NAMES = ("Purchase", "Purchase", "Lead", "AddToCart", "ViewContent", "InitiateCheckout",
               "CompleteRegistration", "Subscribe", "Contact", "PageView", "quiz_done")  # fmt: skip
ACTION_SOURCES = ("website", "website", "website", "website", "app", "email", "phone_call",
                  "physical_store", "system_generated", "chat")  # fmt: skip
US_AREA_CODES = ("212", "415", "650", "312", "617", "305", "713", "206", "404", "646", "702")


def _phone_number(rng: random.Random, region: str) -> phonenumbers.PhoneNumber:
    """A valid number of ``region``: a US area code or phonenumbers' example with new digits."""
    for _ in range(50):
        if region == "US":
            nsn = rng.choice(US_AREA_CODES) + str(rng.randint(2, 9)) + f"{rng.randrange(10**6):06d}"
            number = phonenumbers.parse(nsn, "US")
        else:
            kind = rng.choice((PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE))
            example = phonenumbers.example_number_for_type(region, kind)
            nsn = phonenumbers.national_significant_number(example)
            tail = f"{rng.randrange(10**4):04d}"
            number = phonenumbers.parse("+" + str(example.country_code) + nsn[:-4] + tail, None)
        if phonenumbers.is_valid_number(number):
            return number
    return phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)


def _phone_text(rng: random.Random, number: phonenumbers.PhoneNumber) -> str:
    """One of the ways people write ``number``."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    nsn = phonenumbers.national_significant_number(number)
    code = str(number.country_code)
    style = rng.randrange(11)
    if style == 0:
        return e164
    if style == 1:
        return international
    if style == 2:
        return national
    if style == 3:
        return "00" + e164[1:]
    if style == 4:
        return e164[1:]  # already E.164 digits, no '+'
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(
        phonenumbers.region_code_for_number(number)
    )
    if style == 5 and metadata is not None and metadata.national_prefix == "0" and nsn[0] != "0":
        return f"+{code} (0){nsn[:3]} {nsn[3:]}"  # trunk zero in parentheses
    if style == 6:
        return national + rng.choice((" ext. 12", " x301", " #4"))
    if style == 7:
        return national.replace(" ", ".").replace("(", "").replace(")", "").replace("-", ".")
    if style == 8:
        return "".join(ch for ch in national if ch.isdigit())
    if style == 9:
        return f" {international} "
    return international.replace(" ", "-")


def _nfd_sometimes(rng: random.Random, text: str) -> str:
    return unicodedata.normalize("NFD", text) if rng.random() < 0.15 else text


def _case_and_space(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.15:
        text = text.upper()
    elif roll < 0.3:
        text = text.lower()
    if rng.random() < 0.15:
        text = f"  {text} "
    return text


def _date_text(rng: random.Random, region: str) -> str:
    year, month, day = rng.randint(1940, 2006), rng.randint(1, 12), rng.randint(1, 28)
    style = rng.randrange(9)
    if style == 0:
        return f"{year}-{month:02d}-{day:02d}"
    if style == 1:
        return f"{year}{month:02d}{day:02d}"
    if style == 2:
        return f"{month}/{day}/{year}" if region == "US" else f"{day}/{month}/{year}"
    if style == 3:
        return f"{day:02d}.{month:02d}.{year}"
    if style == 4:
        names = ("January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December")  # fmt: skip
        return f"{names[month - 1]} {day}, {year}"
    if style == 5:
        names = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
        return f"{day} {names[month - 1]} {year}"
    if style == 6:
        return f"{year}/{month:02d}/{day:02d}"
    if style == 7:
        return f"{year}-{month:02d}-{day:02d}T00:00:00Z"
    return f"{month:02d}/{day:02d}/{year % 100:02d}" if region == "US" else f"{day}.{month}.{year}"


def _ipv4(rng: random.Random) -> str:
    return f"{rng.choice((8, 23, 31, 45, 66, 81, 92, 104, 151, 185))}.{rng.randrange(256)}." + (
        f"{rng.randrange(256)}.{rng.randrange(1, 255)}"
    )


def _ipv6(rng: random.Random) -> str:
    groups = [rng.randrange(65536) for _ in range(6)]
    return "2a03:2880:" + ":".join(f"{g:x}" for g in groups)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _maybe_list(rng: random.Random, values: list[Any]) -> Any:
    """A single value, or a list (sometimes with a duplicate)."""
    if len(values) == 1 and rng.random() < 0.85:
        return values[0]
    if rng.random() < 0.5:
        values = [*values, values[0]]
    return values


def make_user_data(rng: random.Random, now: int = NOW) -> dict[str, Any]:
    """One messy user_data object."""
    region = rng.choices(tuple(COUNTRIES), weights=COUNTRY_WEIGHTS)[0]
    user: dict[str, Any] = {}
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    if rng.random() < 0.85:
        parts = [
            unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode()
            for part in (first, last)
        ]
        local = ".".join(p.replace(" ", "").replace("'", "").strip(".") or "user" for p in parts)
        emails = [_case_and_space(rng, f"{local}{rng.randrange(100)}@{rng.choice(DOMAINS)}")]
        if rng.random() < 0.1:
            emails.append(rng.choice(BAD_EMAILS))
        if rng.random() < 0.08:
            emails.append(_sha(emails[0].strip().lower()).upper())  # pre-hashed, upper case
        user["em"] = _maybe_list(rng, emails)
    if rng.random() < 0.7:
        phones = [_phone_text(rng, _phone_number(rng, region))]
        if rng.random() < 0.05:
            phones.append(rng.choice(BAD_PHONES))
        user["ph"] = _maybe_list(rng, phones)
    if rng.random() < 0.6:
        user["fn"] = _case_and_space(rng, _nfd_sometimes(rng, first))
    if rng.random() < 0.6:
        user["ln"] = _case_and_space(rng, _nfd_sometimes(rng, last))
    if rng.random() < 0.5:
        user["ct"] = _case_and_space(rng, _nfd_sometimes(rng, rng.choice(CITIES[region])))
    if rng.random() < 0.5:
        user["st"] = rng.choice(STATES[region])
    if rng.random() < 0.5:
        zip_code: Any = rng.choice(ZIPS[region])
        if region == "US" and zip_code.strip().isdigit() and rng.random() < 0.2:
            zip_code = int(zip_code)  # a JSON number
        user["zp"] = zip_code
    if rng.random() < 0.75:
        user["country"] = rng.choice(COUNTRIES[region])
    if rng.random() < 0.4:
        user["ge"] = rng.choice(GENDERS)
    if rng.random() < 0.4:
        user["db"] = _date_text(rng, region)
    if rng.random() < 0.5:
        user["external_id"] = rng.choice(
            (f"user-{rng.randrange(10**6)}", rng.randrange(10**8), f" CUST{rng.randrange(10**5)} ")
        )
    if rng.random() < 0.8:
        user["client_ip_address"] = _ipv6(rng) if rng.random() < 0.3 else _ipv4(rng)
    if rng.random() < 0.85:
        user["client_user_agent"] = rng.choice(USER_AGENTS)
    created = (now - rng.randrange(86400 * 60)) * 1000
    if rng.random() < 0.6:
        fbp = f"fb.1.{created}.{rng.randrange(10**9, 10**10)}"
        user["fbp"] = fbp + ".AQ" if rng.random() < 0.1 else fbp
    if rng.random() < 0.25:
        user["fbc"] = f"fb.1.{created}.IwAR{rng.randrange(16**12):012x}"
    if rng.random() < 0.02:
        user["fbc"] = "IwAR" + str(rng.randrange(10**8))  # a bare fbclid: malformed
    return user


def make_event(rng: random.Random, index: int, now: int = NOW) -> dict[str, Any]:
    """One server event around ``now`` with messy user_data."""
    name = rng.choice(EVENT_NAMES)
    source = rng.choice(ACTION_SOURCES)
    event: dict[str, Any] = {
        "event_name": name,
        "event_time": now - rng.randrange(6 * 86400),
        "action_source": source,
        "event_id": f"evt-{index:05d}",
        "user_data": make_user_data(rng, now),
    }
    if source == "website":
        url = f"https://shop.example.com/p/{rng.randrange(1000)}"
        if rng.random() < 0.2:
            url += f"?utm_source=fb&fbclid=IwAR{rng.randrange(16**16):016x}"
        event["event_source_url"] = url
    if name == "Purchase":
        event["custom_data"] = {
            "value": round(rng.uniform(5, 500), 2),
            "currency": rng.choice(("USD", "EUR", "GBP", "usd", "BRL")),
            "contents": [{"id": f"SKU{rng.randrange(1000)}", "quantity": rng.randint(1, 3)}],
        }
    return event


# Hand-picked user_data mixed into the corpus (every 50th event), so that the rare shapes are
# always there whatever the random draw: the classic mistakes of META-RULES §3.
CLASSICS: tuple[dict[str, Any], ...] = (
    {"ph": "06 1234 5678", "country": "Italy", "em": "Mario.Rossi@Example.it"},
    {"ph": "+44 (0)20 7946 0958", "fn": "Siobhán", "ln": "O'Brien", "zp": "SW1A 1AA"},
    {"ph": "(650)555-1212", "country": "United States", "st": "California", "zp": "94025-1234"},
    {"em": "John_Smith@gmail.com", "db": "2/16/1997", "ge": "Male", "ct": "Menlo Park"},
    {"ph": "0044 7911 123456", "country": "GBR", "external_id": " CRM-0042 "},
    {"fn": unicodedata.normalize("NFD", "Zoë"), "ln": "Nguyễn", "country": "VN"},
    {"ph": "1-650-555-1212 ext. 12", "country": "us", "zp": 2134},
    {"em": ["A@Example.com", "a@example.com ", "A@EXAMPLE.COM"], "ge": "x"},
    {"st": "13", "country": "JP", "ph": "090-1234-5678"},
    {"db": "03/04/1990", "em": "ambiguous.date@example.org"},
    {"country": "Deutschland", "ph": "030 123456", "zp": "10115", "ct": "Frankfurt am Main"},
    {"em": _sha("mary@example.com").upper(), "ph": "   ", "fn": ""},
)


def make_corpus(n: int = 600, seed: int = SEED, now: int = NOW) -> list[dict[str, Any]]:
    """``n`` events, the same on every call with the same arguments."""
    rng = random.Random(seed)
    events = [make_event(rng, index, now) for index in range(n)]
    for slot, classic in enumerate(CLASSICS):
        index = slot * 50
        if index < n:
            user = events[index]["user_data"]
            events[index]["user_data"] = {
                **{k: v for k, v in user.items() if k not in classic and k != "country"},
                **classic,
            }
    return events
