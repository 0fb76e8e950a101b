"""STUN/TURN servers for clients and for the server's own ICE agent, with minted TURN credentials.

TURN credentials follow coturn's shared-secret scheme (the "TURN REST API", ``use-auth-secret``):
username ``"<unix expiry>:<label>"``, password ``base64(HMAC-SHA1(secret, username))``. The TURN
server recomputes the password from the same secret and refuses new allocations for a username
whose expiry has passed, so nothing is stored anywhere and a leaked credential dies on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from pathlib import Path
from typing import Any

from openreactor.config import ConfigError
from openreactor.settings import Settings
from openreactor.transport.public_address import parse_public_addresses

log = logging.getLogger(__name__)

MAX_TURN_TTL_S = 24 * 3600
"""Longest credential lifetime accepted. A client needs the credential only to make its
allocation: coturn keeps refreshing a running one past the expiry (tests/interop/
test_turn_relay.py), so a short TTL cuts no session short, while a long one is a password that
stays good for anyone who saw it."""

_STUN_SCHEMES = ("stun:", "stuns:")
_TURN_SCHEMES = ("turn:", "turns:")


def turn_credentials(secret: bytes, label: str, ttl_s: int, *, now: float | None = None) -> dict[str, str]:
    """``{"username", "password"}`` valid for ``ttl_s`` seconds from ``now``."""
    expiry = int(time.time() if now is None else now) + int(ttl_s)
    username = f"{expiry}:{label}"
    digest = hmac.new(secret, username.encode(), hashlib.sha1).digest()
    return {"username": username, "password": base64.b64encode(digest).decode("ascii")}


def read_turn_secret(path: Path | str) -> bytes:
    """The shared secret in ``path`` (surrounding whitespace dropped). Raises ``OSError``/``ValueError``."""
    secret = Path(path).read_bytes().strip()
    if not secret:
        raise ValueError(f"{path} is empty")
    return secret


def _turn_entry(settings: Settings, label: str) -> dict[str, Any] | None:
    """The TURN entry with fresh credentials; None without TURN or when the secret is unreadable."""
    if not settings.turn_urls or settings.turn_secret_file is None:
        return None
    try:
        # Re-read on every request so that rotating the secret needs no restart.
        secret = read_turn_secret(settings.turn_secret_file)
    except (OSError, ValueError) as exc:
        # Degrade to no relay rather than fail signalling; the secret itself is never logged.
        log.error("TURN left out: cannot read turn_secret_file %s: %s", settings.turn_secret_file, exc)
        return None
    credentials = turn_credentials(secret, label, settings.turn_ttl_s)
    return {"uris": list(settings.turn_urls), "credentials": credentials}


def client_ice_servers(settings: Settings, label: str) -> list[dict[str, Any]]:
    """What ``GET …/ice_servers`` hands a client (PROTOCOL.md §3.1): static entries, STUN, TURN.

    ``label`` becomes the TURN username's second half (the session id), so the TURN server's log
    ties each allocation to a session.
    """
    servers = [dict(entry) for entry in settings.ice_servers]
    if settings.stun_urls:
        servers.append({"uris": list(settings.stun_urls)})
    turn = _turn_entry(settings, label)
    if turn is not None:
        servers.append(turn)
    return servers


def server_ice_servers(settings: Settings, label: str) -> list[dict[str, Any]]:
    """The servers our own ICE agent uses: the static entries, plus TURN with ``turn_for_server``.

    ``stun_urls`` stay client-only: aioice waits up to 5 s on a STUN server before the answer
    exists, and a server with a reachable (or ``ice_public_addresses``-mapped) host address gains
    nothing from it.
    """
    servers = list(settings.ice_servers)
    if settings.turn_for_server:
        turn = _turn_entry(settings, label)
        if turn is not None:
            servers.append(turn)
    return servers


def check_ice_settings(settings: Settings) -> None:
    """Refuse STUN/TURN settings that cannot work, at startup rather than on the first client."""
    for url in settings.stun_urls:
        if not url.startswith(_STUN_SCHEMES):
            raise ConfigError(f"stun_urls: {url!r} is not a stun: or stuns: URL")
    for url in settings.turn_urls:
        if not url.startswith(_TURN_SCHEMES):
            raise ConfigError(f"turn_urls: {url!r} is not a turn: or turns: URL")
    if not 0 < settings.turn_ttl_s <= MAX_TURN_TTL_S:
        raise ConfigError(f"turn_ttl_s must be between 1 and {MAX_TURN_TTL_S} s, not {settings.turn_ttl_s}")
    if bool(settings.turn_urls) != (settings.turn_secret_file is not None):
        raise ConfigError("turn_urls and turn_secret_file go together")
    if settings.turn_for_server and not settings.turn_urls:
        raise ConfigError("turn_for_server needs turn_urls and turn_secret_file")
    try:
        parse_public_addresses(settings.ice_public_addresses)
    except ValueError as exc:
        raise ConfigError(f"ice_public_addresses: {exc} (want PUBLIC or LOCAL=PUBLIC addresses)") from exc
    if settings.turn_secret_file is not None:
        try:
            read_turn_secret(settings.turn_secret_file)
        except (OSError, ValueError) as exc:
            path = settings.turn_secret_file
            raise ConfigError(f"turn_secret_file: cannot read a secret from {path}: {exc}") from exc
