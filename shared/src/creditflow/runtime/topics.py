"""Create the contract's topics with their configuration; existing topics are left as they are."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from creditflow.events import CONTRACT_TOPICS, DEAD_LETTER_TOPIC
from creditflow.events.topics import INBOUND_CREDENTIALS, KEEP_FOREVER


def _wanted(replication_factor: int) -> list[NewTopic]:
    topics = [
        NewTopic(t.name, num_partitions=t.partitions, replication_factor=replication_factor, topic_configs=dict(t.config))
        for t in (*CONTRACT_TOPICS, INBOUND_CREDENTIALS)
    ]
    topics.append(NewTopic(DEAD_LETTER_TOPIC, 1, replication_factor, topic_configs=dict(KEEP_FOREVER)))
    return topics


async def ensure_topics(bootstrap: str, replication_factor: int = 1) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in _wanted(replication_factor) if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them between our list and create
        return sorted(t.name for t in _wanted(replication_factor))
    finally:
        await admin.close()


def main() -> None:
    """`creditflow-topics`: create the contract's topics on CREDITFLOW_KAFKA_BOOTSTRAP (docker-compose runs it once)."""
    import asyncio
    import os

    bootstrap = os.environ.get("CREDITFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    replication = int(os.environ.get("CREDITFLOW_TOPIC_REPLICATION_FACTOR", "1"))
    for name in asyncio.run(ensure_topics(bootstrap, replication)):
        print(name)


if __name__ == "__main__":
    main()


async def partitions_of(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics, from the broker's metadata (a consumer's cache has only what it subscribed)."""
    described = await admin.describe_topics(topics)
    return sorted(TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"])
