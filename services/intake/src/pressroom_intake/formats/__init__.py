"""Input formats, and the text handling they share.

Plug-ins (entry-point group `pressroom.formats`, protocol and loader in `base`):
`native_json` (application/json), `ninjs` (IPTC ninjs 2.x/3.x), `markdown` (text/markdown),
`plaintext` (the newsroom's text/plain export). Each returns a `candidate.Candidate`.

Shared by them: `errors` (FormatError), `decoding` (bytes → NFC text, control characters,
JSON with hostile-input guards), `sanitize` (HTML allowlist, text → HTML), `html_text`
(HTML → plain text), `body` (a body made safe once), `headline` (a headline derived from the
lead), `language` (tags and a ru/en guess).
"""
