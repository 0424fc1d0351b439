#!/usr/bin/env bash
# Run once before `docker compose up`: the Kafka passwords (admin, one per service), the broker's TLS key and
# certificate, signed by a CA made here, and the identity key pair that signs and verifies tokens (decision 0002), into deploy/docker/secrets/ (kept out of git). Existing files are kept, so
# running it again changes nothing. Needs openssl.
set -euo pipefail

dir=$(cd "$(dirname "$0")" && pwd)/secrets
mkdir -p "$dir" && chmod 700 "$dir"  # the folder keeps the secrets private on this host
cd "$dir"
umask 022  # readable inside the containers, whose users differ from this host's; the folder above protects them

for principal in creditflow-admin svc-issuer svc-learner-record svc-recognition svc-stacking; do
  [ -f "kafka-$principal.password" ] || openssl rand -base64 32 | tr -d '/+=\n' > "kafka-$principal.password"
done

# One certificate for every broker: its names cover the single node and the three of the cluster profile (secrets
# made before that profile existed lack `kafka-1`: delete kafka-broker.pem to make them again).
if [ ! -f kafka-broker.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 -subj "/CN=creditflow CA" \
    -keyout ca-key.pem -out kafka-ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kafka" \
    -keyout broker-key.pem -out broker.csr 2>/dev/null
  printf 'subjectAltName=DNS:kafka,DNS:kafka-1,DNS:kafka-2,DNS:kafka-3,DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > broker.ext
  openssl x509 -req -in broker.csr -CA kafka-ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
    -extfile broker.ext -out broker-cert.pem 2>/dev/null
  # Kafka reads a PEM keystore as the PKCS#8 key followed by the certificate chain.
  openssl pkcs8 -topk8 -nocrypt -in broker-key.pem | cat - broker-cert.pem kafka-ca.pem > kafka-broker.pem
  rm -f broker-key.pem broker.csr broker.ext broker-cert.pem kafka-ca.srl
  chmod 600 ca-key.pem  # only needed to sign a new broker certificate
fi
if [ ! -f identity-public.pem ]; then
  # The private key signs tokens (`creditflow token`, with CREDITFLOW_IDENTITY_KEY_FILE); services get the public one.
  (umask 077 && openssl genpkey -algorithm ed25519 -out identity-key.pem)
  openssl pkey -in identity-key.pem -pubout -out identity-public.pem
fi
echo "Secrets in $dir"
