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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from standardwebhooks.webhooks import Webhook

from pressroom_shared.config import Settings
from pressroom_shared.outlet_options import (
    REQUIRED,
    OptionsError,
    http_url,
    option,
    parse_options,
    positive,
    secret_option,
)
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


def _signing_secret(value: Any) -> str | None:
    try:
        decode_secret(value)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class WebhookOptions:
    url: str = option(REQUIRED, "The partner's endpoint (http or https).", check=http_url)
    secret: str = secret_option(
        'Standard Webhooks signing secret, "whsec_" + base64 key: give secret_env naming a '
        "PRESSROOM_SECRET_<NAME> variable so the file holds none."
    )
    timeout: float | None = option(
        None,
        "Seconds for each phase of the request (default PRESSROOM_HTTP_TIMEOUT_SECONDS); the "
        "whole attempt also ends at PRESSROOM_DELIVERY_DEADLINE_SECONDS.",
        check=positive,
    )


class WebhookOutlet:
    type_name: ClassVar[str] = "webhook"
    requires: ClassVar[frozenset[str]] = frozenset({"ninjs"})
    Options: ClassVar[type[WebhookOptions]] = WebhookOptions
    # A webhook partner may take embargoed stories at once, flagged (`embargo = "flag"`).
    can_flag_embargo: ClassVar[bool] = True

    def __init__(self, config: OutletConfig, settings: Settings) -> None:
        options = parse_options(WebhookOptions, config.name, config.options, settings)
        if (error := _signing_secret(options.secret)) is not None:
            raise OptionsError(f"outlet {config.name!r}: secret: {error}")
        if (
            decode_secret(options.secret) == decode_secret(EXAMPLE_WEBHOOK_SECRET)
            and not settings.allow_example_secrets
        ):
            raise OptionsError(
                f"outlet {config.name!r}: the secret is the published example, so anyone could "
                "forge this outlet's webhooks: give it a secret of its own "
                '("whsec_" + 32 random bytes in base64), or set '
                "PRESSROOM_ALLOW_EXAMPLE_SECRETS=true for local development"
            )
        secret = options.secret
        self.name = config.name
        self.url = options.url
        self.timeout = options.timeout or settings.http_timeout_seconds
        self.flag_embargo = config.embargo == "flag"
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
        payload: dict[str, Any] = {
            "type": f"article.{delivery.event}",
            "timestamp": isoformat(utcnow()),
            "data": data,
        }
        until = delivery.article.content.embargoed_until
        if until is not None and until > utcnow():
            # Only an `embargo = "flag"` outlet gets a story before its release: say so outside
            # the ninjs too, where no receiver can miss it.
            payload["embargoed_until"] = isoformat(until)
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
