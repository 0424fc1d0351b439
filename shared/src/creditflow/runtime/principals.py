"""Kafka principals and their ACLs, managed by the admin (a super user): service principals at stack start,
institution principals by the operator's `creditflow kafka-principal` command.

aiokafka's admin client cannot manage SCRAM users or ACLs; confluent-kafka's can. Its calls return futures, so this
module is synchronous: it runs in command-line tools and at start-up, never on a service's event loop.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from creditflow.events.permissions import (
    Grant,
    inbound_topic,
    institution_grants,
    institution_principal,
    service_grants,
    service_principal,
)
from creditflow.events.topics import KEEP_FOREVER
from pydantic import SecretStr

from .settings import KafkaLogin

SCRAM = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
TIMEOUT_S = 30.0


def new_password() -> str:
    return secrets.token_urlsafe(32)


def password_file(secrets_dir: Path, principal: str) -> Path:
    return secrets_dir / f"kafka-{principal}.password"


def stored_password(secrets_dir: Path, principal: str) -> str:
    """The principal's password, generated on first use into a file only its owner can read."""
    path = password_file(secrets_dir, principal)
    if not path.exists():
        secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_EXCL + 0600: the secret is never readable by others, not even between creating and writing the file.
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(new_password() + "\n")
    return path.read_text().strip()


# An institution's inbound topic is created whenever an institution is (CLI, apply, demo), long after the stack set its
# topics up: the broker's default.replication.factor (3 on the cluster, with min.insync.replicas 2) is the one
# number that knows the cluster's shape; a hard-coded 1 left every inbound topic on one broker of three.
BROKER_DEFAULT = -1


class KafkaAdmin:
    def __init__(self, login: KafkaLogin) -> None:
        self._login = login
        self._client = AdminClient(login.confluent())

    @staticmethod
    def _wait(futures: Mapping | Iterable) -> None:
        for future in (futures.values() if isinstance(futures, Mapping) else futures):
            future.result(timeout=TIMEOUT_S)

    def upsert_users(self, passwords: Mapping[str, str]) -> None:
        """Create or re-password SCRAM users; returns once the broker accepts each new password (the controller
        acknowledges a change a moment before the broker applies it)."""
        if not passwords:
            return
        self._wait(self._client.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(user, SCRAM, password.encode()) for user, password in passwords.items()]))
        deadline = time.monotonic() + TIMEOUT_S
        for user, password in passwords.items():
            login = self._login.model_copy(update={"username": user, "password": SecretStr(password)})
            while (problem := diagnose(login, timeout_s=2.0)) is not None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the broker still refuses {user} {TIMEOUT_S:.0f}s after its upsert: {problem}")

    def delete_user(self, principal: str) -> None:
        try:
            self._wait(self._client.alter_user_scram_credentials(
                [UserScramCredentialDeletion(principal, ScramMechanism.SCRAM_SHA_512)]))
        except KafkaException as exc:
            if "RESOURCE_NOT_FOUND" not in str(exc):  # revoking twice is not an error
                raise

    def user_exists(self, principal: str) -> bool:
        try:
            [description] = self._client.describe_user_scram_credentials([principal]).values()
            return bool(description.result(timeout=TIMEOUT_S).scram_credential_infos)
        except KafkaException as exc:
            if "RESOURCE_NOT_FOUND" in str(exc):
                return False
            raise

    def grant(self, grants: Iterable[Grant]) -> None:
        bindings = [_binding(g) for g in sorted(grants)]
        if bindings:
            self._wait(self._client.create_acls(bindings))

    def revoke_all(self, principal: str) -> None:
        self._wait(self._client.delete_acls([AclBindingFilter(
            ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{principal}", None, AclOperation.ANY,
            AclPermissionType.ANY)]))

    def grants(self) -> set[Grant]:
        """Every ACL the broker holds, as grants (an ACL that is not a plain ALLOW from any host shows as such)."""
        found = self._client.describe_acls(AclBindingFilter(
            ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY))
        return {_grant(b) for b in found.result(timeout=TIMEOUT_S)}

    def create_topic(self, name: str, partitions: int = 3, replication_factor: int = BROKER_DEFAULT) -> None:
        futures = self._client.create_topics([NewTopic(name, partitions, replication_factor, config=dict(KEEP_FOREVER))])
        try:
            self._wait(futures)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise

    def provision_services(self, passwords: Mapping[str, str]) -> None:
        """Each service's principal with the table's ACLs; ACLs of service principals the table no longer gives are
        removed, so the broker holds exactly the table (institutions' ACLs are left alone)."""
        self.upsert_users({service_principal(s): p for s, p in passwords.items()})
        wanted = service_grants()
        services = {g.principal for g in wanted}
        stale = {g for g in self.grants() if g.principal in services} - wanted
        for principal in {g.principal for g in stale}:
            self.revoke_all(principal)
            self.grant(g for g in wanted if g.principal == principal)
        self.grant(wanted)

    def create_institution(self, institution_id: str, password: str, replication_factor: int = BROKER_DEFAULT) -> None:
        """The institution's principal, its inbound topic and ACLs to write (and read back) that topic only."""
        self.create_topic(inbound_topic(institution_id), replication_factor=replication_factor)
        self.upsert_users({institution_principal(institution_id): password})
        self.grant(institution_grants(institution_id))

    def revoke_institution(self, institution_id: str) -> None:
        """Delete its principal and every ACL it holds; its inbound topic stays, as the record of what it said."""
        principal = institution_principal(institution_id)
        self.revoke_all(principal)
        self.delete_user(principal)


def diagnose(login: KafkaLogin, timeout_s: float = 5.0) -> str | None:
    """Why this login cannot use the broker, or None if it can. aiokafka reports every failure as "Unable to
    bootstrap"; librdkafka names the cause (a refused password, a TLS failure, nobody listening)."""
    errors: list[KafkaError] = []
    silent = logging.getLogger("creditflow.kafka.diagnosis")
    silent.addHandler(logging.NullHandler())
    silent.propagate = False  # the causes are reported below, once, not once per retry
    client = AdminClient({**login.confluent(), "error_cb": errors.append, "logger": silent})
    try:
        client.list_topics(timeout=timeout_s)
        return None
    except KafkaException as exc:
        errors.append(exc.args[0])
    client.poll(0.5)  # delivers the errors librdkafka queued for error_cb
    if any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        return f"Kafka authentication failed for principal {login.username}"
    causes = [e for e in errors if e.code() not in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)]
    return f"Kafka at {login.bootstrap} unusable: {(causes or errors)[0].str()}"


def _binding(grant: Grant) -> AclBinding:
    return AclBinding(ResourceType[grant.resource], grant.name, ResourcePatternType[grant.pattern],
                      f"User:{grant.principal}", "*", AclOperation[grant.operation], AclPermissionType.ALLOW)


def _grant(binding: AclBinding) -> Grant:
    kind = "" if (binding.permission_type == AclPermissionType.ALLOW and binding.host == "*") else (
        f" ({binding.permission_type.name} from {binding.host})")
    return Grant(binding.principal.removeprefix("User:"), binding.operation.name + kind, binding.restype.name,
                 binding.name, binding.resource_pattern_type.name)
