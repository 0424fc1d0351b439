#!/usr/bin/env bash
# Re-pin constraints.txt: resolve every package's dependencies afresh in a scratch virtualenv and freeze the result.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet hatchling
"$scratch/venv/bin/pip" install --quiet "$repo/shared" "$repo/services/issuer" "$repo/services/learner-record" \
  "$repo/services/recognition" "$repo/services/stacking" -r "$repo/requirements-dev.txt"
{
  echo "# Pinned versions of every third-party package, so every machine and CI resolve the same set."
  echo "# Regenerate with \`make lock\` after changing a dependency."
  "$scratch/venv/bin/pip" freeze | grep -v -i '^creditflow'
} > "$repo/constraints.txt"
echo "constraints.txt re-pinned ($(grep -vc '^#' "$repo/constraints.txt") packages)"
