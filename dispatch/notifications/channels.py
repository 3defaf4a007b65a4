"""Outbound channels: where a notification goes besides the inbox.

A channel's ``send`` raises ``DeliveryError`` (or any exception) when the message did not get
through; the outbox then retries with backoff. Every message carries an idempotency key
(``outbox-<id>``) so a receiver can drop the rare repeat after a crash between sending and
recording the send. Add a channel by registering a class in ``CHANNELS``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from flask import current_app


class DeliveryError(Exception):
    """The channel refused or could not take the message (worth retrying)."""


@dataclass(frozen=True)
class Outbound:
    """What leaves: the message rendered, and who it is for."""

    idempotency_key: str
    kind: str
    urgent: bool
    case_number: str | None
    title: str
    body: str
    user: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.idempotency_key,
            "kind": self.kind,
            "urgent": self.urgent,
            "case_number": self.case_number,
            "title": self.title,
            "body": self.body,
            "to": self.user,
        }


class Channel(Protocol):
    name: str

    def send(self, message: Outbound) -> None: ...


class LogChannel:
    """Writes each message to the ``dispatch.notifications`` log (the default channel)."""

    name = "log"

    def __init__(self, config: dict[str, Any]) -> None:
        self.log = logging.getLogger("dispatch.notifications")

    def send(self, message: Outbound) -> None:
        self.log.info(
            "notify %s %s: %s — %s",
            message.user.get("username"),
            message.idempotency_key,
            message.title,
            message.body,
        )


class WebhookChannel:
    """POSTs JSON to ``NOTIFY_WEBHOOK_URL`` (an SMS gateway, a chat bot…).

    Headers: ``Idempotency-Key`` and, when ``NOTIFY_WEBHOOK_SECRET`` is set,
    ``X-Signature: sha256=<hex HMAC of the body>``. Any 2xx is success.
    """

    name = "webhook"

    def __init__(self, config: dict[str, Any]) -> None:
        self.url = config.get("NOTIFY_WEBHOOK_URL") or ""
        self.secret = (config.get("NOTIFY_WEBHOOK_SECRET") or "").encode()
        # Well inside the delivery's claim, so a slow gateway cannot outlast it.
        lease = float(config.get("OUTBOX_LEASE_SECONDS", 120.0))
        self.timeout = min(float(config.get("NOTIFY_WEBHOOK_TIMEOUT", 10.0)), lease / 3)

    def send(self, message: Outbound) -> None:
        if not self.url:
            raise DeliveryError("NOTIFY_WEBHOOK_URL is not set")
        body = json.dumps(message.as_json(), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.idempotency_key,
        }
        if self.secret:
            digest = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            headers["X-Signature"] = f"sha256={digest}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"webhook answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"webhook unreachable: {exc}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook answered {status}")


CHANNELS: dict[str, type] = {"log": LogChannel, "webhook": WebhookChannel}


def channel(name: str) -> Channel:
    """The channel called ``name``, configured from the current app."""
    try:
        cls = CHANNELS[name]
    except KeyError:
        raise DeliveryError(f"unknown channel {name!r}") from None
    return cls(current_app.config)
