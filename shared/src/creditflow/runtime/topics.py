"""Create the contract's topics with their configuration; existing topics are left as they are."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from creditflow.events import CONTRACT_TOPICS, DEAD_LETTER_TOPIC
from creditflow.events.topics import INBOUND_CREDENTIALS, KEEP_FOREVER

LEARNER_PREFIX = "creditflow.learner."

from .settings import KafkaLogin


def _wanted(replication_factor: int, learner_partitions: int | None = None) -> list[NewTopic]:
    """`learner_partitions`, if given, replaces the contract's partition count of the learner topics (a cluster
    spreads them over more instances); registry and inbound topics keep theirs."""
    topics = [
        NewTopic(t.name, num_partitions=learner_partitions if learner_partitions and t.name.startswith(LEARNER_PREFIX)
                 else t.partitions, replication_factor=replication_factor, topic_configs=dict(t.config))
        for t in (*CONTRACT_TOPICS, INBOUND_CREDENTIALS)
    ]
    topics.append(NewTopic(DEAD_LETTER_TOPIC, 1, replication_factor, topic_configs=dict(KEEP_FOREVER)))
    return topics


async def ensure_topics(login: KafkaLogin, replication_factor: int = 1, learner_partitions: int | None = None
                        ) -> list[str]:
    """As the admin principal: services may create no topic."""
    admin = AIOKafkaAdminClient(**login.aiokafka())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in _wanted(replication_factor, learner_partitions) if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them between our list and create
        return sorted(t.name for t in _wanted(replication_factor))
    finally:
        await admin.close()


def main() -> None:
    """`creditflow-kafka-setup`: as the admin (CREDITFLOW_KAFKA_USERNAME/_PASSWORD[_FILE]), create the contract's
    topics (CREDITFLOW_TOPIC_REPLICATION_FACTOR replicas, 1 by default; CREDITFLOW_LEARNER_PARTITIONS partitions per
    learner topic instead of the contract's), each service's principal with the password in
    CREDITFLOW_KAFKA_<SERVICE>_PASSWORD_FILE, and the ACL table (docker-compose runs it once before the services)."""
    import asyncio
    import os
    from pathlib import Path

    from creditflow.events.permissions import ADMIN, SERVICES

    from .principals import KafkaAdmin

    env = os.environ
    login = KafkaLogin.from_env(env, ADMIN)
    replication = int(env.get("CREDITFLOW_TOPIC_REPLICATION_FACTOR", "1"))
    learner_partitions = int(env["CREDITFLOW_LEARNER_PARTITIONS"]) if "CREDITFLOW_LEARNER_PARTITIONS" in env else None
    for name in asyncio.run(ensure_topics(login, replication, learner_partitions)):
        print(name)
    passwords = {}
    for service in SERVICES:
        variable = f"CREDITFLOW_KAFKA_{service.upper().replace('-', '_')}_PASSWORD_FILE"
        if variable not in env:
            raise SystemExit(f"{variable} is required: the file holding svc-{service}'s Kafka password")
        passwords[service] = Path(env[variable]).read_text().strip()
    KafkaAdmin(login).provision_services(passwords)
    print(f"principals and ACLs of {', '.join(SERVICES)} in place")


if __name__ == "__main__":
    main()


async def partitions_of(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics, from the broker's metadata (a consumer's cache has only what it subscribed)."""
    described = await admin.describe_topics(topics)
    return sorted(TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"])
