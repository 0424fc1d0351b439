#!/usr/bin/env bash
# kcat (Debian's package, `make setup` installs it) with a librdkafka that can log in to Kafka 4: Debian bookworm's
# librdkafka 2.0.2 sends a SCRAM proof Kafka 4 brokers refuse ("invalid credentials"; fixed in librdkafka 2.6.1,
# confluentinc/librdkafka#4895), so kcat runs here on the newer librdkafka bundled in the virtualenv's pinned
# confluent-kafka wheel (same soname, backward compatible). All arguments go to kcat, e.g.
#
#   deploy/local/kcat.sh -P -b 127.0.0.1:9092 -t creditflow.inbound.uni-tartu -K $'\t' \
#       -X security.protocol=SASL_PLAINTEXT -X sasl.mechanisms=SCRAM-SHA-512 \
#       -X sasl.username=inst-uni-tartu -X sasl.password="$(cat uni-tartu.password)"
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
venv=${CREDITFLOW_VENV:-$repo/.venv}
command -v kcat >/dev/null || { echo "kcat missing: run \`make setup\`" >&2; exit 1; }
bundled=$(ls "$venv"/lib/python3*/site-packages/confluent_kafka.libs/librdkafka-*.so.1 2>/dev/null | head -n 1)
[ -n "$bundled" ] || { echo "no librdkafka in $venv (confluent-kafka): run \`make setup\`" >&2; exit 1; }
# kcat asks for librdkafka.so.1: a folder holding that name for the bundled library, beside the virtualenv.
lib="$venv/kcat-librdkafka"
[ "$(readlink "$lib/librdkafka.so.1" 2>/dev/null)" = "$bundled" ] || { mkdir -p "$lib" && ln -sfn "$bundled" "$lib/librdkafka.so.1"; }
LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec kcat "$@"
