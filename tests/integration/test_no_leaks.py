"""Guarantee 4: no raw PII and no secret in any log line, error answer or DLQ attribute.

One end-to-end run through real ingest and forward processes, the Pub/Sub emulator and the
Graph stand-in, steered through as many paths as possible: accepted, partly rejected and fully
rejected bodies, unusable bodies, a wrong API key, a caller's access_token in the body, a
transient Meta error, permanent Meta errors (one of which quotes the token back), a code 190,
an event that fails the forwarder's own validation, and poison on the topic. Then every line the
two processes wrote, every answer ingest gave, and every DLQ attribute are searched for the raw
customer data and the secrets.

What is allowed on purpose: the queue message `data` holds the validated event before hashing
(ARCHITECTURE.md, "Queue message"), and a DLQ message keeps that data for replay. Those are
protected by the topics' IAM, not by redaction, so only their attributes are searched here.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from capi.tools.emulator import DLQ_SUBSCRIPTION
from tests.conftest import pull_until_quiet

pytestmark = pytest.mark.integration

TOKEN = "EAAZqLeakCanary0k7Qx2Vb9Rt4Wm1Np6Ls3Hd8Jf5Gc0Ye2Ua7Io9Ke4Tz1"
CALLER_TOKEN = "EAACallerTokenCanary9f8e7d6c5b4a3928171605f4e3d2c1b0a9"
API_KEY = "ak-canary-5b1e0c9d7a3f4e2b8c6d"
WRONG_KEY = "ak-wrong-canary-77c1f0e2d4b6"

EMAIL = "Zebulon.Quackenbush@Example.org"
PHONE = "+44 20 7946 0958"
FIRST = "Zebulon"
LAST = "Quackenbush"
CITY = "Llanfairpwllgwyngyll"
ZIP = "LL61 5UJ"
IP = "198.51.100.77"
BIRTH = "1987-03-14"

FORBIDDEN = {
    "email": [EMAIL, EMAIL.lower(), "zebulon.quackenbush"],
    "phone": [PHONE, "442079460958", "2079460958", "7946 0958"],
    "first name": [FIRST],
    "last name": [LAST],
    "city": [CITY],
    "zip": [ZIP, "ll615uj"],
    "ip address": [IP],
    "date of birth": [BIRTH, "19870314"],
    "Meta token": [TOKEN, TOKEN[:24]],
    "caller's token": [CALLER_TOKEN, CALLER_TOKEN[:24]],
    "API key": [API_KEY, WRONG_KEY],
}


def customer(event_id: str, **overrides) -> dict:
    event = {
        "event_name": "Purchase",
        "event_id": event_id,
        "event_time": int(time.time()) - 60,
        "action_source": "website",
        "event_source_url": "https://shop.example.com/thanks",
        "user_data": {
            "em": EMAIL,
            "ph": PHONE,
            "fn": FIRST,
            "ln": LAST,
            "ct": CITY,
            "zp": ZIP,
            "country": "GB",
            "db": BIRTH,
            "client_ip_address": IP,
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        },
        "custom_data": {"value": 12.5, "currency": "GBP"},
    }
    event.update(overrides)
    return event


def find_leaks(where: str, text: str) -> list[str]:
    lowered = text.lower()
    return [
        f"{what} ({needle!r}) in {where}: ...{text[max(0, i - 80) : i + 80]}..."
        for what, needles in FORBIDDEN.items()
        for needle in needles
        if (i := lowered.find(needle.lower())) >= 0
    ]


def test_no_raw_pii_or_secret_in_logs_answers_or_dlq_attributes(start_relay, graph_standin):
    from google.cloud import pubsub_v1

    assert find_leaks("a self-check", f'{{"x": "{PHONE.replace(" ", "")}", "y": "{LAST.upper()}"}}')
    graph_standin.set_tokens([TOKEN])
    relay = start_relay(
        # one Graph request per event: each injected Meta error must meet one event and end in
        # the DLQ with its message (batching would send a rejected batch's events alone again)
        forward_env={"CAPI_ACCESS_TOKEN": TOKEN, "CAPI_BATCH_WINDOW_MS": "0"},
        ingest_env={"CAPI_API_KEYS": API_KEY},
    )
    # A tap on the main topic: what ingest queued, to check the caller's token never got there.
    tap = f"projects/{relay.project}/subscriptions/tap"
    subscriber = pubsub_v1.SubscriberClient()
    subscriber.create_subscription(request={"name": tap, "topic": relay.names["topic"]})
    subscriber.close()

    # Meta's side: one transient error, two permanent ones (one quoting the token back, as a
    # careless proxy might), one 190.
    graph_standin.fail_next(1, status=500)
    graph_standin.error_next(
        100, 2804050, message=f"Invalid parameter (access_token={TOKEN})", user_msg=f"t {TOKEN}"
    )
    graph_standin.error_next(190, 463, status=401)
    graph_standin.error_next(100, 2804019)

    url = relay.ingest.url + "/events"
    answers = []

    def post(body=None, *, data=None, content_type="application/json", key=API_KEY) -> None:
        answers.append(
            requests.post(
                url,
                json=body,
                data=data,
                headers={"X-API-Key": key, **({"Content-Type": content_type} if data else {})},
                timeout=30,
            )
        )

    valid = [customer(f"leak-{i}", access_token=CALLER_TOKEN) for i in range(4)]
    post({"data": valid, "access_token": CALLER_TOKEN})  # 202, four accepted
    post(
        [  # 202: one accepted, one rejected (milliseconds), one rejected (no user_data object)
            customer("leak-4"),
            customer("leak-ms", event_time=int(time.time() * 1000)),
            customer("leak-ud", user_data=f"{EMAIL} {PHONE} {FIRST} {LAST}"),
        ]
    )
    post(customer("leak-bad", action_source="Website", event_time="yesterday"))  # 400
    post(customer("leak-key"), key=WRONG_KEY)  # 401
    post(data=f"em={EMAIL}&ph={PHONE}", content_type="text/plain")  # 415
    post(data=f'{{"em": "{EMAIL}", "fn": "{FIRST}", ', content_type="application/json")  # 400
    post(data=f'{{"em": "{EMAIL}", "em": "{PHONE}"}}', content_type="application/json")  # 400
    post(data=f'{{"em": "{EMAIL}", "value": NaN}}', content_type="application/json")  # 400
    assert [a.status_code for a in answers] == [202, 202, 400, 401, 415, 400, 400, 400]

    # Straight onto the topic: an event the forwarder's own validation refuses, and poison.
    publisher = pubsub_v1.PublisherClient()
    stale = customer("leak-stale", event_time=int(time.time()) - 9 * 86400)
    publisher.publish(relay.names["topic"], json.dumps(stale).encode(), event_id="leak-stale")
    publisher.publish(relay.names["topic"], f"{EMAIL} {PHONE} {LAST}".encode()).result(30)

    # 5 accepted by ingest: 2 delivered, 3 dead-lettered by Meta's answers; plus 2 from the topic.
    dlq = f"projects/{relay.project}/subscriptions/{DLQ_SUBSCRIPTION}"
    letters = pull_until_quiet(dlq, 5, timeout=60, quiet=2.0)
    assert len(letters) == 5, [dict(m.attributes) for m in letters]
    graph_standin.wait_for_events(2, timeout=60)
    queued = pull_until_quiet(tap, 7, timeout=30, quiet=0)
    assert len(queued) == 7

    leaks: list[str] = []
    for proc in (relay.ingest, relay.forward):
        for number, line in enumerate(proc.logs().splitlines(), 1):
            leaks += find_leaks(f"{proc.target} log line {number}", line)
    for answer in answers:
        leaks += find_leaks(f"the {answer.status_code} answer", answer.text)
    for letter in letters:
        leaks += find_leaks("DLQ attributes", json.dumps(dict(letter.attributes)))
    for message in queued:  # the event data is queued unhashed by design, the tokens never
        text = message.data.decode("utf-8", "replace") + json.dumps(dict(message.attributes))
        leaks += [leak for leak in find_leaks("the queue", text) if "token" in leak]
    for request in graph_standin.requests:  # Meta gets hashes, the IP address as it is (Meta
        # wants it unhashed), and our token in the body, never the caller's
        sent = json.dumps([request.params, request.events])
        leaks += [
            leak for leak in find_leaks("a request to Meta", sent) if "ip address" not in leak
        ]
    assert not leaks, "\n".join(leaks)

    # The run did go through the paths it claims to cover.
    forward_log = relay.forward.logs()
    for text in ("events delivered", "transient failure", "event dead-lettered"):
        assert text in forward_log
    reasons = sorted(m.attributes.get("dlq_reason") for m in letters)
    assert reasons == ["config", "invalid", "poison", "rejected", "rejected"]
    masked = next(m for m in letters if m.attributes.get("error_subcode") == "2804050")
    assert "[redacted]" in masked.attributes["error_message"]
