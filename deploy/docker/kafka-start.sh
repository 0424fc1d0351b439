#!/usr/bin/env bash
# Entry point of the kafka container (apache/kafka image): server.properties from the KAFKA_* environment (as the
# image's own launcher names them: '_' -> '.', '__' -> '_', '___' -> '-'), plus the SCRAM login the broker uses for
# its own connections, read from the admin secret; the admin is the first SCRAM user, added when the storage is
# formatted. The format step prints salted keys, so its output is discarded.
#
# CREDITFLOW_KAFKA_CONFIG_ONLY=1 writes the configuration and stops (tests/test_compose.py checks it without Docker).
set -euo pipefail

secrets=${CREDITFLOW_SECRETS_DIR:-/run/secrets}
admin_password=$(cat "$secrets/kafka-creditflow-admin.password")
config=${CREDITFLOW_KAFKA_CONFIG_DIR:-/tmp/creditflow-kafka}
mkdir -p "$config" && chmod 700 "$config"
props="$config/server.properties"
umask 077

{
  env | while IFS='=' read -r name value; do
    case "$name" in
      KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_LOG4J_OPTS | KAFKA_JMX_OPTS) ;;
      KAFKA_*)
        key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' | sed 's/___/-/g; s/__/@/g; s/_/./g; s/@/_/g')
        printf '%s=%s\n' "$key" "$value" ;;
    esac
  done
  jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"creditflow-admin\" password=\"$admin_password\";"
  printf 'listener.name.client.scram-sha-512.sasl.jaas.config=%s\n' "$jaas"
  # Several controllers (the cluster profile of docker-compose.yml) log in to each other with PLAIN, the admin alone declared here:
  # SCRAM users live in the metadata log, which they can read only once they have elected a leader. One node keeps
  # SCRAM on its controller listener too.
  if [ "${KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL:-}" = PLAIN ]; then
    printf 'listener.name.controller.plain.sasl.jaas.config=%s\n' \
      "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"creditflow-admin\" password=\"$admin_password\" user_creditflow-admin=\"$admin_password\";"
  else
    printf 'listener.name.controller.scram-sha-512.sasl.jaas.config=%s\n' "$jaas"
  fi
} > "$props"

# For the healthcheck: the admin's client settings over the TLS listener.
cat > "$config/admin.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="creditflow-admin" password="$admin_password";
ssl.truststore.type=PEM
ssl.truststore.location=$secrets/kafka-ca.pem
PROPS
[ "${CREDITFLOW_KAFKA_CONFIG_ONLY:-0}" = 1 ] && exit 0

if [ ! -f "${KAFKA_LOG_DIRS}/meta.properties" ]; then
  /opt/kafka/bin/kafka-storage.sh format -t "$CLUSTER_ID" -c "$props" \
    --add-scram "SCRAM-SHA-512=[name=creditflow-admin,password=$admin_password]" > /dev/null
fi
exec /opt/kafka/bin/kafka-server-start.sh "$props"
