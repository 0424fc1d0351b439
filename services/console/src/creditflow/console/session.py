"""The console's session, kept only in the browser: an encrypted, authenticated cookie (Fernet) holding the
registrar's token, who it names and the CSRF token of the forms. No server-side store, so nothing is shared between
users and a restart signs nobody out; a cookie that was changed, or encrypted with another key, or older than the
session's lifetime is no session at all."""

from __future__ import annotations

import hmac
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, ValidationError

COOKIE = "creditflow_console"


class Session(BaseModel):
    csrf: str
    # Signed in: the token every API call carries (the services authorise each call), and what the token says about
    # its holder, for display only.
    token: str | None = None
    person: str | None = None
    name: str | None = None
    institution_id: str | None = None
    institution_name: str | None = None
    roles: list[str] = []
    expires_at: datetime | None = None

    @classmethod
    def anonymous(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(32))

    @classmethod
    def signed_in_as(cls, token: str, claims: dict[str, Any], institution_name: str) -> Session:
        """The session of a token the services accepted, with a new CSRF token: who it names is for display."""
        exp = claims.get("exp")
        return cls.anonymous().model_copy(update={
            "token": token, "person": claims.get("sub"), "name": claims.get("name") or claims.get("sub"),
            "institution_id": claims.get("inst"), "institution_name": institution_name,
            "roles": list(claims.get("roles") or []),
            "expires_at": datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None})

    def signed_in(self, now: datetime) -> bool:
        return self.token is not None and (self.expires_at is None or now < self.expires_at)

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(self.csrf.encode(), presented.encode())


def load_key(path: Path) -> bytes:
    """The session key, created on first start readable by the console's user only (0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a private name, then linked into place: of several console instances starting at
        # once, one key wins and every instance reads that one, never a half-written file.
        staged = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
        try:
            os.link(staged, path)
        except FileExistsError:
            pass  # another instance's key is in place
        finally:
            staged.unlink()
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SystemExit(f"{path}: the console's session key must be readable by its owner only (chmod 600), is "
                         f"{mode:o}")
    return path.read_bytes().strip()


class SessionCodec:
    def __init__(self, key: bytes, max_age_s: int) -> None:
        self._fernet = Fernet(key)
        self.max_age_s = max_age_s

    def encode(self, session: Session) -> str:
        return self._fernet.encrypt(session.model_dump_json(exclude_none=True).encode()).decode()

    def decode(self, cookie: str | None, now: datetime | None = None) -> Session | None:
        if not cookie:
            return None
        at = int((now or datetime.now(UTC)).timestamp())
        try:
            return Session.model_validate_json(self._fernet.decrypt_at_time(cookie, self.max_age_s, at))
        except (InvalidToken, ValidationError):
            return None
