"""Generic JSON webhooks: a declarative mapping from any JSON body to Meta events, so a CRM or a
form tool can post leads without code. `CAPI_WEBHOOK_MAPPINGS` names a YAML or JSON file:

    webhooks:
      crm-leads:                          # served at POST /webhooks/crm-leads
        verify:                           # optional HMAC; without it the API key is required
          header: X-Signature
          algorithm: sha256               # sha256 (default) | sha1 | sha512
          encoding: hex                   # hex (default) | base64
          prefix: "sha256="               # optional
          secret_env: CAPI_CRM_SECRET     # env var holding the secret (or CAPI_CRM_SECRET_SECRET
                                          # naming a Secret Manager version), or instead:
          # secret: projects/P/secrets/crm-webhook/versions/latest
        records: data.leads               # optional: a list in the body, one event per item
        event_name: Lead                  # a constant, or {path, map, default}, or
                                          # {rules: [{when: {path, equals|in|exists}, value}],
                                          #  default}; records that get no name are skipped
        fields:                           # Meta field (dotted) <- source
          event_id: {template: "crm-{id}"}
          event_time: {path: created_at, type: timestamp}
          user_data.em: contact.email
          user_data.ph: [contact.phone, contact.mobile]      # first non-empty
          user_data.fn: {path: contact.name, transform: first_word}
          custom_data.value: {path: deal.amount, type: number}
        constants:
          action_source: system_generated
          custom_data.currency: EUR

Paths are dotted keys relative to the record, list items by index (`items.0.id` or
`items[0].id`); `$.` starts from the body's root. A source is a path, a list of paths (the first
non-empty wins), or an object with `path` / `paths` / `template` / `value`, and optionally
`type` (auto, string, number, integer, boolean, timestamp: Unix seconds or ms or ISO 8601, naive
times read as UTC), `transform` (lower, upper, first_word, last_word) and `default`.
`action_source` defaults to `system_generated`. Without an `event_id` mapping the relay derives
one from the event's content, so a redelivered webhook gets the same id.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from capi.config import ConfigError, load_document
from capi.meta.body import MAX_EVENTS_PER_REQUEST, Batch
from capi.meta.prepare import sender_seconds
from capi.meta.problems import Problem
from capi.sources import Ignored, SourceContext
from capi.sources.signatures import HmacScheme
from capi.values import scalar_text

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
RESERVED_NAMES = frozenset({"shopify", "stripe"})
TYPES = frozenset({"auto", "string", "number", "integer", "boolean", "timestamp"})
TRANSFORMS = frozenset({"", "lower", "upper", "first_word", "last_word"})
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
_INDEX = re.compile(r"\[(\d+)\]")
_MAPPING_KEYS = frozenset({"verify", "records", "event_name", "fields", "constants"})
_VERIFY_KEYS = frozenset({"header", "algorithm", "encoding", "prefix", "secret_env", "secret"})
_SOURCE_KEYS = frozenset({"path", "paths", "template", "value", "type", "transform", "default"})


@dataclass(frozen=True)
class Source:
    paths: tuple[str, ...] = ()
    template: str = ""
    value: Any = None
    constant: bool = False
    type: str = "auto"
    transform: str = ""
    default: Any = None


@dataclass(frozen=True)
class Rule:
    path: str
    op: str  # equals | in | exists
    operand: Any
    value: str


@dataclass(frozen=True)
class EventName:
    constant: str = ""
    path: str = ""
    table: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    default: str = ""


@dataclass(frozen=True)
class Verify:
    scheme: HmacScheme
    secret_env: str = ""
    secret: str = ""


@dataclass(frozen=True)
class WebhookMapping:
    name: str
    event_name: EventName
    fields: Mapping[str, Source]
    records: str = ""
    verify: Verify | None = None


# -- reading values -------------------------------------------------------------------------------


def _segments(path: str) -> list[str]:
    return [s for s in _INDEX.sub(r".\1", path).split(".") if s != ""]


def lookup(path: str, record: Any, root: Any) -> Any:
    """The value at a dotted path (None when absent); `$.` starts at the body's root."""
    current = record
    if path == "$" or path.startswith("$."):
        current, path = root, path[1:]
    for segment in _segments(path):
        if isinstance(current, Mapping):
            current = current.get(segment)
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = current[int(segment)]
        else:
            return None
    return current


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _timestamp(value: Any) -> int | None:
    number = _number(value)
    if number is not None:
        seconds = int(number)
        return sender_seconds(seconds)
    if isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp())
    return None


def _convert(value: Any, kind: str) -> Any:
    if kind == "auto":
        return value
    if kind == "string":
        return scalar_text(value) or None
    if kind == "number":
        return _number(value)
    if kind == "integer":
        number = _number(value)
        return int(number) if number is not None and number == int(number) else None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = scalar_text(value).lower()
        return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
            text
        )
    return _timestamp(value)


def _transform(value: Any, how: str) -> Any:
    if not how or not isinstance(value, str):
        return value
    if how == "lower":
        return value.lower()
    if how == "upper":
        return value.upper()
    words = value.split()
    if not words:
        return None
    return words[0] if how == "first_word" else (words[-1] if len(words) > 1 else None)


def _render(template: str, record: Any, root: Any) -> str | None:
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        text = scalar_text(lookup(match.group(1).strip(), record, root))
        missing |= not text
        return text

    result = _TEMPLATE_FIELD.sub(fill, template)
    return None if missing else result


def resolve(
    source: Source, record: Any, root: Any, *, target: str = "", notes: list[Problem] | None = None
) -> Any:
    """The value a source gives for one record (None when it gives none). A value that is there
    but cannot be read as the source's type is reported in `notes` (the default, if any, is
    used instead), so it is never replaced without a word."""
    if source.constant:
        value = source.value
    elif source.template:
        value = _render(source.template, record, root)
    else:
        value = next(
            (v for v in (lookup(p, record, root) for p in source.paths) if not _empty(v)), None
        )
    if not _empty(value):
        converted = _convert(value, source.type)
        if _empty(converted) and notes is not None:
            fallback = "its default was used" if not _empty(source.default) else "left out"
            notes.append(
                Problem(
                    target,
                    f"the webhook's value could not be read as {source.type}: {fallback}",
                    "unmapped",
                )
            )
        value = _transform(converted, source.transform)
    return source.default if _empty(value) else value


def _matches(rule: Rule, record: Any, root: Any) -> bool:
    value = lookup(rule.path, record, root)
    if rule.op == "exists":
        return (not _empty(value)) is bool(rule.operand)
    if rule.op == "in":
        return any(
            value == item or scalar_text(value) == scalar_text(item) for item in rule.operand
        )
    return value == rule.operand or (
        scalar_text(value) != "" and scalar_text(value) == scalar_text(rule.operand)
    )


def event_name_of(spec: EventName, record: Any, root: Any) -> str:
    if spec.constant:
        return spec.constant
    if spec.path:
        key = scalar_text(lookup(spec.path, record, root))
        return spec.table.get(key, spec.default) if spec.table else (key or spec.default)
    for rule in spec.rules:
        if _matches(rule, record, root):
            return rule.value
    return spec.default


def _assign(event: dict[str, Any], target: str, value: Any) -> None:
    parts = target.split(".")
    node = event
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def adapt(body: Any, context: SourceContext) -> Batch:
    """The batch of one body by the route's mapping (context.mapping); what could not be mapped
    is each event's notes. Raises Ignored when no record produced an event."""
    events, skipped, notes = apply(context.mapping, body)
    if not events:
        raise Ignored(f"no record produced an event ({skipped} got no event name)")
    return Batch(events, notes=notes)


def apply(
    mapping: WebhookMapping, body: Any
) -> tuple[list[dict[str, Any]], int, dict[int, list[Problem]]]:
    """(the Meta-shaped events of one body, how many records got no event name, what could not
    be mapped by the index of its event)."""
    notes: dict[int, list[Problem]] = {}
    if mapping.records:
        records = lookup(mapping.records, body, body)
        if isinstance(records, Mapping):
            records = [records]
        elif not isinstance(records, list):
            records = []
    else:
        records = body if isinstance(body, list) else [body]
    events: list[dict[str, Any]] = []
    skipped = 0
    for record in records[:MAX_EVENTS_PER_REQUEST]:
        name = event_name_of(mapping.event_name, record, body)
        if not name:
            skipped += 1
            continue
        event: dict[str, Any] = {"event_name": name, "action_source": "system_generated"}
        problems: list[Problem] = []
        for target, source in mapping.fields.items():
            value = resolve(source, record, body, target=target, notes=problems)
            if not _empty(value):
                _assign(event, target, value)
        if problems:
            notes[len(events)] = problems
        events.append(event)
    return events, skipped + max(0, len(records) - MAX_EVENTS_PER_REQUEST), notes


# -- loading --------------------------------------------------------------------------------------


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"CAPI_WEBHOOK_MAPPINGS: {where}: {message}")


def _path_list(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(p, str) and p.strip() for p in items):
        raise _fail(where, "a path is a non-empty string such as contact.email")
    return tuple(p.strip() for p in items)


def _source(value: Any, where: str, *, constant: bool = False) -> Source:
    if constant:
        return Source(value=value, constant=True)
    if isinstance(value, str | list):
        return Source(paths=_path_list(value, where))
    if not isinstance(value, Mapping):
        raise _fail(where, "give a path, a list of paths, or an object with path/template/value")
    unknown = set(value) - _SOURCE_KEYS
    if unknown:
        raise _fail(where, f"unknown key(s) {sorted(unknown)}")
    kind = str(value.get("type", "auto"))
    if kind not in TYPES:
        raise _fail(where, f"type must be one of {', '.join(sorted(TYPES))}")
    how = str(value.get("transform", "") or "")
    if how not in TRANSFORMS:
        raise _fail(where, f"transform must be one of {', '.join(sorted(TRANSFORMS - {''}))}")
    given = [k for k in ("path", "paths", "template", "value") if k in value]
    if len(given) != 1:
        raise _fail(where, "give exactly one of path, paths, template, value")
    common = {"type": kind, "transform": how, "default": value.get("default")}
    if "value" in value:
        return Source(value=value["value"], constant=True, **common)
    if "template" in value:
        template = value["template"]
        if not isinstance(template, str) or not _TEMPLATE_FIELD.search(template):
            raise _fail(where, 'a template is a string with {path} fields, e.g. "crm-{id}"')
        return Source(template=template, **common)
    return Source(paths=_path_list(value.get("path") or value.get("paths"), where), **common)


def _event_name(value: Any, where: str) -> EventName:
    if isinstance(value, str) and value.strip():
        return EventName(constant=value.strip())
    if not isinstance(value, Mapping):
        raise _fail(where, "a constant name, {path, map, default} or {rules, default}")
    default = scalar_text(value.get("default"))
    if "path" in value:
        table = value.get("map") or {}
        if not isinstance(table, Mapping):
            raise _fail(where, "map must map source values to event names")
        return EventName(
            path=_path_list(value["path"], where)[0],
            table={scalar_text(k): str(v) for k, v in table.items() if v},
            default=default,
        )
    rules = []
    for index, item in enumerate(value.get("rules") or []):
        spot = f"{where}.rules[{index}]"
        when = item.get("when") if isinstance(item, Mapping) else None
        name = scalar_text(item.get("value")) if isinstance(item, Mapping) else ""
        if not isinstance(when, Mapping) or not name:
            raise _fail(spot, "each rule is {when: {path, equals|in|exists}, value: EventName}")
        ops = [op for op in ("equals", "in", "exists") if op in when]
        if len(ops) != 1 or "path" not in when:
            raise _fail(spot, "when needs a path and one of equals, in, exists")
        operand = when[ops[0]]
        if ops[0] == "in" and not isinstance(operand, list):
            raise _fail(spot, "in takes a list")
        rules.append(Rule(_path_list(when["path"], spot)[0], ops[0], operand, name))
    if not rules and not default:
        raise _fail(where, "no path, no rules and no default: no event could get a name")
    return EventName(rules=tuple(rules), default=default)


def _verify(value: Any, where: str) -> Verify | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail(where, "verify is an object with header, secret_env or secret, ...")
    unknown = set(value) - _VERIFY_KEYS
    if unknown:
        raise _fail(where, f"unknown key(s) {sorted(unknown)}")
    secret_env = scalar_text(value.get("secret_env"))
    secret = scalar_text(value.get("secret"))
    if bool(secret_env) == bool(secret):
        raise _fail(where, "name the signing secret with secret_env or secret (one of them)")
    if secret and not (secret.startswith("projects/") and "/secrets/" in secret):
        raise _fail(
            where,
            "secret is a Secret Manager version such as projects/P/secrets/S/versions/latest "
            "(never the secret itself: use secret_env for a local value)",
        )
    try:
        scheme = HmacScheme(
            header=scalar_text(value.get("header")),
            algorithm=scalar_text(value.get("algorithm")) or "sha256",
            encoding=scalar_text(value.get("encoding")) or "hex",
            prefix=str(value.get("prefix") or ""),
        )
    except ValueError as exc:
        raise _fail(where, str(exc)) from None
    return Verify(scheme, secret_env, secret)


def parse_mappings(document: Any) -> dict[str, WebhookMapping]:
    """The mappings of a parsed document. Raises ConfigError naming the problem."""
    if not isinstance(document, Mapping) or not isinstance(document.get("webhooks"), Mapping):
        raise ConfigError("CAPI_WEBHOOK_MAPPINGS: the file needs a top-level webhooks: object")
    result = {}
    for raw_name, spec in document["webhooks"].items():
        name = str(raw_name)
        where = f"webhooks.{name}"
        if not NAME_PATTERN.fullmatch(name) or name in RESERVED_NAMES:
            raise _fail(
                where, "a name is lowercase letters, digits, - and _ (not shopify or stripe)"
            )
        if not isinstance(spec, Mapping):
            raise _fail(where, "must be an object")
        unknown = set(spec) - _MAPPING_KEYS
        if unknown:
            raise _fail(where, f"unknown key(s) {sorted(unknown)}")
        fields = spec.get("fields") or {}
        constants = spec.get("constants") or {}
        if not isinstance(fields, Mapping) or not isinstance(constants, Mapping):
            raise _fail(where, "fields and constants map Meta fields to sources")
        sources = {str(t): _source(v, f"{where}.fields.{t}") for t, v in fields.items()} | {
            str(t): _source(v, f"{where}.constants.{t}", constant=True)
            for t, v in constants.items()
        }
        if "event_name" not in spec:
            raise _fail(where, "event_name is required")
        records = spec.get("records") or ""
        if not isinstance(records, str):
            raise _fail(where, "records is a path to a list in the body")
        result[name] = WebhookMapping(
            name=name,
            event_name=_event_name(spec["event_name"], f"{where}.event_name"),
            fields=sources,
            records=records,
            verify=_verify(spec.get("verify"), f"{where}.verify"),
        )
    return result


def load_mappings(raw: str) -> dict[str, WebhookMapping]:
    """The mappings from CAPI_WEBHOOK_MAPPINGS (a path, or inline JSON); none when empty."""
    text = raw.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            return parse_mappings(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"CAPI_WEBHOOK_MAPPINGS is not valid JSON: {exc.msg}") from None

    path = Path(os.path.expanduser(text))
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"CAPI_WEBHOOK_MAPPINGS: cannot read {path}: {exc.strerror}") from None
    return parse_mappings(load_document(content, str(path), "CAPI_WEBHOOK_MAPPINGS"))
