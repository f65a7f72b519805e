"""Webhook outlet: POSTs each event to a partner endpoint, signed per Standard Webhooks.

Body: `{"type": "article.<event>", "timestamp": "<ISO>", "data": <ninjs>}`. Headers
`webhook-id` (the delivery id, the same on every retry, so receivers can dedupe),
`webhook-timestamp` (this attempt, unix seconds) and `webhook-signature` ("v1,<base64
HMAC-SHA256 of id.timestamp.body>").
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from pressroom_shared.config import SECRET_PREFIX as SECRET_ENV_PREFIX
from pressroom_shared.config import Settings
from pressroom_shared.outlets_config import EXAMPLE_WEBHOOK_SECRET, OutletConfig
from pressroom_shared.plugins import Delivery, PermanentError, Receipt
from pressroom_shared.timeutil import isoformat, utcnow
from pressroom_workers.outlets.http import classify, request_with_deadline, tls_context

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format marker, not a secret
USER_AGENT = "pressroom-webhooks/1"
# Spec: the id must not contain "." (it is a field separator of the signed content); header
# values must also be plain printable ASCII.
_WEBHOOK_ID = re.compile(r"^[\x21-\x2d\x2f-\x7e]{1,200}$")


def decode_secret(secret: str) -> bytes:
    """The HMAC key in a "whsec_<base64>" secret; ValueError if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"the secret must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        # Validate strictly here: the library's own decoder silently skips junk characters,
        # which would turn a typo into a different key and every signature into a mismatch.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"the secret after {SECRET_PREFIX!r} is not base64: {exc}") from None
    if not key:
        raise ValueError("the secret is empty")
    return key


class WebhookOutlet:
    type_name: ClassVar[str] = "webhook"
    requires: ClassVar[frozenset[str]] = frozenset({"ninjs"})

    def __init__(self, config: OutletConfig, settings: Settings) -> None:
        options = config.options
        url = options.get("url")
        if not isinstance(url, str) or not _is_http_url(url):
            raise ValueError(f"outlet {config.name!r}: url must be an http(s) URL, got {url!r}")
        try:
            secret = _secret(options, settings)
        except ValueError as exc:
            raise ValueError(f"outlet {config.name!r}: {exc}") from None
        timeout = options.get("timeout", settings.http_timeout_seconds)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(
                f"outlet {config.name!r}: timeout must be a positive number, got {timeout!r}"
            )
        self.name = config.name
        self.url = url
        self.timeout = float(timeout)
        self.deadline = settings.delivery_deadline_seconds
        self._signer = Webhook(secret)
        self._tls = tls_context()

    def deliver(self, delivery: Delivery) -> Receipt:
        if not _WEBHOOK_ID.match(delivery.id):
            raise PermanentError(f"delivery id {delivery.id!r} cannot be a webhook-id")
        body = self.body(delivery)
        timestamp = int(utcnow().timestamp())
        # The library stamps tzinfo=UTC onto whatever it is given, so hand it UTC already.
        signature = self._signer.sign(delivery.id, datetime.fromtimestamp(timestamp, UTC), body)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": delivery.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        answer = request_with_deadline(
            "POST",
            self.url,
            content=body.encode("utf-8"),
            headers=headers,
            deadline=self.deadline,
            phase_timeout=self.timeout,
            verify=self._tls,
        )
        return classify(answer, f"POST {self.url}")

    @staticmethod
    def body(delivery: Delivery) -> str:
        rendition = delivery.renditions.get("ninjs")
        if rendition is None:
            raise PermanentError("webhook needs the ninjs rendition")
        try:
            data: Any = json.loads(rendition.content)
        except ValueError as exc:
            raise PermanentError(f"ninjs rendition is not JSON: {exc}") from exc
        payload = {
            "type": f"article.{delivery.event}",
            "timestamp": isoformat(utcnow()),
            "data": data,
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _secret(options: Mapping[str, Any], settings: Settings) -> str:
    """The signing secret: `secret` in the file, or the PRESSROOM_SECRET_* variable that
    `secret_env` names (so deployments keep it out of files); never the published example,
    unless allowed for development."""
    literal, variable = options.get("secret"), options.get("secret_env")
    if (literal is None) == (variable is None):
        raise ValueError(
            f'webhook needs secret = "whsec_..." or secret_env = "{SECRET_ENV_PREFIX}<NAME>"'
        )
    if variable is not None:
        if not isinstance(variable, str) or not variable.startswith(SECRET_ENV_PREFIX):
            raise ValueError(
                f"secret_env must name a {SECRET_ENV_PREFIX}* variable "
                f"(only those are read from the environment), got {variable!r}"
            )
        literal = settings.secrets.get(variable)
        if literal is None:
            raise ValueError(f"secret_env names {variable}, which is not set")
    if not isinstance(literal, str):
        raise ValueError(f"the secret must be a string, got {type(literal).__name__}")
    key = decode_secret(literal)
    if key == decode_secret(EXAMPLE_WEBHOOK_SECRET) and not settings.allow_example_secrets:
        raise ValueError(
            "the secret is the published example, so anyone could forge this outlet's "
            'webhooks: give it a secret of its own ("whsec_" + 32 random bytes in base64), '
            "or set PRESSROOM_ALLOW_EXAMPLE_SECRETS=true for local development"
        )
    return literal


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
