"""The test session's identity key pair, and tokens signed with it as `creditflow token create` signs them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from creditflow.runtime import identity


@dataclass(frozen=True)
class SessionIdentity:
    private_file: Path
    public_file: Path

    @classmethod
    def create(cls, folder: Path) -> SessionIdentity:
        made = cls(folder / "identity-key.pem", folder / "identity-public.pem")
        identity.ensure_key_pair(made.private_file, made.public_file)
        return made

    @property
    def public_key(self):
        return identity.load_public_key(self.public_file)

    def token(self, institution_id: str | None = None, *roles: str, person: str = "mari.maasikas@ut.ee",
              lifetime: timedelta = identity.DEFAULT_LIFETIME) -> str:
        """A token of the institution (None: the operator) with `roles`, by default registrar and issuer-integration."""
        roles = roles or (("operator",) if institution_id is None else ("registrar", "issuer-integration"))
        token, _ = identity.create(identity.load_private_key(self.private_file), sub=person, name=None,
                                   inst=institution_id, roles=list(roles), lifetime=lifetime)
        return token

    def bearer(self, institution_id: str | None = None, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(institution_id, *roles)}"}
