#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: the virtualenv with every service and the dev tools, the Kafka broker jars
# (Maven Central) and the FerretDB binary (Go module proxy). Everything downloaded is cached outside git, so a second
# run only checks stamps and costs seconds.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${CREDITFLOW_CACHE_DIR:-$HOME/.cache/creditflow}
venv=${CREDITFLOW_VENV:-$repo/.venv}
python=${PYTHON:-python3}
kafka_version=$(sed -n 's/^KAFKA_VERSION = "\(.*\)"/\1/p' "$repo/deploy/local/stack.py")
ferretdb_version=$(sed -n 's/^FERRETDB_VERSION = "\(.*\)"/\1/p' "$repo/deploy/local/stack.py")

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# --- Python: one virtualenv holding shared/, the four services and the dev tools -----------------------------------
packages=(shared services/issuer services/learner-record services/recognition services/stacking services/console)
stamp_inputs=("$repo/constraints.txt" "$repo/requirements-dev.txt")
for p in "${packages[@]}"; do stamp_inputs+=("$repo/$p/pyproject.toml"); done
want=$(cat "${stamp_inputs[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.creditflow-stamp" 2>/dev/null)" != "$want" ]; then
  step "Python virtualenv in $venv"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  editables=()
  for p in "${packages[@]}"; do editables+=(-e "$repo/$p"); done
  # compat mode puts each src/ folder on sys.path, which is what lets the creditflow namespace span five packages.
  "$venv/bin/python" -m pip install --quiet -c "$repo/constraints.txt" \
    --config-settings editable_mode=compat "${editables[@]}" -r "$repo/requirements-dev.txt"
  # The `creditflow` command moved from the issuer's package to shared's: reinstalling an older issuer after shared
  # removes the script shared had just written, so write it again.
  [ -x "$venv/bin/creditflow" ] || "$venv/bin/python" -m pip install --quiet --no-deps --force-reinstall \
    --config-settings editable_mode=compat -e "$repo/shared"
  echo "$want" > "$venv/.creditflow-stamp"
else
  step "Python virtualenv up to date"
fi

# --- The platform's identity key pair (docs/decisions/0002): the private key signs tokens (`creditflow token`), the
# services verify with the public one. Kept when it exists: a new key would void every token issued.
"$venv/bin/python" -m creditflow.runtime.identity "${CREDITFLOW_STATE_DIR:-$repo/.state}/identity"

# --- Apache Kafka broker and console-client jars from Maven Central -------------------------------------------------
# The folder is named after the pom's content too, so a changed pom fetches afresh beside (not over) jars a running
# broker may be using. stack.py computes the same name.
kafka_dir="$cache/kafka-$kafka_version-$(sha256sum "$repo/deploy/local/kafka-pom.xml" | cut -c1-12)"
if [ ! -f "$kafka_dir/.complete" ]; then
  step "Apache Kafka $kafka_version jars (broker, console clients) into $kafka_dir"
  command -v mvn >/dev/null || { echo "mvn (Maven) is required to fetch the Kafka broker" >&2; exit 1; }
  command -v java >/dev/null || { echo "java 17 is required to run the Kafka broker" >&2; exit 1; }
  mkdir -p "$cache" && tmp=$(mktemp -d "$cache/.kafka.XXXX")
  mvn -q -B -f "$repo/deploy/local/kafka-pom.xml" -Dkafka.version="$kafka_version" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs"
  rm -rf "$kafka_dir" && mkdir -p "$(dirname "$kafka_dir")" && mv "$tmp" "$kafka_dir"
  touch "$kafka_dir/.complete"
else
  step "Apache Kafka $kafka_version jars cached"
fi

# --- FerretDB from the Go module proxy, with the patches in deploy/local/ferretdb-patches ---------------------------
# stack.py is the one place that knows the build's cache folder (its name carries the patches' hash) and builds it.
ferretdb_bin=$("$venv/bin/python" "$repo/deploy/local/stack.py" build-ferretdb)
step "FerretDB $ferretdb_version (patched) at $ferretdb_bin"

# --- Independent credential verifiers for the test suite (npm: Digital Bazaar's VC stack, jsonld.js, jose) ----------
verifiers="$repo/tests/verifiers"
want=$(sha256sum "$verifiers/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$verifiers/node_modules/.creditflow-stamp" 2>/dev/null)" != "$want" ]; then
  step "Independent verifiers (npm ci) into $verifiers/node_modules"
  command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are required for the tests' independent verifiers" >&2; exit 1; }
  (cd "$verifiers" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$verifiers/node_modules/.creditflow-stamp"
else
  step "Independent verifiers up to date"
fi

# --- Browser tests of the console: Debian's Chromium and its driver (no browser download at run time) ---------------
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  step "Chromium and chromedriver (apt) for the console's browser tests"
  [ "$(id -u)" = 0 ] || { echo "installing chromium needs root: sudo apt-get install chromium chromium-driver" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
else
  step "Chromium and chromedriver present"
fi

# --- kcat (apt): a Kafka client creditflow did not write, for institutions publishing on their inbound topic -------
# (docs/integration.md; run it through deploy/local/kcat.sh, which gives it a librdkafka that can log in to Kafka 4);
# Kafka's own console clients come with the jars above (deploy/local/kafka-console.sh).
if ! command -v kcat >/dev/null; then
  step "kcat (apt) for publishing to Kafka from the shell"
  [ "$(id -u)" = 0 ] || { echo "installing kcat needs root: sudo apt-get install kcat" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
else
  step "kcat present"
fi

# --- axe-core (npm, pinned by its lockfile) for the console's accessibility checks -----------------------------------
browser_tests="$repo/tests/browser"
if [ "$(cat "$browser_tests/node_modules/.creditflow-stamp" 2>/dev/null)" != "$(sha256sum < "$browser_tests/package-lock.json")" ]; then
  step "axe-core into $browser_tests/node_modules"
  command -v npm >/dev/null || { echo "npm (Node.js) is required for the accessibility checks" >&2; exit 1; }
  (cd "$browser_tests" && npm ci --silent --no-audit --no-fund)
  sha256sum < "$browser_tests/package-lock.json" > "$browser_tests/node_modules/.creditflow-stamp"
else
  step "axe-core up to date"
fi
