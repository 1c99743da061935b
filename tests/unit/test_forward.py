import base64
import io
import json

from capi.forward import Decision, Delivery, Forwarder, decode_push
from capi.graph import GraphResult
from capi.http import IncomingRequest
from capi.meta_errors import MetaError, Outcome, classify
from capi.queue import Message, PublishError, event_message
from capi.tokens import TokenSource
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


class RecordingDLQ:
    def __init__(self, fail=False):
        self.messages = []
        self.fail = fail

    def publish_all(self, messages):
        if self.fail:
            raise PublishError("dlq down")
        self.messages.extend(messages)
        return ["1"] * len(messages)


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
        dead_letters=dlq if dlq is not None else RecordingDLQ(),
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
        dlq = RecordingDLQ()
        assert forwarder(ScriptedGraph(answer), dlq).process(delivery()) is Decision.RETRY
        assert dlq.messages == []


def test_permanent_event_error_goes_to_dlq_with_reason_then_ack():
    dlq = RecordingDLQ()
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
    assert forwarder(graph, RecordingDLQ(fail=True)).process(delivery()) is Decision.RETRY


def test_token_190_rereads_the_token_once_and_resends():
    tokens = RotatingTokens("EAAold", "EAAnew")
    graph = ScriptedGraph(meta_error(401, 190), ok())
    assert forwarder(graph, tokens=tokens).process(delivery()) is Decision.ACK
    assert [s["token"] for s in graph.sent] == ["EAAold", "EAAnew"]
    assert tokens.refreshed == 1


def test_token_190_twice_is_a_config_dead_letter():
    dlq = RecordingDLQ()
    tokens = RotatingTokens("EAAold", "EAAstillbad")
    graph = ScriptedGraph(meta_error(401, 190), meta_error(401, 190))
    assert forwarder(graph, dlq, tokens=tokens).process(delivery()) is Decision.ACK
    assert len(graph.sent) == 2
    assert dlq.messages[0].attributes["error_code"] == "190"


def test_last_attempt_of_a_transient_failure_is_dead_lettered_with_reason():
    dlq = RecordingDLQ()
    graph = ScriptedGraph(meta_error(503, None))
    fwd = forwarder(graph, dlq, max_delivery_attempts=5)
    assert fwd.process(delivery(attempt=5)) is Decision.ACK
    assert dlq.messages[0].attributes["dlq_reason"] == "exhausted"


def test_poison_messages_are_dead_lettered_once():
    dlq = RecordingDLQ()
    fwd = forwarder(ScriptedGraph(), dlq)
    assert fwd.process(Delivery(Message(b"\xff not json", {}), "m")) is Decision.ACK
    assert fwd.process(Delivery(Message(b"[1,2]", {}), "m")) is Decision.ACK
    assert [m.attributes["dlq_reason"] for m in dlq.messages] == ["poison", "poison"]


def test_event_that_became_invalid_in_the_queue_is_dead_lettered_not_sent():
    graph = ScriptedGraph()
    dlq = RecordingDLQ()
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
        dead_letters=RecordingDLQ(),
        graph=ScriptedGraph(),
        dry_run=True,
        dry_run_stream=out,
    )
    assert fwd.dry_run
    assert fwd.process(delivery()) is Decision.ACK
    record = json.loads(out.getvalue())
    assert record["url"].endswith("/123/events")
    assert record["payload"]["data"][0]["event_id"] == "order-1001"
    assert RAW_EMAIL not in out.getvalue() and "650" not in json.dumps(record["payload"]["data"])


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
    dlq = RecordingDLQ()
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
