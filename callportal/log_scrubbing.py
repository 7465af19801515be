"""A logging filter that blanks secrets in every line the server writes.

API keys, tokens, passwords and user names travel in query strings, form bodies and headers.
They reach log lines through request lines and URLs (gunicorn reports a malformed request
line or header line in full; a request path can hold `%3FapiKey%3D…`), exception messages
and tracebacks. The filter sits on every handler: gunicorn's (`logconfig_dict` in
gunicorn.conf.py) and Django's (`LOGGING`); on a handler it also sees the records that
propagate from other loggers, which a logger's own filter would not.

Imported by gunicorn's master before Django is set up: standard library only.
"""

from __future__ import annotations

import logging
import re

SUBSTITUTE = "********"

# Names whose values are secrets (or, for user names, what a password guesser wants).
_NAME = (
    r"[\w.\-]*(?:key|token|passw|secret|auth|signature|cookie|credential|session"
    r"|user_?name|login)[\w.\-]*"
)
# name=value in a query string, form body or cookie, raw or percent-encoded once
# (`GetCallURL%3FapiKey%3D…`); the value ends where the parameter would.
_PARAMETER = re.compile(
    rf"(?P<name>{_NAME})(?P<sep>=|%3D)(?P<value>(?:(?!%26|%20|%3B)[^&\s'\"\\;,<>])+)",
    re.IGNORECASE,
)
# "name": "value" and 'name': 'value' (JSON, a repr'd dict).
_QUOTED = re.compile(
    rf"""(?P<name>(?P<q>["'])(?:{_NAME})(?P=q)\s*[:=]\s*)(?P<quote>["'])(?P<value>.*?)(?P=quote)""",
    re.IGNORECASE,
)
# A header line (`X-Api-Key: 1234…`), also a malformed one without its colon as gunicorn
# quotes it (`'X-Api-Key 1234…'`): the rest of the line, up to where a repr'd string ends.
_HEADERS = r"x-api-key|x-api-token|(?:proxy-)?authorization|cookie|set-cookie"
_HEADER = re.compile(
    rf"(?P<name>\b(?:{_HEADERS}))(?P<sep>\s*:\s*)(?P<value>[^\r\n'\"\\]+)", re.IGNORECASE
)
_BARE_HEADER = re.compile(
    rf"(?<=['\"])(?P<name>{_HEADERS})(?P<sep>\s+)(?P<value>[^\r\n'\"\\]+)", re.IGNORECASE
)
# gunicorn's report of a request it could not parse quotes the raw bytes (`repr`): whatever
# shape a secret has there, it is not logged.
_GUNICORN_INVALID = re.compile(
    r"^(?P<head>Invalid request from ip=[^:]*: [^'\"]*)(?P<raw>['\"].*)$", re.DOTALL
)


# Every pattern above needs one of these words: a line without any (most access log lines)
# is passed as it is, without running the patterns, which cost more than writing the line.
_CLUE = re.compile(
    r"key|token|passw|secret|auth|signature|cookie|credential|session|user_?name|login",
    re.IGNORECASE,
)


def scrub(text: str) -> str:
    """`text` with the values of secret-named parameters and headers blanked."""
    if _CLUE.search(text) is None:
        return text
    text = _PARAMETER.sub(lambda m: f"{m['name']}{m['sep']}{SUBSTITUTE}", text)
    text = _QUOTED.sub(lambda m: f"{m['name']}{m['quote']}{SUBSTITUTE}{m['quote']}", text)
    for header in (_HEADER, _BARE_HEADER):
        text = header.sub(lambda m: f"{m['name']}{m['sep']}{SUBSTITUTE}", text)
    return text


class ScrubSecrets(logging.Filter):
    """Rewrites each record's message, exception text and stack with secrets blanked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.name == "gunicorn.error":
            invalid = _GUNICORN_INVALID.match(message)
            if invalid:
                message = f"{invalid['head']}({len(invalid['raw']) - 2} characters withheld)"
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True
