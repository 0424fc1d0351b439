"""The console's settings from the environment (CREDITFLOW_CONSOLE_*), validated at start-up so a typo fails fast
with the variable's name. The console has no database and no broker: only the four services' URLs."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field, ValidationError

SERVICES = {"issuer": 8101, "learner-record": 8102, "recognition": 8103, "stacking": 8104}
PREFIX = "CREDITFLOW_CONSOLE_"


class ConsoleSettings(BaseModel):
    http_host: str
    http_port: int = Field(ge=0, le=65535)
    log_level: str = Field(pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    service_urls: dict[str, str]
    session_key_file: str = Field(min_length=1)
    # Browsers drop Secure cookies sent over plain http from anywhere but a trustworthy origin; local runs on
    # http://127.0.0.1 turn it off, anything reached over a network keeps it on (behind TLS).
    secure_cookies: bool
    session_hours: float = Field(gt=0, le=24)

    @classmethod
    def from_env(cls, http_port: int, env: Mapping[str, str] | None = None) -> ConsoleSettings:
        env = os.environ if env is None else env
        names = {
            "http_host": (PREFIX + "HTTP_HOST", "127.0.0.1"),
            "http_port": (PREFIX + "HTTP_PORT", str(http_port)),
            "log_level": ("CREDITFLOW_LOG_LEVEL", "INFO"),
            "session_key_file": (PREFIX + "SESSION_KEY_FILE", ".state/console/session.key"),
            "secure_cookies": (PREFIX + "SECURE_COOKIES", "true"),
            "session_hours": (PREFIX + "SESSION_HOURS", "8"),
        }
        values: dict[str, object] = {field: env.get(var, default) for field, (var, default) in names.items()}
        values["service_urls"] = {s: env.get(PREFIX + s.upper().replace("-", "_") + "_URL", f"http://127.0.0.1:{p}")
                                  .rstrip("/") for s, p in SERVICES.items()}
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(f"{names.get(str(e['loc'][0]), (str(e['loc'][0]),))[0]}: {e['msg']}"
                                 for e in exc.errors(include_url=False))
            raise SystemExit(f"invalid settings for console: {problems}") from None
