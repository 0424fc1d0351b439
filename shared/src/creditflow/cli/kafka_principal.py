"""`creditflow kafka-principal create|rotate|revoke`: an institution's Kafka login, its inbound topic and its ACLs
(docs/security.md). It acts as the Kafka admin (runtime.settings.admin_login: CREDITFLOW_KAFKA_BOOTSTRAP and
CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE; for SASL_SSL also CREDITFLOW_KAFKA_SECURITY_PROTOCOL and
CREDITFLOW_KAFKA_CA_FILE)."""

from __future__ import annotations

import os
from pathlib import Path

from creditflow.events.permissions import KAFKA_INSTITUTION_ID, inbound_topic, institution_principal
from creditflow.runtime.principals import KafkaAdmin, new_password
from creditflow.runtime.settings import admin_login


def kafka_principal(action: str, institution_id: str, password_file: Path | None) -> int:
    """Create, rotate or revoke an institution's Kafka principal; a new password is printed once, or written to
    password_file (mode 0600)."""
    if not KAFKA_INSTITUTION_ID.match(institution_id):
        raise SystemExit(f"--institution: {institution_id!r} cannot name a Kafka principal and topic: letters, digits, "
                         "'-' and '_' only, starting with a letter or digit")
    admin = KafkaAdmin(admin_login(os.environ))
    principal = institution_principal(institution_id)
    if action == "revoke":
        admin.revoke_institution(institution_id)
        print(f"revoked {principal}: its login and ACLs are deleted; {inbound_topic(institution_id)} keeps what it "
              "published")
        return 0
    exists = admin.user_exists(principal)
    if action == "create" and exists:
        raise SystemExit(f"{principal} already exists: `creditflow kafka-principal rotate` gives it a new password")
    if action == "rotate" and not exists:
        raise SystemExit(f"{principal} does not exist: `creditflow kafka-principal create` first")
    password = new_password()
    admin.create_institution(institution_id, password)  # idempotent for the topic and ACLs; sets the password
    print(f"principal  {principal}\ntopic      {inbound_topic(institution_id)}  (write only; nothing else)")
    if password_file is not None:
        with os.fdopen(os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(password + "\n")
        print(f"password   written to {password_file} (mode 0600)")
    else:
        print(f"password   {password}\n(shown once: hand it to the institution over a secure channel)")
    return 0
