"""Who may use an MQTT broker, and for what: credentials per peer id, topics per credential.

Credentials. The hosting peer keeps a broker secret; a peer's password is
HMAC-SHA256(secret, "loragossip-mqtt/" + peer id), so the broker checks a password without a
user database, and whoever holds the secret (the testnet operator) issues credentials. The
user name is the peer id, the client id must be `lg-<peer id>`, and a last will may only clear
the client's own hello.

Topics. A client may subscribe to its own inbox (`lg/NET/inbox/<self>/+`) and to hellos
(`lg/NET/hello/+`), and publish only into inboxes under its own id (`lg/NET/inbox/<to>/<self>`)
and to its own hello. So the FROM part of an inbox topic is the broker-authenticated user, and
nobody else's frames are readable. With mosquitto the same rules are a pattern ACL
(`pattern read lg/+/inbox/%u/+`, `pattern write lg/+/inbox/+/%u`, `topic read lg/+/hello/+`,
`pattern write lg/+/hello/%u`) plus a password file holding the same passwords.

The two amqtt plugins below enforce this in the embedded broker; the rules themselves are the
pure functions `may_subscribe`, `may_publish` and `may_receive`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from gossip.identity import IdentityError, peer_id_from_str

SECRET_BYTES = 32
_DOMAIN = b"loragossip-mqtt/"
# refusals by reason, per broker (keyed by its secret file): amqtt makes the plugin instances,
# so this is how the hosting peer's /status reads them
REFUSALS: dict[str, Counter[str]] = {}


class CredentialsError(ValueError):
    """A credentials or broker secret file is missing or malformed."""


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def password_for(secret: bytes, username: str) -> str:
    return hmac.new(secret, _DOMAIN + username.encode(), hashlib.sha256).hexdigest()


def save_secret(path: Path, secret: bytes) -> None:
    write_private(path, secret.hex() + "\n")


def load_secret(path: str | Path) -> bytes:
    try:
        text = Path(path).read_text().strip()
        secret = bytes.fromhex(text)
    except OSError as exc:
        raise CredentialsError(f"cannot read the broker secret {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise CredentialsError(f"broker secret {path} is not hex") from exc
    if len(secret) < 16:
        raise CredentialsError(f"broker secret {path} is too short ({len(secret)} bytes; at least 16)")
    return secret


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def save(self, path: Path) -> None:
        write_private(path, json.dumps({"username": self.username, "password": self.password}) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Credentials:
        try:
            raw = json.loads(Path(path).read_text())
            return cls(str(raw["username"]), str(raw["password"]))
        except OSError as exc:
            raise CredentialsError(f"cannot read MQTT credentials {path}: {exc.strerror or exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise CredentialsError(f"MQTT credentials {path}: expected JSON with username and password") from exc


def issue(secret: bytes, peer_id: str) -> Credentials:
    return Credentials(peer_id, password_for(secret, peer_id))


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds a secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# the topic rules ---------------------------------------------------------------------------------
def _levels(topic: str) -> list[str] | None:
    """`lg/NET/<kind>/...` split into levels, or None when it is not one of ours."""
    levels = topic.split("/")
    if len(levels) < 4 or levels[0] != "lg" or levels[1] in ("", "+", "#"):
        return None
    return levels


def may_subscribe(user: str, topic: str) -> bool:
    levels = _levels(topic)
    if levels is None:
        return False
    if levels[2] == "hello":
        return len(levels) == 4 and levels[3] != "#"
    return levels[2] == "inbox" and len(levels) == 5 and levels[3] == user and levels[4] != "#"


def may_publish(user: str, topic: str) -> bool:
    levels = _levels(topic)
    if levels is None or any(w in level for level in levels for w in "+#"):
        return False
    if levels[2] == "hello":
        return len(levels) == 4 and levels[3] == user
    return levels[2] == "inbox" and len(levels) == 5 and bool(levels[3]) and levels[4] == user


def may_receive(user: str, topic: str) -> bool:
    levels = _levels(topic)
    if levels is None:
        return False
    return (levels[2] == "hello" and len(levels) == 4) or (levels[2] == "inbox" and len(levels) == 5
                                                           and levels[3] == user)


def may_connect(secret: bytes, client_id: str | None, username: str | None, password: str | None,
                will_topic: str | None) -> bool:
    if not username or not password or client_id != f"lg-{username}":
        return False
    try:
        peer_id_from_str(username)
    except IdentityError:
        return False
    if not hmac.compare_digest(password_for(secret, username), password):
        return False
    return will_topic is None or (may_publish(username, will_topic) and will_topic.split("/")[2] == "hello")


# the amqtt plugins -------------------------------------------------------------------------------
class PeerAuthPlugin(BaseAuthPlugin):
    """amqtt: a client connects only with a password issued for its peer id."""

    @dataclass
    class Config:
        secret_file: str = ""

    def __init__(self, context) -> None:  # type: ignore[no-untyped-def]
        super().__init__(context)
        self.secret = load_secret(self.config.secret_file)
        self.refusals = REFUSALS.setdefault(self.config.secret_file, Counter())

    async def authenticate(self, *, session: Session) -> bool | None:
        allowed = may_connect(self.secret, session.client_id, session.username, session.password,
                              session.will_topic if session.will_flag else None)
        if not allowed:
            self.refusals["connect"] += 1
            self.context.logger.warning("refused MQTT client %r (user %r): bad credentials or will",
                                        session.client_id, session.username)
        return allowed


class PeerTopicPlugin(BaseTopicPlugin):
    """amqtt: own inbox and hellos to read; inboxes under the own id and the own hello to write."""

    @dataclass
    class Config:
        secret_file: str = ""   # only to find this broker's refusal counts

    def __init__(self, context) -> None:  # type: ignore[no-untyped-def]
        super().__init__(context)
        self.refusals = REFUSALS.setdefault(self.config.secret_file, Counter())

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool | None:
        user = session.username if session is not None else None
        if not user or topic is None:
            return False
        rule = {Action.SUBSCRIBE: may_subscribe, Action.PUBLISH: may_publish}.get(action, may_receive)  # type: ignore[arg-type]
        allowed = rule(user, topic)
        if not allowed and action != Action.RECEIVE:
            self.refusals[str(action)] += 1
            self.context.logger.info("refused %s of %r by %s", action, topic, user)
        return allowed
