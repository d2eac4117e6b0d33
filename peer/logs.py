"""Structured logs for the daemon: one JSON object per line, so a testnet's logs can be parsed."""

from __future__ import annotations

import json
import logging
import time

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """`{"t": ..., "level": ..., "logger": ..., "msg": ..., **extra}`; `extra=` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"t": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_json_logging(level: int) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for chatty in ("amqtt", "transitions", "libp2p", "multiaddr", "aiomqtt"):  # their INFO is per-packet noise
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
    logging.Formatter.converter = time.gmtime
