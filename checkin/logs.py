"""Structured (one JSON object per line) logging for the service, with secrets redacted.

Every line goes through `redact`: tokens in URLs (`?token=…`, as the access log prints
them), `Authorization` values, session cookies and kiosk tokens never reach the log.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

REDACTED = "[redacted]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # query parameters that carry credentials, in any URL
    (re.compile(r"(?i)([?&;](?:token|access_token|password|csrf_token)=)[^&\s\"']+"), r"\1"),
    # Authorization: Bearer … / Basic … (headers, dict reprs)
    (
        re.compile(r"(?i)(authorization[\"']?\s*[:=,]\s*[\"']?(?:bearer|basic)?\s*)[^\s\"',}]+"),
        r"\1",
    ),
    # cookies: the session cookie, and any Cookie header as a whole
    (re.compile(r"(?i)(baodao_session=)[^;\s\"']+"), r"\1"),
    (re.compile(r"(?i)(\bcookie[\"']?\s*[:=,]\s*[\"']?)[^\"'\n]+"), r"\1"),
    # kiosk tokens wherever they appear
    (re.compile(r"\bbk_[A-Za-z0-9_\-]{8,}"), "bk_"),
)


def redact(text: str) -> str:
    """`text` with every credential the patterns know replaced by [redacted]."""
    for pattern, keep in _PATTERNS:
        text = pattern.sub(keep + REDACTED, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
