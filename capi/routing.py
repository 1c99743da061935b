"""Which pixels (datasets) an event goes to, and with which token: the `CAPI_PIXELS` configuration.

`CAPI_PIXELS` is a path to a YAML or JSON file, or inline JSON (a value starting with `{`):

    pixels:                       # every pixel the relay may send to
      "111111111111":
        token_secret: projects/P/secrets/meta-token-shop-a/versions/latest
        test_event_code: TEST123  # optional: this pixel's events are test events
      "222222222222": {}          # no token_secret: CAPI_ACCESS_TOKEN / _SECRET is used
    default: ["111111111111"]     # optional; else CAPI_PIXEL_ID
    keys:                         # by API key *name* (CAPI_API_KEYS="agency-a=...,agency-b=...")
      agency-a: ["111111111111"]
      agency-b:
        pixels: ["111111111111", "222222222222"]   # one event fans out to both
        allow: ["333333333333"]                     # may also be picked by the request
    routes:                       # by route, when the key has no entry (webhooks have no key)
      /webhooks/shopify: ["222222222222"]

Key values never appear here: only the names given to keys in `CAPI_API_KEYS`.

Resolution for one request (`Routing.resolve`): the entry is the key's when the key's name has
one, else the route's, else the default. With no `pixel_id` in the request the event goes to the
entry's `pixels` (all of them: fan-out). A request may name its pixels (body-level `pixel_id`, a
string or a list, or `pixel_ids`): each must be among the entry's `pixels` + `allow` (for the
default entry: the default pixels), otherwise the request is refused with 403: a key holder
cannot send to a dataset it was not given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capi.config import ConfigError, load_document
from capi.errors import RoutingError

_TOP_LEVEL = frozenset({"pixels", "default", "keys", "routes"})
_PIXEL_FIELDS = frozenset({"token_secret", "test_event_code"})
_ENTRY_FIELDS = frozenset({"pixels", "allow"})
MAX_PIXELS_PER_EVENT = 20


@dataclass(frozen=True)
class PixelConfig:
    pixel_id: str
    token_secret: str = ""
    test_event_code: str = ""


@dataclass(frozen=True)
class Entry:
    pixels: tuple[str, ...]
    allow: frozenset[str] = frozenset()

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self.pixels) | self.allow


@dataclass(frozen=True)
class Routing:
    default: tuple[str, ...] = ()
    pixels: Mapping[str, PixelConfig] = field(default_factory=dict)
    keys: Mapping[str, Entry] = field(default_factory=dict)
    routes: Mapping[str, Entry] = field(default_factory=dict)

    @classmethod
    def single(cls, pixel_id: str) -> Routing:
        """The routing of a relay without CAPI_PIXELS: everything to CAPI_PIXEL_ID."""
        return cls(default=(pixel_id,) if pixel_id else ())

    def entry_for(self, *, key_name: str = "", route: str = "") -> tuple[str, Entry]:
        """(what chose the entry, the entry): "key", "route" or "default"."""
        if key_name and key_name in self.keys:
            return "key", self.keys[key_name]
        if route and route in self.routes:
            return "route", self.routes[route]
        return "default", Entry(self.default)

    def resolve(
        self, *, key_name: str = "", route: str = "", requested: Sequence[str] = ()
    ) -> list[str]:
        """The pixels one request's events go to, in order, without repeats. Raises
        RoutingError (403 for a pixel the caller may not target, 500 when there is none)."""
        chosen_by, entry = self.entry_for(key_name=key_name, route=route)
        if requested:
            allowed = entry.allowed
            for pixel in requested:
                if pixel not in allowed:
                    who = {"key": "this API key", "route": f"route {route}"}.get(
                        chosen_by, "this relay"
                    )
                    raise RoutingError(
                        403,
                        "pixel_not_allowed",
                        f"{who} may not send to pixel {pixel}; list it for the key or route in "
                        "CAPI_PIXELS (pixels or allow)",
                    )
            targets: Iterable[str] = requested
        else:
            targets = entry.pixels
        unique = list(dict.fromkeys(targets))
        if not unique:
            raise RoutingError(
                500, "no_pixel", "the relay has no pixel id (set CAPI_PIXEL_ID or CAPI_PIXELS)"
            )
        return unique

    def test_event_code(self, pixel_id: str) -> str:
        config = self.pixels.get(pixel_id)
        return config.test_event_code if config else ""

    def token_secrets(self) -> dict[str, str]:
        """pixel id -> Secret Manager version of its token, for TokenSource(secrets_by_pixel=)."""
        return {p: c.token_secret for p, c in self.pixels.items() if c.token_secret}


def requested_pixels(extra: Mapping[str, Any]) -> list[str]:
    """The pixels a request body names (`pixel_id`: a string or a list, or `pixel_ids`).
    Raises RoutingError(400) when they are not pixel ids."""
    values: list[Any] = []
    for name in ("pixel_id", "pixel_ids"):
        value = extra.get(name)
        if value is None or value == "" or value == []:
            continue
        values.extend(value if isinstance(value, list) else [value])
    if len(values) > MAX_PIXELS_PER_EVENT:
        raise RoutingError(
            400, "too_many_pixels", f"at most {MAX_PIXELS_PER_EVENT} pixels per request"
        )
    result = []
    for value in values:
        text = _pixel_text(value)
        if text is None:
            raise RoutingError(
                400, "invalid_pixel_id", "pixel_id must be a pixel (dataset) id: digits"
            )
        result.append(text)
    return result


def _pixel_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return value.strip()
    return None


# -- loading ------------------------------------------------------------------------------------


def _read(raw: str) -> Any:
    text = raw.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"CAPI_PIXELS is not valid JSON: {exc.msg}") from None
    path = Path(os.path.expanduser(text))
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"CAPI_PIXELS: cannot read {path}: {exc.strerror}") from None
    return load_document(content, str(path), "CAPI_PIXELS")


def _pixel_list(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    result = []
    for item in items:
        text = _pixel_text(item)
        if text is None:
            raise ConfigError(f"CAPI_PIXELS: {where}: {item!r} is not a pixel id (digits)")
        result.append(text)
    return tuple(dict.fromkeys(result))


def _entry(value: Any, where: str) -> Entry:
    if isinstance(value, Mapping):
        unknown = set(value) - _ENTRY_FIELDS
        if unknown:
            raise ConfigError(f"CAPI_PIXELS: {where}: unknown field(s) {sorted(unknown)}")
        pixels = _pixel_list(value.get("pixels", []), f"{where}.pixels")
        allow = _pixel_list(value.get("allow", []), f"{where}.allow")
        return Entry(pixels, frozenset(allow))
    return Entry(_pixel_list(value, where))


def _pixels(value: Any) -> dict[str, PixelConfig]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("CAPI_PIXELS: pixels must map pixel ids to their settings")
    result = {}
    for raw_id, settings in value.items():
        pixel = _pixel_text(raw_id)
        if pixel is None:
            raise ConfigError(f"CAPI_PIXELS: pixels: {raw_id!r} is not a pixel id (digits)")
        settings = settings or {}
        if not isinstance(settings, Mapping):
            raise ConfigError(f"CAPI_PIXELS: pixels.{pixel} must be an object")
        unknown = set(settings) - _PIXEL_FIELDS
        if unknown:
            raise ConfigError(
                f"CAPI_PIXELS: pixels.{pixel}: unknown field(s) {sorted(unknown)} (token values "
                "never go here: name a Secret Manager version in token_secret)"
            )
        secret = str(settings.get("token_secret") or "").strip()
        if secret and not (secret.startswith("projects/") and "/secrets/" in secret):
            raise ConfigError(
                f"CAPI_PIXELS: pixels.{pixel}.token_secret must be a secret version like "
                "projects/P/secrets/S/versions/latest"
            )
        code = str(settings.get("test_event_code") or "").strip()
        result[pixel] = PixelConfig(pixel, secret, code)
    return result


def parse_routing(document: Any, *, default_pixel: str = "") -> Routing:
    """A Routing from the parsed configuration document. Raises ConfigError naming the problem."""
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError("CAPI_PIXELS must be an object with pixels, default, keys, routes")
    unknown = set(document) - _TOP_LEVEL
    if unknown:
        raise ConfigError(f"CAPI_PIXELS: unknown field(s) {sorted(unknown)}")
    pixels = _pixels(document.get("pixels"))
    default = (
        _pixel_list(document["default"], "default")
        if document.get("default") not in (None, "", [])
        else ((default_pixel,) if default_pixel else ())
    )
    sections: dict[str, dict[str, Entry]] = {"keys": {}, "routes": {}}
    for section in sections:
        value = document.get(section) or {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"CAPI_PIXELS: {section} must be an object")
        for name, raw_entry in value.items():
            name = str(name)
            if section == "routes" and not name.startswith("/"):
                raise ConfigError(
                    f"CAPI_PIXELS: routes: {name!r} must be a path such as /webhooks/shopify"
                )
            sections[section][name] = _entry(raw_entry, f"{section}.{name}")
    known = set(pixels) | ({default_pixel} if default_pixel else set())
    referenced = set(default)
    for entries in sections.values():
        for entry in entries.values():
            referenced |= entry.allowed
    missing = sorted(referenced - known)
    if missing:
        raise ConfigError(
            f"CAPI_PIXELS: pixel(s) {', '.join(missing)} are used but not listed under pixels"
        )
    return Routing(default, pixels, sections["keys"], sections["routes"])


def load_routing(raw: str, *, default_pixel: str = "") -> Routing:
    """The routing from CAPI_PIXELS (a path or inline JSON); CAPI_PIXEL_ID alone when empty."""
    if not raw.strip():
        return Routing.single(default_pixel)
    return parse_routing(_read(raw), default_pixel=default_pixel)
