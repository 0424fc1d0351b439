#!/usr/bin/env bash
# Kafka's own console producer and consumer (the kafka-tools jars `make setup` fetched): a Kafka client creditflow
# did not write, for institutions and operators. Log in with a client properties file (SCRAM-SHA-512):
#
#   deploy/local/kafka-console.sh producer --bootstrap-server 127.0.0.1:9092 --topic creditflow.inbound.uni-tartu \
#       --command-config client.properties
#   deploy/local/kafka-console.sh consumer --bootstrap-server 127.0.0.1:9092 --topic creditflow.inbound.uni-tartu \
#       --group creditflow.inst-uni-tartu.check --from-beginning --command-config client.properties
#   deploy/local/kafka-console.sh topics --bootstrap-server 127.0.0.1:9092 --describe --under-replicated-partitions \
#       --command-config admin.properties
#   deploy/local/kafka-console.sh quorum --bootstrap-server 127.0.0.1:9092 --command-config admin.properties \
#       describe --status
#
# client.properties:
#   security.protocol=SASL_PLAINTEXT            (SASL_SSL over TLS, with ssl.truststore.type=PEM and
#   sasl.mechanism=SCRAM-SHA-512                 ssl.truststore.location=<the CA certificate>)
#   sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="inst-uni-tartu" password="...";
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${CREDITFLOW_CACHE_DIR:-$HOME/.cache/creditflow}
kafka_version=$(sed -n 's/^KAFKA_VERSION = "\(.*\)"/\1/p' "$repo/deploy/local/stack.py")
libs="$cache/kafka-$kafka_version-$(sha256sum "$repo/deploy/local/kafka-pom.xml" | cut -c1-12)/libs"
[ -d "$libs" ] || { echo "Kafka jars missing in $libs: run \`make setup\`" >&2; exit 1; }

case "${1:-}" in
  producer) main=org.apache.kafka.tools.ConsoleProducer ;;
  consumer) main=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  # For operators, as the admin: under-replicated partitions and partition leaders (kafka-topics.sh), the KRaft
  # quorum's leader and lag (kafka-metadata-quorum.sh); docs/operations.md, "what to watch".
  topics) main=org.apache.kafka.tools.TopicCommand ;;
  quorum) main=org.apache.kafka.tools.MetadataQuorumCommand ;;
  *) echo "usage: $0 producer|consumer|topics|quorum --bootstrap-server HOST:PORT --command-config FILE [...]" >&2
     exit 2 ;;
esac
shift
# Errors only on stderr: the records are what the console clients print.
exec java -Xmx256m -Dlog4j2.level=ERROR -cp "$libs/*" "$main" "$@"
