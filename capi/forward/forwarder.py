"""The forwarder: one queued event -> normalized and hashed -> Meta; ack, retry or dead-letter.

Decisions (ARCHITECTURE.md and META-RULES §6):
- delivered: ack.
- transient (network, timeout, 5xx, throttling, `is_transient`): retry, i.e. answer the push with
  503 so Pub/Sub redelivers with backoff. At the last attempt (`max_delivery_attempts`, when set)
  the event is dead-lettered with the reason instead, so the DLQ always says why.
- code 190: the token is re-read once (a rotated secret is picked up) and the event resent.
- permanent (the event is at fault, or token/permission/pixel configuration): published to the
  DLQ topic with the reason in its attributes, then acked. If that publish fails: retry, so
  nothing is lost.
- poison (data that is not an event): dead-lettered once with the reason, acked.

Delivered events are logged one line per Graph request (capi.forward.delivery_log); dead letters
and transient failures one line per event.

Redelivery of an event that this instance already delivered (an ack lost on the way back) is
acked without sending it again: the relay must not manufacture duplicates.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import random
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TextIO

from capi import logs
from capi.errors import PoisonMessage, PublishError
from capi.forward.batcher import Batcher
from capi.forward.delivery_log import SAMPLED_MESSAGE, Delivered, log_delivered
from capi.forward.redact import Redactor
from capi.forward.tokens import NoToken, TokenSource
from capi.meta.answers import Outcome
from capi.meta.contract import CONTRACT_VERSION, Contract
from capi.meta.graph import GraphClient, GraphResult, build_payload
from capi.meta.match import Match, assess
from capi.meta.rules import MAX_EVENTS_PER_REQUEST
from capi.queueing.messages import Message, Publisher, attribute_value
from capi.secret_store import SecretError
from capi.web import IncomingRequest, Reply, error_reply


class Decision(Enum):
    ACK = "ack"
    RETRY = "retry"


@dataclass
class Delivery:
    """A message taken from the queue, with what Pub/Sub said about it."""

    message: Message
    message_id: str = ""
    attempt: int = 1  # Pub/Sub's deliveryAttempt (1 when unknown)
    problem: str = ""  # set when the message itself is unusable (poison)
    published_at: float | None = None  # Pub/Sub's publishTime, Unix seconds, when given


@dataclass
class _Ready:
    """A delivery checked and claimed, waiting for Meta's answer."""

    delivery: Delivery
    event: dict[str, Any]  # as queued (its raw values redact Meta's text)
    prepared: dict[str, Any]  # normalized and hashed, as sent
    pixel: str
    event_id: str
    test_code: str
    key: bytes | None  # its DeliveryMemory key, claimed (None: no event_id)


DRY_RUN_MESSAGE = "dry run: payload printed, NOTHING sent to Meta"


def decode_push(envelope: Any) -> Delivery:
    """A Pub/Sub push request body -> Delivery. Raises PoisonMessage with the reason."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("message"), dict):
        raise PoisonMessage("not a Pub/Sub push envelope (no message object)")
    msg = envelope["message"]
    raw = msg.get("data") or ""
    problem = ""
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError, TypeError):
        data, problem = str(raw).encode("utf-8", errors="replace"), "message data is not base64"
    attributes = msg.get("attributes") or {}
    if not isinstance(attributes, dict):
        attributes = {}
    attempt = envelope.get("deliveryAttempt")
    return Delivery(
        Message(data, {str(k): str(v) for k, v in attributes.items()}),
        message_id=str(msg.get("messageId") or msg.get("message_id") or ""),
        attempt=attempt if isinstance(attempt, int) and attempt > 0 else 1,
        problem=problem,
        published_at=_rfc3339_seconds(msg.get("publishTime") or msg.get("publish_time")),
    )


def _rfc3339_seconds(value: Any) -> float | None:
    """Pub/Sub's publishTime (RFC 3339, e.g. 2026-11-27T07:00:00.123456789Z) as Unix seconds.
    Python 3.11's fromisoformat reads the Z and nanoseconds (cut to microseconds)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


@dataclass
class DeadLetterReason:
    kind: str  # rejected | config | poison | invalid | exhausted
    message: str
    code: int | None = None
    subcode: int | None = None
    http_status: int = 0
    fbtrace_id: str = ""
    user_title: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_result(cls, kind: str, result: GraphResult) -> DeadLetterReason:
        e = result.error
        if e is None:
            return cls(kind, result.reason, http_status=result.http_status)
        return cls(
            kind,
            e.user_msg or e.message,
            e.code,
            e.subcode,
            e.http_status,
            e.fbtrace_id,
            e.user_title,
        )

    def attributes(self, attempts: int, now: float) -> dict[str, str]:
        attrs = {
            "dlq_reason": self.kind,
            "error_message": logs.scrub_text(self.message)[:1000],
            "attempts": str(attempts),
            "failed_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        }
        optional = {
            "error_code": self.code,
            "error_subcode": self.subcode,
            "http_status": self.http_status or None,
            "fbtrace_id": self.fbtrace_id,
            "error_user_title": logs.scrub_text(self.user_title)[:200],
        }
        attrs.update({k: str(v) for k, v in optional.items() if v not in (None, "")})
        attrs.update(self.extra)
        return attrs


class DeliveryMemory:
    """What this instance delivered recently, and what it is delivering right now.

    A delivery is the same delivery when pixel, event name, event id and test event code are all
    the same: Meta deduplicates on event_id *and* event_name, so an InitiateCheckout and a
    Purchase of one order (same id) are two deliveries, and so are a test copy and the live one.
    An event without an id is never deduplicated. Keys are kept as 16-byte digests, so a long
    event_id costs no more memory than a short one; at most `capacity` are remembered.
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self._capacity = capacity
        self._done: OrderedDict[bytes, None] = OrderedDict()
        self._in_flight: dict[bytes, threading.Event] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(pixel: str, event_name: str, event_id: str, test_event_code: str) -> bytes | None:
        """The delivery's key, or None when it has no event_id (never deduplicated)."""
        if not event_id:
            return None
        text = "\x1f".join((pixel, event_name, event_id, test_event_code))
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def __len__(self) -> int:
        with self._lock:
            return len(self._done)

    def delivered(self, key: bytes) -> bool:
        with self._lock:
            return key in self._done

    def claim(self, key: bytes, wait_s: float) -> str:
        """ "claimed": go on and deliver (then call `release`); "delivered": this instance already
        delivered it; "busy": another push of it is still being delivered after `wait_s`."""
        with self._lock:
            if key in self._done:
                return "delivered"
            running = self._in_flight.get(key)
            if running is None:
                self._in_flight[key] = threading.Event()
                return "claimed"
        # A redelivery overlapping the first attempt waits for its end, then never sends itself:
        # its own time is bounded by `wait_s`, and a failed first attempt is retried by Pub/Sub.
        running.wait(wait_s)
        with self._lock:
            return "delivered" if key in self._done else "busy"

    def release(self, key: bytes, *, delivered: bool) -> None:
        with self._lock:
            if delivered:
                self._done[key] = None
                self._done.move_to_end(key)
                while len(self._done) > self._capacity:
                    self._done.popitem(last=False)
            running = self._in_flight.pop(key, None)
        if running is not None:
            running.set()


class Forwarder:
    def __init__(
        self,
        *,
        tokens: TokenSource,
        dead_letters: Publisher | None,
        graph: GraphClient | None = None,
        batcher: Batcher | None = None,
        default_pixel: str = "",
        test_event_code: str = "",
        default_country: str = "",
        date_order: str = "",
        contract: Contract | None = None,
        max_delivery_attempts: int = 0,
        dry_run: bool = False,
        dry_run_stream: TextIO | None = None,
        clock: Callable[[], float] = time.time,
        in_flight_wait_s: float = 30.0,
        delivered_log_sample: float = 0.0,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.tokens = tokens
        self.dead_letters = dead_letters
        self.graph = graph
        self.batcher = batcher  # None: one Graph request per push
        self.default_pixel = default_pixel
        self.test_event_code = test_event_code
        # the same checks and hashes as every door (capi.wiring builds it from the settings;
        # tests may give its parts)
        self.contract = contract or Contract(default_country, date_order)
        self.max_delivery_attempts = max_delivery_attempts
        self.dry_run = dry_run  # print payloads instead of sending (capi serve without a token)
        self.dry_run_stream = dry_run_stream
        self.clock = clock
        self.memory = DeliveryMemory()
        # How long a redelivery waits for an overlapping attempt of the same delivery.
        self.in_flight_wait_s = in_flight_wait_s
        # Delivered events get one line per Graph request (capi.forward.delivery_log); this
        # share of them a line of their own too. `draw`: the sampling's random numbers.
        self.delivered_log_sample = delivered_log_sample
        self.draw = draw

    # -- push endpoint -------------------------------------------------------------------------

    def handle(self, request: IncomingRequest) -> Reply:
        return self.handle_push(request)

    def handle_push(self, request: IncomingRequest) -> Reply:
        with logs.request_context(request.headers):
            return self._handle_push(request)

    def _handle_push(self, request: IncomingRequest) -> Reply:
        if request.method in ("GET", "HEAD") and request.path == "/healthz":
            return Reply(200, {"status": "ok"})
        if request.method != "POST":
            return error_reply(405, "method_not_allowed", "Pub/Sub push requests are POSTs")
        try:
            envelope = json.loads(request.body)
            delivery = decode_push(envelope)
        except (ValueError, PoisonMessage) as exc:
            # Not even a push envelope: nothing to dead-letter. 400 makes Pub/Sub retry and
            # eventually dead-letter it through the subscription's policy.
            logs.error("push request unusable", error=str(exc)[:200])
            return error_reply(400, "bad_push_request", str(exc)[:200])
        decision = self.process(delivery)
        if decision is Decision.ACK:
            return Reply(204)
        return error_reply(503, "retry", "transient failure; Pub/Sub will redeliver")

    # -- one delivery --------------------------------------------------------------------------

    def process(self, delivery: Delivery) -> Decision:
        """One pushed delivery: checked, sent (with the concurrent pushes the batcher gathers),
        settled."""
        ready = self._admit(delivery, self.in_flight_wait_s)
        if isinstance(ready, Decision):
            return ready
        try:
            sent = self._send(ready.pixel, ready.prepared, ready.test_code)
        except BaseException:
            if ready.key is not None:
                self.memory.release(ready.key, delivered=False)
            raise
        return self._settle(ready, sent, redacted=False)

    def process_many(self, deliveries: Sequence[Delivery]) -> list[Decision]:
        """Deliveries pulled together (the drainer): each checked as `process` does, then one
        Graph request per (pixel, test code) and up to 1,000 events, and each delivery settled
        by its own event's result. A rejected or miscounted request is split in halves until
        the events at fault are alone, so no good event is retried or dead-lettered for another's
        fault. The same delivery twice in one pull is sent once (the other is retried, then
        acked as delivered)."""
        decisions: list[Decision | None] = [None] * len(deliveries)
        groups: dict[tuple[str, str], list[tuple[int, _Ready]]] = {}
        for index, delivery in enumerate(deliveries):
            ready = self._admit(delivery, 0.0)
            if isinstance(ready, Decision):
                decisions[index] = ready
            else:
                groups.setdefault((ready.pixel, ready.test_code), []).append((index, ready))
        try:
            for (pixel, test_code), members in groups.items():
                for start in range(0, len(members), MAX_EVENTS_PER_REQUEST):
                    chunk = members[start : start + MAX_EVENTS_PER_REQUEST]
                    results = self._send_group(pixel, test_code, [r for _, r in chunk])
                    for (index, ready), sent in zip(chunk, results, strict=True):
                        decisions[index] = self._settle(ready, sent, redacted=True, line=False)
                    self._log_requests(pixel, [r for _, r in chunk], results)
        finally:
            for members in groups.values():  # an unexpected error: release what is unsettled
                for index, ready in members:
                    if decisions[index] is None:
                        if ready.key is not None:
                            self.memory.release(ready.key, delivered=False)
                        decisions[index] = Decision.RETRY
        return [d if d is not None else Decision.RETRY for d in decisions]

    def _admit(self, delivery: Delivery, wait_s: float) -> Decision | _Ready:
        """The delivery checked and claimed, ready to send; or its decision when it is not to be
        sent (poison, no pixel, invalid, already delivered, a dry run)."""
        attrs = delivery.message.attributes
        event_id = attrs.get("event_id", "")
        if delivery.problem:
            return self.dead_letter(delivery, DeadLetterReason("poison", delivery.problem))
        try:
            event = json.loads(delivery.message.data)
        except (ValueError, RecursionError):
            event = None
        if not isinstance(event, dict):
            return self.dead_letter(
                delivery, DeadLetterReason("poison", "message data is not a JSON event object")
            )
        event_id = str(event.get("event_id") or event_id)
        pixel = attrs.get("pixel_id") or self.default_pixel
        if not pixel:
            return self.dead_letter(
                delivery, DeadLetterReason("config", "no pixel id (attribute or CAPI_PIXEL_ID)")
            )
        test_code = attrs.get("test_event_code") or self.test_event_code
        event_name = str(event.get("event_name") or attrs.get("event_name") or "")
        key = DeliveryMemory.key(pixel, event_name, event_id, test_code)
        if key is not None:
            claim = self.memory.claim(key, wait_s)
            if claim != "claimed":
                reason = (
                    "already delivered by this instance (same pixel, event_name, event_id and "
                    "test_event_code)"
                    if claim == "delivered"
                    else "another delivery of the same event is still in progress"
                )
                logs.info(
                    "send suppressed" if claim == "delivered" else "redelivery postponed",
                    event_id=event_id,
                    event_name=event_name,
                    pixel_id=pixel,
                    reason=reason,
                )
                return Decision.ACK if claim == "delivered" else Decision.RETRY
        handed_out = False  # the claim goes with the _Ready; otherwise it is released here
        try:
            shaped = attrs.get("contract") == CONTRACT_VERSION
            prepared, errors, _ = self.contract.recheck(event, now=self.clock(), shaped=shaped)
            if errors:
                text = "; ".join(f"{p.path}: {p.message}" for p in errors)
                reason = DeadLetterReason("invalid", text, extra={"error_paths": _paths(errors)})
                return self.dead_letter(delivery, reason)
            assert prepared is not None  # an object without errors
            if self.dry_run:
                return self._print_dry_run(pixel, prepared, test_code, event_id)
            handed_out = True
            return _Ready(delivery, event, prepared, pixel, event_id, test_code, key)
        finally:
            if key is not None and not handed_out:
                self.memory.release(key, delivered=False)

    def _settle(
        self,
        ready: _Ready,
        sent: tuple[GraphResult, tuple[dict[str, Any], ...]] | None,
        *,
        redacted: bool,
        line: bool = True,
    ) -> Decision:
        """The decision for a sent delivery, from its event's result (None: the token could not
        be read); releases its claim. `redacted`: Meta's text was already cleaned. `line`: write
        its `events delivered` line (a push); the drain writes one per request instead."""
        delivered = False
        try:
            if sent is None:  # the token could not be read: transient
                return self._retry_or_exhaust(ready.delivery, "token secret could not be read")
            result, batch = sent
            if not redacted and (result.error is not None or result.messages):
                # Meta's free text may quote what it was sent: no raw value of this event, nor
                # of any event it was sent with, may reach a log line or a DLQ attribute.
                mates = [e for e in batch if e is not ready.prepared]
                redact = Redactor.for_event(ready.event, ready.prepared, *mates)
                result = _without_customer_data(result, redact)
            decision = self._decide(
                ready.delivery, ready.pixel, ready.event_id, result, assess(ready.prepared)
            )
            delivered = result.outcome is Outcome.DELIVERED
            if delivered and line:
                self._log_requests(ready.pixel, [ready], [(result, batch)])
            return decision
        finally:
            if ready.key is not None:
                self.memory.release(ready.key, delivered=delivered)

    def _log_requests(
        self,
        pixel: str,
        members: Sequence[_Ready],
        results: Sequence[tuple[GraphResult, tuple[dict[str, Any], ...]] | None],
    ) -> None:
        """One `events delivered` line per Graph request among `results` (the members of one
        request share its result object), for the members it delivered."""
        now = self.clock()
        start = 0
        for end in range(1, len(members) + 1):
            if end < len(members) and results[end] is results[start]:
                continue
            sent = results[start]
            if sent is not None and sent[0].outcome is Outcome.DELIVERED:
                result = sent[0]
                log_delivered(
                    pixel,
                    [_delivered(m) for m in members[start:end]],
                    now=now,
                    fbtrace_id=result.fbtrace_id,
                    meta_messages=result.messages,
                )
            start = end

    def _send_group(
        self, pixel: str, test_code: str, members: Sequence[_Ready]
    ) -> list[tuple[GraphResult, tuple[dict[str, Any], ...]] | None]:
        """Each member's result, from one Graph request (split when rejected or miscounted);
        None for all when the token could not be read. Results come redacted."""
        assert self.graph is not None, "a GraphClient is needed when a token is configured"
        events = [m.prepared for m in members]
        try:
            token = self.tokens.get(pixel)
        except SecretError:
            return [None] * len(members)
        except NoToken as exc:
            result = GraphResult(Outcome.CONFIG, network_error=str(exc))
            return [(result, (event,)) for event in events]
        result = self.graph.send(pixel, token, events, test_event_code=test_code)
        renewed = self._after_190(pixel, token, result, events, test_code)
        if renewed is None:
            return [None] * len(members)
        result, token = renewed
        return self._split(pixel, token, test_code, list(members), result)

    def _after_190(
        self,
        pixel: str,
        token: str,
        result: GraphResult,
        events: list[dict[str, Any]],
        test_code: str,
    ) -> tuple[GraphResult, str] | None:
        """Meta rejected the token (190): re-read it once (a rotated secret is picked up) and
        resend with it. The result and token to go on with; None when it cannot be read."""
        if result.outcome is not Outcome.TOKEN or not self.tokens.refresh(pixel):
            return result, token
        logs.warning("Meta rejected the token (190); re-reading it once", pixel_id=pixel)
        try:
            fresh = self.tokens.get(pixel)
        except SecretError:
            return None
        if fresh == token:
            return result, token
        assert self.graph is not None
        return self.graph.send(pixel, fresh, events, test_event_code=test_code), fresh

    def _split(
        self,
        pixel: str,
        token: str,
        test_code: str,
        members: list[_Ready],
        result: GraphResult,
    ) -> list[tuple[GraphResult, tuple[dict[str, Any], ...]]]:
        if (result.outcome is Outcome.REJECTED or result.miscounted) and len(members) > 1:
            # Meta names no event: halve until the events at fault are alone. Events Meta had
            # counted in a miscounted request reach it again with the same event_id and name,
            # which it deduplicates.
            assert self.graph is not None
            middle = len(members) // 2
            out: list[tuple[GraphResult, tuple[dict[str, Any], ...]]] = []
            for half in (members[:middle], members[middle:]):
                events = [m.prepared for m in half]
                answer = self.graph.send(pixel, token, events, test_event_code=test_code)
                out += self._split(pixel, token, test_code, half, answer)
            return out
        batch = tuple(m.prepared for m in members)
        if result.error is not None or result.messages:
            # One redactor for the request: Meta's text may quote any event it was sent.
            redact = Redactor.for_event(*(m.event for m in members), *batch)
            result = _without_customer_data(result, redact)
        return [(result, batch)] * len(members)

    def _send(
        self, pixel: str, event: dict[str, Any], test_code: str
    ) -> tuple[GraphResult, tuple[dict[str, Any], ...]] | None:
        """Meta's result for the event and the events of the request it answers; None when the
        token could not be read."""
        assert self.graph is not None, "a GraphClient is needed when a token is configured"
        try:
            token = self.tokens.get(pixel)
        except SecretError:
            return None
        except NoToken as exc:
            return GraphResult(Outcome.CONFIG, network_error=str(exc)), (event,)
        isolated = False
        batch: tuple[dict[str, Any], ...] = (event,)
        if self.batcher is not None:
            result, isolated, batch = self.batcher.send(
                pixel, token, event, test_event_code=test_code
            )
        else:
            result = self.graph.send(pixel, token, [event], test_event_code=test_code)
        if result.outcome is Outcome.TOKEN and isolated:
            # Its batch was rejected and the token too when the event went alone: a third call
            # could outlast the delivery budget. Pub/Sub redelivers it (same event_id).
            error = "token rejected while isolating"
            return GraphResult(Outcome.TRANSIENT, network_error=error), batch
        renewed = self._after_190(pixel, token, result, [event], test_code)
        if renewed is None:
            return None
        if renewed[1] != token:  # sent again, alone, with the fresh token
            return renewed[0], (event,)
        return result, batch

    def _decide(
        self, delivery: Delivery, pixel: str, event_id: str, result: GraphResult, match: Match
    ) -> Decision:
        attrs = delivery.message.attributes
        if result.outcome is Outcome.DELIVERED:
            if not self.delivered_log_sample or self.draw() >= self.delivered_log_sample:
                return Decision.ACK
            fields: dict[str, Any] = {"sampled": self.delivered_log_sample}
            if delivery.published_at is not None:
                latency = max(0.0, self.clock() - delivery.published_at)
                fields["latency_ms"] = round(latency * 1000, 1)
            if result.messages:
                fields["meta_messages"] = list(result.messages)
            logs.info(
                SAMPLED_MESSAGE,
                outcome="delivered",
                event_id=event_id,
                event_name=attrs.get("event_name", ""),
                pixel_id=pixel,
                source=attrs.get("source", ""),
                match_keys=list(match.keys),
                grade=match.grade,
                attempt=delivery.attempt,
                fbtrace_id=result.fbtrace_id,
                **fields,
            )
            return Decision.ACK
        if result.outcome is Outcome.TRANSIENT:
            if result.maybe_sent:
                logs.warning(
                    "no answer from Meta after sending: the retry may duplicate this event "
                    "(same event_id)",
                    event_id=event_id,
                    pixel_id=pixel,
                    error=result.network_error,
                )
            return self._retry_or_exhaust(delivery, result.reason)
        kind = "rejected" if result.outcome is Outcome.REJECTED else "config"
        return self.dead_letter(delivery, DeadLetterReason.from_result(kind, result))

    def _retry_or_exhaust(self, delivery: Delivery, reason: str) -> Decision:
        attrs = delivery.message.attributes
        last = self.max_delivery_attempts and delivery.attempt >= self.max_delivery_attempts
        if last:
            return self.dead_letter(
                delivery,
                DeadLetterReason(
                    "exhausted", f"transient failures until the last attempt: {reason}"
                ),
            )
        logs.warning(
            "transient failure; will be retried",
            event_id=attrs.get("event_id", ""),
            attempt=delivery.attempt,
            reason=reason[:300],
        )
        return Decision.RETRY

    def dead_letter(self, delivery: Delivery, reason: DeadLetterReason) -> Decision:
        """Publish the original message with the reason to the DLQ; ack only when that worked."""
        attrs = delivery.message.attributes
        if self.dead_letters is None:
            logs.error("no dead-letter topic configured; event kept for retry", reason=reason.kind)
            return Decision.RETRY
        dlq_attrs = {**attrs, **reason.attributes(delivery.attempt, self.clock())}
        if delivery.message_id:
            dlq_attrs["original_message_id"] = delivery.message_id
        # Pub/Sub refuses a value over 1,024 bytes; Meta's localized messages can be longer.
        dlq_attrs = {k: attribute_value(v) for k, v in dlq_attrs.items()}
        try:
            self.dead_letters.publish_all([Message(delivery.message.data, dlq_attrs)])
        except PublishError as exc:
            logs.error("dead-letter publish failed; will be retried", error=str(exc))
            return Decision.RETRY
        logs.warning(
            "event dead-lettered",
            outcome="dead_lettered",
            event_id=attrs.get("event_id", ""),
            event_name=attrs.get("event_name", ""),
            pixel_id=attrs.get("pixel_id", ""),
            source=attrs.get("source", ""),
            dlq_reason=reason.kind,
            error_code=reason.code,
            error_subcode=reason.subcode,
            attempt=delivery.attempt,
        )
        return Decision.ACK

    def _print_dry_run(
        self, pixel: str, event: dict[str, Any], test_code: str, event_id: str
    ) -> Decision:
        url = f"{self.graph.events_url(pixel) if self.graph else '/' + pixel + '/events'}"
        record = {
            "dry_run": True,
            "url": url,
            "payload": build_payload([event], test_event_code=test_code),
        }
        stream = self.dry_run_stream or sys.stdout
        stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        stream.flush()
        logs.warning(DRY_RUN_MESSAGE, outcome="dry_run", event_id=event_id, pixel_id=pixel)
        return Decision.ACK


def _delivered(ready: _Ready) -> Delivered:
    attrs = ready.delivery.message.attributes
    return Delivered(
        ready.event_id,
        str(ready.event.get("event_name") or attrs.get("event_name", "")),
        attrs.get("source", ""),
        ready.delivery.published_at,
        ready.delivery.attempt,
    )


def _without_customer_data(result: GraphResult, redact: Redactor) -> GraphResult:
    error = result.error
    if error is None:
        return dataclasses.replace(result, messages=tuple(redact(m) for m in result.messages))
    clean = dataclasses.replace(
        error,
        message=redact(error.message),
        user_title=redact(error.user_title),
        user_msg=redact(error.user_msg),
    )
    return dataclasses.replace(result, error=clean)


def _paths(problems: list[Any]) -> str:
    return ",".join(p.path for p in problems)[:1000]
