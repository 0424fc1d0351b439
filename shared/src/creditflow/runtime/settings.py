"""Service settings from the environment, validated at start-up so a typo fails fast with the variable's name."""

from __future__ import annotations

import importlib
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, ValidationInfo, field_validator


class KafkaLogin(BaseModel):
    """Who a Kafka client is and how it reaches the broker: SCRAM-SHA-512 always, over TLS when SASL_SSL.

    The password is a SecretStr so that printing or logging a login never shows it."""

    model_config = {"frozen": True}

    bootstrap: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr | None = None
    security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL"] = "SASL_PLAINTEXT"
    ca_file: str | None = None  # the CA that signed the broker's certificate (SASL_SSL); None: the system's CAs
    # How often clients refresh metadata: how soon a consumer of the inbound pattern sees a new institution's topic.
    metadata_max_age_ms: int = Field(default=30_000, ge=100)

    @classmethod
    def from_env(cls, env: Mapping[str, str], default_username: str) -> KafkaLogin:
        fields = kafka_login_from_env(env, default_username)
        return cls(**{name.removeprefix("kafka_"): value for name, value in fields.items()})

    def secret(self) -> str:
        if self.password is None:
            raise SystemExit(f"no Kafka password for {self.username}: set CREDITFLOW_KAFKA_PASSWORD or "
                             "CREDITFLOW_KAFKA_PASSWORD_FILE")
        return self.password.get_secret_value()

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol != "SASL_SSL":
            return None
        return ssl.create_default_context(cafile=self.ca_file)

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments of aiokafka's producer, consumer and admin client."""
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.secret(),
            "ssl_context": self.ssl_context(),
            "metadata_max_age_ms": self.metadata_max_age_ms,
        }

    def confluent(self) -> dict[str, str]:
        """Configuration of a confluent-kafka (librdkafka) client."""
        config = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol.lower(),
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": self.username,
            "sasl.password": self.secret(),
        }
        if self.ca_file:
            config["ssl.ca.location"] = self.ca_file
        return config

    def java_properties(self) -> str:
        """A client.properties for Kafka's own command-line tools (console producer and consumer)."""
        password = self.secret().replace("\\", "\\\\").replace('"', '\\"')
        lines = [
            f"security.protocol={self.security_protocol}",
            "sasl.mechanism=SCRAM-SHA-512",
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{self.username}" password="{password}";',
        ]
        if self.ca_file:
            lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={self.ca_file}"]
        return "\n".join(lines) + "\n"


# Where `make run` keeps the Kafka admin's password; operator commands read it from there unless told otherwise.
DEFAULT_ADMIN_PASSWORD_FILE = ".state/secrets/kafka-creditflow-admin.password"


def admin_login(env: Mapping[str, str]) -> KafkaLogin:
    """The Kafka admin's login, for the operator's commands (tokens, institution principals): only the admin writes
    the token registry and manages principals (decision 0001), whatever service login the shell also holds. Its
    password comes from CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE (default: the file `make run` writes); the broker's
    address and TLS from the usual CREDITFLOW_KAFKA_* variables."""
    from creditflow.events.permissions import ADMIN

    password_file = env.get("CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE", DEFAULT_ADMIN_PASSWORD_FILE)
    if not Path(password_file).is_file():
        raise SystemExit(f"CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE: no Kafka admin password at {password_file} (make run "
                         "writes it under .state/secrets/; point the variable at your stack's file)")
    admin_env = {name: value for name, value in env.items() if name != "CREDITFLOW_KAFKA_PASSWORD"}
    admin_env |= {"CREDITFLOW_KAFKA_USERNAME": ADMIN, "CREDITFLOW_KAFKA_PASSWORD_FILE": password_file}
    return KafkaLogin.from_env(admin_env, ADMIN)


# Each service's default HTTP port (its app's HTTP_PORT). The command line reaches a service at
# CREDITFLOW_<SERVICE>_URL, or else on 127.0.0.1 at the port the service itself reads, CREDITFLOW_<SERVICE>_HTTP_PORT.
SERVICE_HTTP_PORTS = {"issuer": 8101, "learner-record": 8102, "recognition": 8103, "stacking": 8104}


def service_url(service: str, env: Mapping[str, str]) -> str:
    prefix = "CREDITFLOW_" + service.upper().replace("-", "_") + "_"
    port = env.get(prefix + "HTTP_PORT", str(SERVICE_HTTP_PORTS[service]))
    # The URL a service states for itself (PUBLIC_URL, as in its credentials) serves when no other is given.
    return (env.get(prefix + "URL") or env.get(prefix + "PUBLIC_URL") or f"http://127.0.0.1:{port}").rstrip("/")


def internal_routes(env: Mapping[str, str]) -> dict[str, str]:
    """Public base URL -> the URL this process reaches that service at, for each service that states a public URL
    (CREDITFLOW_<SERVICE>_PUBLIC_URL: the issuer and learner-record put it in what they sign) and is reached from here
    at another (CREDITFLOW_<SERVICE>_URL). In docker compose the public URL is the host's (http://localhost:8101),
    which inside a container is that container itself; the service is reached by its compose name instead."""
    routes = {}
    for service in SERVICE_HTTP_PORTS:
        prefix = "CREDITFLOW_" + service.upper().replace("-", "_") + "_"
        public, internal = ((env.get(prefix + suffix) or "").rstrip("/") for suffix in ("PUBLIC_URL", "URL"))
        if public and internal and public != internal:
            routes[public] = internal
    return routes


def kafka_login_from_env(env: Mapping[str, str], default_username: str) -> dict[str, Any]:
    """The CREDITFLOW_KAFKA_* variables of a login, unvalidated; a password file wins over nothing but never over an
    explicit password, and is read here so the secret never has to sit in the environment."""
    password = env.get("CREDITFLOW_KAFKA_PASSWORD")
    password_file = env.get("CREDITFLOW_KAFKA_PASSWORD_FILE")
    if password is None and password_file:
        try:
            password = Path(password_file).read_text().strip()
        except OSError as exc:
            raise SystemExit(f"CREDITFLOW_KAFKA_PASSWORD_FILE: cannot read {password_file}: {exc.strerror}") from None
    return {
        "kafka_bootstrap": env.get("CREDITFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        "kafka_username": env.get("CREDITFLOW_KAFKA_USERNAME", default_username),
        "kafka_password": password,
        "kafka_security_protocol": env.get("CREDITFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        "kafka_ca_file": env.get("CREDITFLOW_KAFKA_CA_FILE") or None,
        "kafka_metadata_max_age_ms": env.get("CREDITFLOW_KAFKA_METADATA_MAX_AGE_MS", "30000"),
    }


_ENV_NAMES = {
    "kafka_bootstrap": "CREDITFLOW_KAFKA_BOOTSTRAP",
    "kafka_username": "CREDITFLOW_KAFKA_USERNAME",
    "kafka_password": "CREDITFLOW_KAFKA_PASSWORD",
    "kafka_security_protocol": "CREDITFLOW_KAFKA_SECURITY_PROTOCOL",
    "kafka_ca_file": "CREDITFLOW_KAFKA_CA_FILE",
    "kafka_metadata_max_age_ms": "CREDITFLOW_KAFKA_METADATA_MAX_AGE_MS",
    "environment": "CREDITFLOW_ENV",
    "clock_offset": "CREDITFLOW_CLOCK_OFFSET",
    "clock_file": "CREDITFLOW_CLOCK_FILE",
}

from .clock import ENVIRONMENT_VARIABLE, FILE_VARIABLE, OFFSET_VARIABLE, OperatorClock, check_moved_clock, parse_offset
from .identity import DEFAULT_PUBLIC_KEY_FILE, PUBLIC_KEY_FILE_VARIABLE


class Settings(BaseModel):
    service: str
    kafka_bootstrap: str = Field(min_length=1)
    kafka_username: str = Field(min_length=1)
    kafka_password: SecretStr | None = None
    kafka_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL"] = "SASL_PLAINTEXT"
    kafka_ca_file: str | None = None
    kafka_metadata_max_age_ms: int = Field(default=30_000, ge=100)
    mongodb_url: str = Field(pattern=r"^mongodb(\+srv)?://")
    mongodb_database: str = Field(pattern=r"^[A-Za-z0-9_-]{1,60}$")
    http_host: str
    http_port: int = Field(ge=0, le=65535)
    log_level: str = Field(pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    group_id: str = Field(min_length=1)
    # The platform's public identity key, which verifies every bearer token (docs/decisions/0002).
    identity_public_key_file: str = Field(default=DEFAULT_PUBLIC_KEY_FILE, min_length=1)
    # A rehearsal or demo stack says `development`; only there may the operator clock be moved (runtime/clock.py).
    environment: Literal["production", "development"] = "production"
    clock_offset: str | None = None
    clock_file: str | None = None

    @field_validator("clock_offset", "clock_file")
    @classmethod
    def _only_in_development(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:  # unset, or set empty: the real time
            return None
        check_moved_clock(info.data.get("environment", "production"), _ENV_NAMES[info.field_name])
        if info.field_name == "clock_offset":
            parse_offset(value)
        return value

    def operator_clock(self) -> OperatorClock:
        return OperatorClock(parse_offset(self.clock_offset or "0"),
                             Path(self.clock_file) if self.clock_file else None)

    @property
    def kafka_login(self) -> KafkaLogin:
        return KafkaLogin(bootstrap=self.kafka_bootstrap, username=self.kafka_username, password=self.kafka_password,
                          security_protocol=self.kafka_security_protocol, ca_file=self.kafka_ca_file,
                          metadata_max_age_ms=self.kafka_metadata_max_age_ms)

    @classmethod
    def from_env(cls, service: str, http_port: int, env: Mapping[str, str] | None = None) -> Settings:
        """Read CREDITFLOW_* (shared) and CREDITFLOW_<SERVICE>_* (this service's) variables. Each service logs in to
        Kafka as its own principal, svc-<service>, unless CREDITFLOW_KAFKA_USERNAME says otherwise."""
        env = os.environ if env is None else env
        prefix = "CREDITFLOW_" + service.upper().replace("-", "_") + "_"
        names = {
            "mongodb_url": ("CREDITFLOW_MONGODB_URL", "mongodb://127.0.0.1:27017/"),
            "mongodb_database": (prefix + "MONGODB_DATABASE", "creditflow_" + service.replace("-", "_")),
            "http_host": (prefix + "HTTP_HOST", "127.0.0.1"),
            "http_port": (prefix + "HTTP_PORT", str(http_port)),
            "log_level": ("CREDITFLOW_LOG_LEVEL", "INFO"),
            "group_id": (prefix + "GROUP_ID", "creditflow." + service),
            "identity_public_key_file": (PUBLIC_KEY_FILE_VARIABLE, DEFAULT_PUBLIC_KEY_FILE),
            "environment": (ENVIRONMENT_VARIABLE, "production"),
            "clock_offset": (OFFSET_VARIABLE, None),
            "clock_file": (FILE_VARIABLE, None),
        }
        values = {field: env.get(var, default) for field, (var, default) in names.items()}
        values |= kafka_login_from_env(env, f"svc-{service}")
        variable = {**_ENV_NAMES, **{field: var for field, (var, _) in names.items()}}
        try:
            return cls(service=service, **values)
        except ValidationError as exc:
            problems = "; ".join(f"{variable[str(e['loc'][0])]}: {e['msg']}" for e in exc.errors(include_url=False))
            raise SystemExit(f"invalid settings for {service}: {problems}") from None


def installed_service_settings(service: str) -> Settings:
    """Settings of a service installed beside this code, with its own default HTTP port: for command-line tools
    (tokens, healthchecks) that act as that service."""
    app = importlib.import_module(f"creditflow.{service.replace('-', '_')}.app")
    return Settings.from_env(service, app.HTTP_PORT)
