"""Service settings from the environment, validated at start-up so a typo fails fast with the variable's name."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

from pydantic import BaseModel, Field, ValidationError

from .identity import DEFAULT_PUBLIC_KEY_FILE, PUBLIC_KEY_FILE_VARIABLE


class Settings(BaseModel):
    service: str
    kafka_bootstrap: str = Field(min_length=1)
    mongodb_url: str = Field(pattern=r"^mongodb(\+srv)?://")
    mongodb_database: str = Field(pattern=r"^[A-Za-z0-9_-]{1,60}$")
    http_host: str
    http_port: int = Field(ge=0, le=65535)
    log_level: str = Field(pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    group_id: str = Field(min_length=1)
    # The platform's public identity key, which verifies every bearer token (docs/decisions/0002).
    identity_public_key_file: str = Field(default=DEFAULT_PUBLIC_KEY_FILE, min_length=1)

    @classmethod
    def from_env(cls, service: str, http_port: int, env: Mapping[str, str] | None = None) -> Settings:
        """Read CREDITFLOW_* (shared) and CREDITFLOW_<SERVICE>_* (this service's) variables."""
        env = os.environ if env is None else env
        prefix = "CREDITFLOW_" + service.upper().replace("-", "_") + "_"
        names = {
            "kafka_bootstrap": ("CREDITFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            "mongodb_url": ("CREDITFLOW_MONGODB_URL", "mongodb://127.0.0.1:27017/"),
            "mongodb_database": (prefix + "MONGODB_DATABASE", "creditflow_" + service.replace("-", "_")),
            "http_host": (prefix + "HTTP_HOST", "127.0.0.1"),
            "http_port": (prefix + "HTTP_PORT", str(http_port)),
            "log_level": ("CREDITFLOW_LOG_LEVEL", "INFO"),
            "group_id": (prefix + "GROUP_ID", "creditflow." + service),
            "identity_public_key_file": (PUBLIC_KEY_FILE_VARIABLE, DEFAULT_PUBLIC_KEY_FILE),
        }
        values = {field: env.get(var, default) for field, (var, default) in names.items()}
        try:
            return cls(service=service, **values)
        except ValidationError as exc:
            problems = "; ".join(f"{names[str(e['loc'][0])][0]}: {e['msg']}" for e in exc.errors(include_url=False))
            raise SystemExit(f"invalid settings for {service}: {problems}") from None


def installed_service_settings(service: str) -> Settings:
    """Settings of a service installed beside this code, with its own default HTTP port: for command-line tools
    (tokens, healthchecks) that act as that service."""
    app = importlib.import_module(f"creditflow.{service.replace('-', '_')}.app")
    return Settings.from_env(service, app.HTTP_PORT)
