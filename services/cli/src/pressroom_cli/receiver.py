"""`pressroom webhook-receiver`: a local endpoint that checks Standard Webhooks signatures,
for trying the webhook outlet without a partner."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import click
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def serve(host: str, port: int, secret: str) -> None:
    verifier = Webhook(secret)
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                event = verifier.verify(body, headers)
            except WebhookVerificationError as exc:
                click.echo(f"REJECTED {headers.get('webhook-id')}: {exc}", err=True)
                self._answer(400)
                return
            message_id = headers["webhook-id"]
            repeat = " (repeat: ignored)" if message_id in seen else ""
            seen.add(message_id)
            click.echo(f"{_describe(event)} {message_id} signature ok{repeat}")
            self._answer(200)

        def _answer(self, status: int) -> None:
            payload = json.dumps({"status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per event is printed above

    click.echo(f"listening on http://{host}:{port}/ (any path)", err=True)
    ThreadingHTTPServer((host, port), Handler).serve_forever()


def _describe(event: object) -> str:
    """`article.published: <headline>` for a pressroom event, the type alone otherwise."""
    if not isinstance(event, dict):
        return "(not a JSON object)"
    data = event.get("data")
    headlines = data.get("headlines") if isinstance(data, dict) else None
    headline = headlines[0].get("value", "") if isinstance(headlines, list) and headlines else ""
    return f"{event.get('type')}: {headline}"
