"""Telegram channel outlet: posts through the Bot API, edits on updates, deletes on kills.

- `published` → `sendMessage` (parse_mode HTML, the `telegram` rendition); the receipt keeps
  `message_id` and `posted_at`.
- `updated`/`corrected` → `editMessageText` of the earlier version's message (its receipt is
  `Delivery.previous_receipt`); "message is not modified" is success, a message deleted by
  hand is posted again.
- `killed` → `deleteMessage` while the post is younger than `delete_window_hours` (the Bot
  API cannot delete older ones), else the post is edited into a retraction notice.

The Bot API cannot dedupe a `sendMessage`: a request that timed out may have posted. So each
post is recorded in `outlet_sends` (see pressroom_shared.sends) before it is sent: a retry after
a known failure (no connection, 429, 5xx, 400) sends again; a retry after an unknowable one (a
timeout, a dropped connection) does not, and the delivery ends `unknown` for an operator, who
can look at the channel and retry (then it is sent) or cancel.

Answers: 429 is retried after `parameters.retry_after`; 400 is permanent, with the Bot API's
description; 401, 403 and 404 (a revoked token, the bot removed from the channel, an unknown
token) pause the outlet with an alert; anything else is retried on the schedule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pressroom_shared.article import Event
from pressroom_shared.config import Settings
from pressroom_shared.outlet_options import (
    REQUIRED,
    http_url,
    option,
    parse_options,
    positive,
    secret_option,
)
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import (
    Delivery,
    OutcomeUnknownError,
    OutletRefusedError,
    PermanentError,
    Receipt,
    TransientError,
)
from pressroom_shared.sends import PENDING, SENDING, SENT, UNKNOWN, SendLog
from pressroom_shared.timeutil import isoformat, utcnow
from pressroom_workers.outlets.http import (
    HttpAnswer,
    NotSentError,
    parse_retry_after,
    request_with_deadline,
    tls_context,
)

ANSWER_BYTES = 256 * 1024  # a sendMessage answer echoes the post: at most a few tens of KB
POST = "post"  # outlet_sends.kind


@dataclass(frozen=True)
class TelegramOptions:
    chat_id: int | str = option(
        REQUIRED, "The channel: its @username or numeric id (-100…); the bot must be an admin."
    )
    token: str = secret_option(
        'The bot\'s token from @BotFather: give token_env = "PRESSROOM_SECRET_<NAME>".'
    )
    api_base: str = option(
        "https://api.telegram.org",
        "The Bot API server (a self-hosted telegram-bot-api, or a test double).",
        check=http_url,
    )
    messages_per_minute: float = option(
        20.0, "Pace of calls to the channel (Telegram allows about 20 a minute).", check=positive
    )
    link_preview: bool = option(True, "Show the article's link preview under the post.")
    delete_window_hours: float = option(
        48.0,
        "A kill deletes a post younger than this; an older one (the Bot API cannot delete it) "
        "is edited into a retraction notice.",
        check=positive,
    )
    timeout: float | None = option(
        None,
        "Seconds for each phase of a call (default PRESSROOM_HTTP_TIMEOUT_SECONDS).",
        check=positive,
    )
    ca_file: str | None = option(None, "PEM file of the CA to trust for api_base, if private.")


class BotApiError(PermanentError):
    """The Bot API refused the request (400): `description` is its reason."""

    def __init__(self, method: str, description: str) -> None:
        super().__init__(f"{method}: Bot API 400: {description}")
        self.description = description


class TelegramOutlet:
    type_name: ClassVar[str] = "telegram"
    requires: ClassVar[frozenset[str]] = frozenset({"telegram"})
    Options: ClassVar[type[TelegramOptions]] = TelegramOptions

    def __init__(self, config: OutletConfig, settings: Settings) -> None:
        options = parse_options(TelegramOptions, config.name, config.options, settings)
        self.name = config.name
        self.options = options
        self.chat_id = options.chat_id
        self.messages_per_minute: float | None = options.messages_per_minute
        self.timeout = options.timeout or settings.http_timeout_seconds
        self.deadline = settings.delivery_deadline_seconds
        self._token = options.token
        self._base = f"{options.api_base.rstrip('/')}/bot{options.token}/"
        self._tls = tls_context(options.ca_file)
        self._sends = SendLog(settings, config.name)

    # -- delivery -------------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Receipt:
        rendition = delivery.renditions.get("telegram")
        if rendition is None:
            raise PermanentError("telegram needs the telegram rendition")
        text = rendition.content
        previous = delivery.previous_receipt
        message_id = previous.get("message_id")
        posted_at = previous.get("posted_at")
        if delivery.event == Event.KILLED:
            if not isinstance(message_id, int):
                return Receipt("nothing was posted, nothing to withdraw")
            return self._withdraw(message_id, posted_at, text)
        if isinstance(message_id, int):
            edited = self._edit(message_id, text)
            if edited:
                return Receipt(
                    f"edited message {message_id}",
                    {"message_id": message_id, "posted_at": posted_at},
                )
            # Deleted by hand meanwhile: the new version is posted anew.
        return self._post(delivery, text)

    def _post(self, delivery: Delivery, text: str) -> Receipt:
        chat = str(self.chat_id)
        self._sends.freeze(
            delivery.id,
            POST,
            [chat],
            article_id=delivery.article.id,
            version=delivery.article.version,
        )
        (send,) = self._sends.sends(delivery.id, POST)
        if send.state == SENT:
            return _receipt(send.data)
        if send.state == SENDING and send.attempt != delivery.attempt:
            self._sends.mark(
                delivery.id,
                POST,
                chat,
                UNKNOWN,
                attempt=delivery.attempt,
                expect=[SENDING],
                detail="an earlier attempt was interrupted",
            )
            raise OutcomeUnknownError(_UNKNOWN)
        # PENDING, or UNKNOWN when an operator retries a delivery left unknown: send.
        if not self._sends.mark(
            delivery.id, POST, chat, SENDING, attempt=delivery.attempt, expect=[PENDING, UNKNOWN]
        ):
            raise TransientError("the post is being sent by another attempt")
        payload: dict[str, Any] = {
            "chat_id": self.chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": not self.options.link_preview},
        }
        try:
            result = self._call("sendMessage", payload)
        except (NotSentError, PermanentError, OutletRefusedError, _Answered) as exc:
            # The Bot API answered (or was never reached): nothing was posted.
            self._sends.mark(
                delivery.id,
                POST,
                chat,
                PENDING,
                attempt=delivery.attempt,
                expect=[SENDING],
                detail=str(exc),
            )
            raise exc.error if isinstance(exc, _Answered) else exc from None
        except TransientError as exc:
            self._sends.mark(
                delivery.id,
                POST,
                chat,
                UNKNOWN,
                attempt=delivery.attempt,
                expect=[SENDING],
                detail=str(exc),
            )
            raise OutcomeUnknownError(f"{exc}; {_UNKNOWN}") from None
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if not isinstance(message_id, int):
            raise OutcomeUnknownError(f"sendMessage answered without a message_id: {result!r}")
        date = result.get("date") if isinstance(result, dict) else None
        when = datetime.fromtimestamp(date, UTC) if isinstance(date, int) else utcnow()
        data = {"message_id": message_id, "posted_at": isoformat(when), "chat_id": chat}
        self._sends.mark(
            delivery.id, POST, chat, SENT, attempt=delivery.attempt, expect=[SENDING], data=data
        )
        return _receipt(data)

    def _edit(self, message_id: int, text: str) -> bool:
        """Edit the post; False when it no longer exists."""
        try:
            self._answered(
                "editMessageText",
                {
                    "chat_id": self.chat_id,
                    "message_id": message_id,
                    "text": text,
                    "parse_mode": "HTML",
                    "link_preview_options": {"is_disabled": not self.options.link_preview},
                },
            )
        except BotApiError as exc:
            reason = exc.description.lower()
            if "message is not modified" in reason:
                return True  # a retry of an edit that did land
            if "message to edit not found" in reason:
                return False
            raise
        return True

    def _withdraw(self, message_id: int, posted_at: Any, text: str) -> Receipt:
        data = {"message_id": message_id, "posted_at": posted_at}
        if _younger_than(posted_at, timedelta(hours=self.options.delete_window_hours)):
            try:
                self._answered("deleteMessage", {"chat_id": self.chat_id, "message_id": message_id})
                return Receipt(f"deleted message {message_id}", {**data, "deleted": True})
            except BotApiError as exc:
                if "not found" in exc.description.lower():
                    return Receipt(
                        f"message {message_id} was already gone", {**data, "deleted": True}
                    )
                # "message can't be deleted": past the window after all; retract it instead.
        if not self._edit(message_id, text):
            return Receipt(f"message {message_id} was already gone", {**data, "deleted": True})
        return Receipt(
            f"edited message {message_id} into a retraction", {**data, "retracted": True}
        )

    # -- the Bot API ----------------------------------------------------------------------------

    def _answered(self, method: str, payload: dict[str, Any]) -> Any:
        try:
            return self._call(method, payload)
        except _Answered as exc:
            raise exc.error from None

    def _call(self, method: str, payload: dict[str, Any]) -> Any:
        """The call's `result`; raises what the answer means. A 429 or 5xx answer comes as
        _Answered, so a caller can tell it from an unknowable outcome (a timeout)."""
        try:
            answer = request_with_deadline(
                "POST",
                self._base + method,
                content=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                headers={"content-type": "application/json"},
                deadline=self.deadline,
                phase_timeout=self.timeout,
                verify=self._tls,
                max_body=ANSWER_BYTES,
            )
        except TransientError as exc:
            # The URL holds the token: keep it out of errors, logs and the API.
            message = str(exc).replace(self._token, "<token>")
            raise type(exc)(message, retry_after=exc.retry_after) from None
        return _result(method, answer)


class _Answered(Exception):
    """The Bot API answered with a retryable error (429, 5xx): nothing was done."""

    def __init__(self, error: TransientError) -> None:
        super().__init__(str(error))
        self.error = error


_UNKNOWN = (
    "the post may or may not have been published (the Bot API cannot dedupe a resend): look at "
    "the channel, then retry the delivery to post it or cancel it"
)


def _result(method: str, answer: HttpAnswer) -> Any:
    try:
        data = json.loads(answer.body)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if 200 <= answer.status < 300 and data.get("ok") is True:
        return data.get("result")
    description = str(data.get("description") or answer.snippet or "no description")
    status = answer.status
    if status == 429:
        parameters = data.get("parameters")
        wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if not isinstance(wait, int | float):
            wait = parse_retry_after(answer.headers.get("retry-after"))
        raise _Answered(TransientError(f"{method}: Bot API 429: {description}", retry_after=wait))
    if status in (401, 403, 404):
        raise OutletRefusedError(
            f"{method}: Bot API {status}: {description} (the token was revoked, or the bot is "
            "not an admin of the channel any more: fix it, then `pressroom outlets resume`)"
        )
    if status == 400:
        raise BotApiError(method, description)
    raise _Answered(
        TransientError(
            f"{method}: Bot API {status}: {description}",
            retry_after=parse_retry_after(answer.headers.get("retry-after")),
        )
    )


def _receipt(data: dict[str, Any]) -> Receipt:
    return Receipt(f"posted message {data['message_id']}", data)


def _younger_than(posted_at: Any, window: timedelta) -> bool:
    if not isinstance(posted_at, str):
        return False
    try:
        when = datetime.fromisoformat(posted_at)
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return utcnow() - when < window
