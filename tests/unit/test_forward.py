import base64
import io
import json

from capi.forward.forwarder import Decision, Delivery, Forwarder, decode_push
from capi.forward.tokens import TokenSource
from capi.meta.answers import MetaError, Outcome, classify
from capi.meta.graph import GraphResult
from capi.queueing.memory import InMemoryPublisher
from capi.queueing.messages import Message, event_message
from capi.web import IncomingRequest
from tests.factories import EMAIL_HASH, RAW_EMAIL, purchase


class ScriptedGraph:
    """Answers from a script; records what it was asked to send."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def send(self, pixel_id, token, events, *, test_event_code=""):
        self.sent.append(
            {
                "pixel": pixel_id,
                "token": token,
                "events": events,
                "test_event_code": test_event_code,
            }
        )
        answer = self.answers.pop(0) if self.answers else ok()
        return answer

    def events_url(self, pixel_id):
        return f"http://graph.test/v26.0/{pixel_id}/events"


def ok():
    return GraphResult(Outcome.DELIVERED, 200, 1, "trace")


def meta_error(status, code, subcode=None):
    body = {"error": {"message": "m", "code": code, "error_subcode": subcode, "fbtrace_id": "t"}}
    error = MetaError.from_response(status, body)
    return GraphResult(classify(error), status, error=error)


class RotatingTokens(TokenSource):
    def __init__(self, *tokens):
        super().__init__(token="unused")
        self.tokens = list(tokens)
        self.refreshed = 0

    def get(self, pixel_id):
        return self.tokens[0]

    def refresh(self, pixel_id):
        self.refreshed += 1
        if len(self.tokens) > 1:
            self.tokens.pop(0)
        return True


def forwarder(graph, dlq=None, tokens=None, **kwargs):
    return Forwarder(
        tokens=tokens or TokenSource(token="EAAgood"),
        dead_letters=dlq if dlq is not None else InMemoryPublisher(),
        graph=graph,
        **kwargs,
    )


def delivery(event=None, attempt=1, **attrs):
    msg = event_message(event or purchase(), pixel_id="123", **attrs)
    return Delivery(msg, message_id="m1", attempt=attempt)


def test_delivers_hashed_event_with_its_event_id_and_acks():
    graph = ScriptedGraph(ok())
    assert forwarder(graph).process(delivery()) is Decision.ACK
    (sent,) = graph.sent
    assert sent["pixel"] == "123" and sent["token"] == "EAAgood"
    (event,) = sent["events"]
    assert event["event_id"] == "order-1001"
    assert event["user_data"]["em"] in (EMAIL_HASH, [EMAIL_HASH])
    assert RAW_EMAIL not in json.dumps(sent)


def test_test_event_code_attribute_is_sent():
    graph = ScriptedGraph(ok())
    forwarder(graph).process(delivery(test_event_code="TEST1"))
    assert graph.sent[0]["test_event_code"] == "TEST1"


def test_transient_errors_are_retried_not_dead_lettered():
    for answer in (
        meta_error(500, 1),
        meta_error(400, 613),
        meta_error(503, None),
        GraphResult(Outcome.TRANSIENT, network_error="ReadTimeout"),
    ):
        dlq = InMemoryPublisher()
        assert forwarder(ScriptedGraph(answer), dlq).process(delivery()) is Decision.RETRY
        assert dlq.messages == []


def test_permanent_event_error_goes_to_dlq_with_reason_then_ack():
    dlq = InMemoryPublisher()
    graph = ScriptedGraph(meta_error(400, 100, 2804016))
    assert forwarder(graph, dlq).process(delivery(attempt=2)) is Decision.ACK
    (msg,) = dlq.messages
    assert json.loads(msg.data)["event_id"] == "order-1001"  # original data kept
    assert msg.attributes["event_id"] == "order-1001"  # original attributes kept
    assert msg.attributes["dlq_reason"] == "rejected"
    assert msg.attributes["error_code"] == "100"
    assert msg.attributes["error_subcode"] == "2804016"
    assert msg.attributes["attempts"] == "2"
    assert msg.attributes["original_message_id"] == "m1"
    assert "failed_at" in msg.attributes


def test_dlq_publish_failure_means_retry_so_nothing_is_lost():
    graph = ScriptedGraph(meta_error(400, 100, 2804016))
    assert forwarder(graph, InMemoryPublisher(fail=True)).process(delivery()) is Decision.RETRY


def test_token_190_rereads_the_token_once_and_resends():
    tokens = RotatingTokens("EAAold", "EAAnew")
    graph = ScriptedGraph(meta_error(401, 190), ok())
    assert forwarder(graph, tokens=tokens).process(delivery()) is Decision.ACK
    assert [s["token"] for s in graph.sent] == ["EAAold", "EAAnew"]
    assert tokens.refreshed == 1


def test_token_190_twice_is_a_config_dead_letter():
    dlq = InMemoryPublisher()
    tokens = RotatingTokens("EAAold", "EAAstillbad")
    graph = ScriptedGraph(meta_error(401, 190), meta_error(401, 190))
    assert forwarder(graph, dlq, tokens=tokens).process(delivery()) is Decision.ACK
    assert len(graph.sent) == 2
    assert dlq.messages[0].attributes["error_code"] == "190"


def test_last_attempt_of_a_transient_failure_is_dead_lettered_with_reason():
    dlq = InMemoryPublisher()
    graph = ScriptedGraph(meta_error(503, None))
    fwd = forwarder(graph, dlq, max_delivery_attempts=5)
    assert fwd.process(delivery(attempt=5)) is Decision.ACK
    assert dlq.messages[0].attributes["dlq_reason"] == "exhausted"


def test_poison_messages_are_dead_lettered_once():
    dlq = InMemoryPublisher()
    fwd = forwarder(ScriptedGraph(), dlq)
    assert fwd.process(Delivery(Message(b"\xff not json", {}), "m")) is Decision.ACK
    assert fwd.process(Delivery(Message(b"[1,2]", {}), "m")) is Decision.ACK
    assert [m.attributes["dlq_reason"] for m in dlq.messages] == ["poison", "poison"]


def test_event_that_became_invalid_in_the_queue_is_dead_lettered_not_sent():
    graph = ScriptedGraph()
    dlq = InMemoryPublisher()
    stale = purchase(event_time=1_000_000_000)
    assert forwarder(graph, dlq).process(delivery(stale)) is Decision.ACK
    assert graph.sent == []
    assert dlq.messages[0].attributes["dlq_reason"] == "invalid"


def test_redelivery_after_success_is_acked_without_sending_again():
    graph = ScriptedGraph(ok(), ok())
    fwd = forwarder(graph)
    fwd.process(delivery())
    assert fwd.process(delivery(attempt=2)) is Decision.ACK
    assert len(graph.sent) == 1


def test_dry_run_prints_the_exact_payload_with_hashes_only():
    out = io.StringIO()
    fwd = Forwarder(
        tokens=TokenSource(),
        dead_letters=InMemoryPublisher(),
        graph=ScriptedGraph(),
        dry_run=True,
        dry_run_stream=out,
    )
    assert fwd.dry_run
    assert fwd.process(delivery()) is Decision.ACK
    record = json.loads(out.getvalue())
    assert record["url"].endswith("/123/events")
    assert record["payload"]["data"][0]["event_id"] == "order-1001"
    sent = json.dumps(record["payload"]["data"])
    # the raw phone in none of its spellings (not a bare "650": event_time may hold those digits)
    assert RAW_EMAIL not in out.getvalue() and "6505551212" not in sent and "(650)" not in sent


def push_request(msg, attempt=None):
    envelope = {
        "message": {
            "data": base64.b64encode(msg.data).decode(),
            "attributes": msg.attributes,
            "messageId": "99",
        },
        "subscription": "projects/p/subscriptions/s",
    }
    if attempt is not None:
        envelope["deliveryAttempt"] = attempt
    return IncomingRequest("POST", "/", {}, json.dumps(envelope).encode(), "application/json")


def test_push_endpoint_acks_with_2xx_and_nacks_with_503():
    msg = event_message(purchase(), pixel_id="123")
    assert forwarder(ScriptedGraph(ok())).handle_push(push_request(msg)).status == 204
    retry = forwarder(ScriptedGraph(meta_error(500, 2))).handle_push(push_request(msg, 3))
    assert retry.status == 503


def test_push_envelope_decoding():
    msg = event_message(purchase(), pixel_id="123")
    d = decode_push(json.loads(push_request(msg, 4).body))
    assert d.attempt == 4 and d.message_id == "99" and d.message.attributes["pixel_id"] == "123"
    assert decode_push({"message": {"data": "%%%"}}).problem
    bad = forwarder(ScriptedGraph()).handle_push(
        IncomingRequest("POST", "/", {}, b"{}", "application/json")
    )
    assert bad.status == 400


def test_without_a_token_and_not_in_dry_run_events_are_dead_lettered_not_acked_silently():
    dlq = InMemoryPublisher()
    graph = ScriptedGraph()
    fwd = Forwarder(tokens=TokenSource(), dead_letters=dlq, graph=graph)
    assert fwd.process(delivery()) is Decision.ACK
    assert graph.sent == []
    assert dlq.messages[0].attributes["dlq_reason"] == "config"


def test_a_retry_that_may_duplicate_is_logged_as_such():
    import capi.logs as logs

    out = io.StringIO()
    logs.set_stream(out)
    try:
        lost = GraphResult(Outcome.TRANSIENT, network_error="ReadTimeout", maybe_sent=True)
        assert forwarder(ScriptedGraph(lost)).process(delivery()) is Decision.RETRY
        refused = GraphResult(Outcome.TRANSIENT, network_error="ConnectionError")
        assert forwarder(ScriptedGraph(refused)).process(delivery()) is Decision.RETRY
    finally:
        logs.set_stream(None)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    duplicates = [e for e in lines if "may duplicate" in e["message"]]
    assert len(duplicates) == 1 and duplicates[0]["event_id"] == "order-1001"


# -- the memory of deliveries: what makes two deliveries the same ---------------------------------


def test_same_event_id_with_another_event_name_is_a_new_delivery():
    """InitiateCheckout and Purchase of one order share the event_id (sGTM's transaction_id):
    Meta deduplicates on event_id AND event_name, so both must be sent."""
    graph = ScriptedGraph(ok(), ok())
    fwd = forwarder(graph)
    checkout = purchase(event_id="T-1", event_name="InitiateCheckout")
    assert fwd.process(delivery(checkout)) is Decision.ACK
    assert fwd.process(delivery(purchase(event_id="T-1"))) is Decision.ACK
    assert [s["events"][0]["event_name"] for s in graph.sent] == ["InitiateCheckout", "Purchase"]


def test_a_test_event_then_the_live_copy_are_both_sent():
    graph = ScriptedGraph(ok(), ok())
    fwd = forwarder(graph)
    fwd.process(delivery(purchase(event_id="go-live"), test_event_code="TEST1"))
    fwd.process(delivery(purchase(event_id="go-live")))
    assert [s["test_event_code"] for s in graph.sent] == ["TEST1", ""]


def test_events_without_an_id_are_never_deduplicated():
    graph = ScriptedGraph(ok(), ok())
    fwd = forwarder(graph)
    for _ in range(2):
        msg = Message(json.dumps(purchase(event_id=None)).encode(), {"pixel_id": "123"})
        assert fwd.process(Delivery(msg)) is Decision.ACK
    assert len(graph.sent) == 2


def test_a_suppressed_send_is_logged_with_its_reason(capture_logs):
    graph = ScriptedGraph(ok(), ok())
    fwd = forwarder(graph)
    fwd.process(delivery())
    fwd.process(delivery(attempt=2))
    (line,) = [e for e in capture_logs() if e["message"] == "send suppressed"]
    assert line["event_id"] == "order-1001" and "already delivered" in line["reason"]


def test_long_event_ids_cost_no_more_memory_than_short_ones():
    import tracemalloc

    from capi.forward.forwarder import DeliveryMemory

    def cost(id_length):
        memory = DeliveryMemory(capacity=2_000)
        tracemalloc.start()
        for i in range(2_000):
            key = DeliveryMemory.key("123", "Purchase", f"{i:08d}".ljust(id_length, "x"), "")
            memory.claim(key, 0)
            memory.release(key, delivered=True)
        size, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return size

    assert cost(16_000) < 2 * cost(8)  # a 16 KiB id is kept as a 16-byte digest


def test_memory_is_bounded():
    from capi.forward.forwarder import DeliveryMemory

    memory = DeliveryMemory(capacity=10)
    for i in range(50):
        key = DeliveryMemory.key("p", "Lead", str(i), "")
        memory.claim(key, 0)
        memory.release(key, delivered=True)
    assert len(memory) == 10
    assert memory.delivered(DeliveryMemory.key("p", "Lead", "49", ""))
    assert not memory.delivered(DeliveryMemory.key("p", "Lead", "0", ""))


def test_a_redelivery_overlapping_the_first_attempt_waits_for_it_and_is_not_sent_twice():
    import threading

    started, release = threading.Event(), threading.Event()

    class SlowGraph(ScriptedGraph):
        def send(self, *args, **kwargs):
            started.set()
            release.wait(5)
            return super().send(*args, **kwargs)

    graph = SlowGraph(ok(), ok())
    fwd = forwarder(graph)
    decisions = []
    first = threading.Thread(target=lambda: decisions.append(fwd.process(delivery())))
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: decisions.append(fwd.process(delivery(attempt=2))))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert decisions == [Decision.ACK, Decision.ACK]
    assert len(graph.sent) == 1


def test_a_redelivery_still_overlapping_after_the_wait_is_retried_not_sent():
    import threading

    release = threading.Event()
    started = threading.Event()

    class StuckGraph(ScriptedGraph):
        def send(self, *args, **kwargs):
            started.set()
            release.wait(5)
            return super().send(*args, **kwargs)

    graph = StuckGraph(ok())
    fwd = forwarder(graph, in_flight_wait_s=0.1)
    first = threading.Thread(target=lambda: fwd.process(delivery()))
    first.start()
    started.wait(5)
    assert fwd.process(delivery(attempt=2)) is Decision.RETRY
    release.set()
    first.join(5)
    assert len(graph.sent) == 1


def test_an_event_that_cannot_be_encoded_is_dead_lettered_not_retried():
    """A non-finite number that reached the queue from another publisher: invalid, at once."""
    graph = ScriptedGraph(ok())
    dlq = InMemoryPublisher()
    data = json.dumps(purchase(custom_data={"value": 1, "currency": "USD", "n": float("inf")}))
    msg = Message(data.encode(), {"pixel_id": "123", "event_id": "order-1001"})
    assert forwarder(graph, dlq).process(Delivery(msg)) is Decision.ACK
    assert graph.sent == []
    attrs = dlq.messages[0].attributes
    assert attrs["dlq_reason"] == "invalid" and "custom_data.n" in attrs["error_paths"]
