"""JSON over HTTP for the destinations that speak it (``webhook``, ``segment``): requests
under a size limit, retries with back-off, and finding the change a receiver refuses.

Why each part is as it is:

- **Retries** wait with exponential back-off and full jitter: a random time between 0 and
  ``backoff_seconds · 2^(n-1)``, capped at ``max_backoff_seconds``. Without the jitter every
  sync that met an outage comes back at the same instants; full jitter spreads them most
  for the fewest calls (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015).
  Retried: connection errors, timeouts, 5xx, 408 and 429. A ``Retry-After`` answer (seconds
  or an HTTP date) replaces the computed wait; one longer than ``max_backoff_seconds`` ends
  the sync at once instead of holding the pipeline for it.
- After ``max_attempts`` the destination raises :class:`~personae.errors.DestinationUnreachable`:
  the loop keeps its cursor, and the next sync sends the same changes with the same keys.
- **Refusals** (any other 4xx) are about what was sent: the request is halved until each
  refused change stands alone, and those are dead-lettered with the status and the start of
  the answer while the rest are delivered, in order. One bad change in n costs about
  2·log2(n) more requests. 401, 403, 404, 405 and redirects are about the set-up, not the
  changes: they stop the sync with a :class:`~personae.errors.DestinationError` that says
  what to check, instead of dead-lettering every change.
- **Sizes**: a change whose JSON alone cannot fit in a request is dead-lettered before
  anything is sent (no retry would ever get it through); the others are packed into
  requests under the limit, keeping their order.

The wait function is an argument (``sleep``), so tests check the waits without waiting.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
from pydantic import Field

from personae.activation.specs import DestinationSpec
from personae.errors import DestinationError, DestinationUnreachable

Sleep = Callable[[float], None]
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
RETRIED_STATUSES = frozenset({408, 429})
SETUP_STATUSES = {
    401: "the receiver does not accept its credentials",
    403: "the receiver does not accept its credentials",
    404: "nothing answers at that address",
    405: "that address does not take POST",
}
EXCERPT_CHARS = 200


class HttpDestinationSpec(DestinationSpec):
    """What every HTTP destination declares beyond what it receives: how long and how often to try."""

    timeout_seconds: float = Field(10.0, gt=0)
    """How long to wait to connect, and then for each read or write of a request."""
    max_attempts: int = Field(5, ge=1)
    """Tries of one request before the sync gives up (its changes wait for the next sync)."""
    backoff_seconds: float = Field(0.5, ge=0)
    """The first retry waits up to this long; each further one up to twice as long as the one before."""
    max_backoff_seconds: float = Field(30.0, ge=0)
    """The longest wait between two tries, also for a ``Retry-After``: a longer one ends the sync."""


def check_url(value: str, key: str) -> str:
    """``value`` if it is an http(s) URL with a host; a ValueError that names ``key`` otherwise."""
    parsed = httpx.URL(value) if re.match(r"^https?://[^/\s]+", value) else None
    if parsed is None or not parsed.host:
        raise ValueError(f"{key} = {value!r} is not an http(s) URL; write it as 'https://host/path'")
    return value


def check_env_name(value: str, key: str) -> str:
    """``value`` if it can name an environment variable (the secret stays out of personae.toml)."""
    if not re.match(ENV_NAME, value):
        raise ValueError(
            f"{key} = {value!r} is not the name of an environment variable; name the variable "
            "that holds the secret (e.g. 'CRM_SECRET'), never the secret itself"
        )
    return value


def required_env(destination: str, env: Mapping[str, str], variable: str, holds: str, example: str) -> str:
    """The secret the environment variable ``variable`` holds; an error saying how to set it."""
    value = env.get(variable, "")
    if not value:
        raise DestinationError(
            f"destination {destination!r}: the environment variable {variable} is not set; "
            f"it holds {holds}: export {variable}={example} before personae sync"
        )
    return value


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON (orjson: a NaN or infinite number, which JSON cannot carry, becomes
    null; a decimal becomes a number). Measured: 10× the standard library's ``json`` with the
    walk that replaced NaN, which made it most of a webhook sync's time (bench/sync.py)."""
    return orjson.dumps(value, default=_number)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


@dataclass(frozen=True)
class Change:
    """One change as it goes out: its idempotency key and its JSON."""

    key: str
    body: bytes


@dataclass(frozen=True)
class Refused:
    """A receiver's answer that it will not take what was sent (a 4xx about the content)."""

    status: int
    excerpt: str

    def reason(self) -> str:
        return f"HTTP {self.status}: {self.excerpt}" if self.excerpt else f"HTTP {self.status}"


def backoff(attempt: int, base: float, cap: float, draw: Callable[[], float] = random.random) -> float:
    """The wait after failed try number ``attempt`` (1-based): full jitter over an exponential cap.

    >>> backoff(3, 0.5, 30.0, draw=lambda: 1.0)
    2.0
    >>> backoff(10, 0.5, 30.0, draw=lambda: 0.5)
    15.0
    """
    return float(draw() * min(cap, base * 2 ** (attempt - 1)))


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (it gives seconds or an HTTP date), or None.

    >>> retry_after("7", datetime(2025, 1, 1, tzinfo=UTC))
    7.0
    >>> retry_after("Wed, 01 Jan 2025 00:00:30 GMT", datetime(2025, 1, 1, tzinfo=UTC))
    30.0
    """
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def pack(
    changes: list[Change], *, max_request_bytes: int, overhead: int, max_changes: int | None = None
) -> tuple[list[list[Change]], dict[str, str]]:
    """Changes in order, in requests of at most ``max_request_bytes`` (``overhead`` bytes of
    envelope, plus each change and a comma) and ``max_changes``; a change that fits in no
    request goes to the second result (key -> reason) instead."""
    requests: list[list[Change]] = []
    dead: dict[str, str] = {}
    current: list[Change] = []
    size = overhead
    room = max_request_bytes - overhead
    for change in changes:
        length = len(change.body)
        if length > room:
            dead[change.key] = (
                f"the change is {length:,} bytes of JSON, more than the {room:,} bytes a request of at most "
                f"{max_request_bytes:,} bytes leaves for it; it can never be sent whole"
            )
            continue
        full = max_changes is not None and len(current) >= max_changes
        if current and (full or size + 1 + length > max_request_bytes):
            requests.append(current)
            current, size = [], overhead
        size += length + (1 if current else 0)
        current.append(change)
    if current:
        requests.append(current)
    return requests, dead


class HttpSender:
    """Posts requests for one destination, retrying what may pass later, and bisects refusals."""

    def __init__(
        self,
        destination: str,
        spec: HttpDestinationSpec,
        *,
        sleep: Sleep = time.sleep,
        draw: Callable[[], float] = random.random,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.destination, self.spec = destination, spec
        self.sleep, self.draw, self.auth = sleep, draw, auth
        self._client: httpx.Client | None = None

    def open(self) -> None:
        self._client = httpx.Client(timeout=self.spec.timeout_seconds, follow_redirects=False, auth=self.auth)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def deliver(
        self, request: list[Change], post: Callable[[list[Change]], Refused | None], dead: dict[str, str]
    ) -> None:
        """Send ``request`` through ``post``; when refused, halve it until the refused changes
        stand alone, and put those in ``dead`` (the others are delivered, in order)."""
        refused = post(request)
        if refused is None:
            return
        if len(request) == 1:
            dead[request[0].key] = refused.reason()
            return
        middle = len(request) // 2
        self.deliver(request[:middle], post, dead)
        self.deliver(request[middle:], post, dead)

    def post(self, url: str, body: bytes, headers: Callable[[], Mapping[str, str]]) -> Refused | None:
        """POST ``body`` until it is taken (None) or refused for its content (a :class:`Refused`);
        ``headers`` is called for each try (a signature's timestamp is fresh on each)."""
        if self._client is None:
            raise RuntimeError("open() the sender before posting")
        name, attempts = self.destination, self.spec.max_attempts
        problem = ""
        for attempt in range(1, attempts + 1):
            wait: float | None = None
            try:
                answer = self._client.post(url, content=body, headers=dict(headers()))
            except httpx.TransportError as error:  # refused, reset, timed out: it may pass later
                problem = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            else:
                status = answer.status_code
                if 200 <= status < 300:
                    return None
                if status in SETUP_STATUSES or 300 <= status < 400:
                    raise DestinationError(_setup_message(name, url, answer))
                if status < 500 and status not in RETRIED_STATUSES:
                    return Refused(status, _excerpt(answer.text))
                problem = f"HTTP {status}" + (f" {_excerpt(answer.text)}" if answer.text.strip() else "")
                wait = retry_after(answer.headers.get("retry-after"), datetime.now(UTC))
                if wait is not None and wait > self.spec.max_backoff_seconds:
                    raise DestinationUnreachable(
                        f"destination {name!r}: {url} answered {status} and asks to retry after {wait:.0f} s, "
                        f"longer than max_backoff_seconds = {self.spec.max_backoff_seconds:g}; its changes wait "
                        "for the next sync (raise max_backoff_seconds to wait that long within one sync)"
                    )
            if attempt < attempts:
                base, cap = self.spec.backoff_seconds, self.spec.max_backoff_seconds
                self.sleep(wait if wait is not None else backoff(attempt, base, cap, self.draw))
        raise DestinationUnreachable(
            f"destination {name!r}: {url} did not take a request in {attempts} tries (last: {problem}); "
            "its changes wait for the next sync: check that the receiver is up, or raise max_attempts"
        )


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


def _setup_message(name: str, url: str, answer: httpx.Response) -> str:
    status = answer.status_code
    if 300 <= status < 400:
        where = answer.headers.get("location", "elsewhere")
        return f"destination {name!r}: {url} answered {status}, a redirect to {where}; set the address it leads to"
    said = f" ({_excerpt(answer.text)})" if answer.text.strip() else ""
    return (
        f"destination {name!r}: {url} answered {status}{said}: {SETUP_STATUSES[status]}; "
        "check its address and the secret in its environment variable"
    )
