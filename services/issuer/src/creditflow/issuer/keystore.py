"""Institutions' private signing keys. They never leave the issuer: events and HTTP carry public keys only.

The local default keeps one PEM file per key, readable by the service's user alone (0600, in 0700 folders).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)


PrivateKey = Ed25519PrivateKey | EllipticCurvePrivateKey


class FileKeyStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, institution_id: str, key_id: str) -> Path:
        # Institution ids may hold ':' or '/'; base64url keeps each a single, reversible file name.
        folder = base64.urlsafe_b64encode(institution_id.encode()).decode().rstrip("=")
        return self.root / folder / f"{key_id}.pem"

    def save(self, institution_id: str, key_id: str, key: PrivateKey) -> None:
        path = self._path(institution_id, key_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        os.chmod(path.parent, 0o700)
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        # Key ids are never reused once registered, so a file already here is left by an attempt that failed before
        # its registration was stored: overwrite it, or that institution could never register.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)

    def held(self, institution_id: str) -> set[str]:
        """The key ids of the institution whose private halves are here (not its externally registered keys)."""
        return {path.stem for path in self._path(institution_id, "_").parent.glob("*.pem")}

    def load(self, institution_id: str, key_id: str) -> PrivateKey:
        key = load_pem_private_key(self._path(institution_id, key_id).read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey | EllipticCurvePrivateKey)
        return key
