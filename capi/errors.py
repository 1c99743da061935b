"""One family of errors: every error the relay raises on purpose is a `CapiError`, with the HTTP
status and the short code of the answer it becomes, and a message that names fields, never values
(no PII, no secret). `capi.web.error_reply_for` is the one place that turns one into a reply.

| error | raised when | answer |
|---|---|---|
| BodyError | a body is unusable as a whole | its status (400, 413, 415) and code |
| RoutingError | a request names a pixel it may not use | its status (400, 403) and code |
| SignatureError | a webhook is not proven to come from its sender | 401 / 400 and code |
| Ignored | an authentic payload that is deliberately not turned into events | 200 `ignored` |
| UnknownTopic | a Shopify topic the relay neither maps nor ignores | 400 `unknown_topic` |
| ConfigError | a setting is present but unusable (the start stops) | 500 `config` |
| JournalInUse | another `capi serve` holds the queue journal (the start stops) | exit status 2 |
| SecretError | a secret could not be read | 503 `secret_unavailable` |
| PublishError | the queue did not acknowledge every message | 503 `queue_unavailable` |
| NoToken | no Meta token is configured for a pixel | dead letter `config` |
| PoisonMessage | a push request is not a Pub/Sub envelope | 400 `bad_push_request` |
| NormalizationError | one customer value cannot be normalized | field dropped, warning |
| SendAborted | `capi send` cannot go on | exit status 2 |
"""

from __future__ import annotations


class CapiError(Exception):
    """Base of the family: `status` and `code` say how it is answered, `message` what to fix."""

    status: int = 500
    code: str = "error"

    def __init__(self, message: str = "", *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class RequestError(CapiError):
    """A request that cannot be served as sent; the raiser chooses status and code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, status=status, code=code)


class BodyError(RequestError, ValueError):
    """The body as a whole is unusable."""


class RoutingError(RequestError):
    """The request cannot be routed to the pixels it names."""


class SignatureError(RequestError):
    """The request is not proven to come from the sender."""


class Ignored(CapiError):
    """The payload is authentic but deliberately not turned into events (answered 2xx, so the
    sender does not retry). The message says why; it never contains PII."""

    status = 200
    code = "ignored"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownTopic(CapiError, ValueError):
    """A Shopify topic the relay neither maps nor deliberately ignores."""

    status = 400
    code = "unknown_topic"


class ConfigError(CapiError, ValueError):
    """A setting is present but unusable; the message names the variable."""

    code = "config"


class JournalInUse(ConfigError):
    """Another process holds the queue journal of `capi serve`: two would deliver every event."""

    code = "journal_in_use"


class SecretError(CapiError, RuntimeError):
    """A secret could not be read; the message names the secret, never its value."""

    status = 503
    code = "secret_unavailable"


class PublishError(CapiError, RuntimeError):
    """The queue did not acknowledge every message; the caller must not report success."""

    status = 503
    code = "queue_unavailable"


class QueueError(CapiError, RuntimeError):
    """A pull subscription call (Pull, Acknowledge, ModifyAckDeadline) failed: what was not acked
    comes back after its ack deadline."""


class NoToken(CapiError, LookupError):
    """No Meta token is configured for a pixel."""

    code = "no_token"


class PoisonMessage(CapiError, ValueError):
    """The push request or its message cannot be turned into an event."""

    status = 400
    code = "bad_push_request"


class NormalizationError(CapiError, ValueError):
    """A present value cannot be normalized. The message is the reason, without the value."""

    status = 400
    code = "invalid"


class SendAborted(CapiError, RuntimeError):
    """`capi send`: nothing more can be delivered (configuration error or retries exhausted)."""
