"""Docs that run: every command block of README.md and docs/*.md, run in order per file against the stack the suite
started, so a doc change that breaks a command fails `make test`.

The convention (docs/testing.md, "Docs that run"):

- A block fenced ```bash or ```sh is a command block: its file's command blocks run in order, each as a bash script
  (`set -eEuo pipefail`) in one scratch directory per file; variables a block sets are seen by the blocks after it.
- ```bash norun marks a block the suite cannot run (`make run` itself, bench, docker compose, ...). Only the blocks
  on NOT_RUN below may carry it, each with its reason: a new one must be added there, on purpose.
- A comment `# => text` in a block promises `text` in the block's output; the promises are checked in order.
- `curl` fails on an HTTP error status (it runs as `curl --fail-with-body`), so a block promising a 2xx fails loudly.
- Blocks are written for `make run` on its default ports. Here, the default addresses (127.0.0.1:8101-8105, Kafka
  127.0.0.1:9092) become the test stack's, and the example ids in IDS get a per-run, per-file suffix, so reruns
  against a kept stack and two files using the same names never meet. The scratch directory has `.venv`, `deploy`
  and `.state/secrets` / `.state/identity` of the test stack, so paths written for a checkout resolve as written.
- A plain ``` block whose first line starts like a command fails: tag it bash (or text, for output and synopses).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUNNABLE = {"bash", "sh"}
BLOCK_TIMEOUT_S = 240  # a block that waits for the stack (an `until` loop) fails after this, naming itself

# (file, the start of the block's first command line) -> why the suite does not run it.
NOT_RUN = {
    ("README.md", "make run "): "starts the stack the suite already runs",
    ("README.md", "printf 'learner-ada\\t%s\\n' \"$(cat award.json)\""):
        "needs a credential the institution signed with its own key; tests/test_kafka_console.py runs this path",
    ("docs/testing.md", "export CREDITFLOW_TEST_KAFKA_PORT="): "runs the test suite itself",
    ("docs/operations.md", "deploy/docker/make-secrets.sh"):
        "needs a Docker engine, which these machines lack; tests/test_compose.py checks both profiles of the file",
}
# Example ids the docs use, made unique per run and file (uni-tartu -> uni-tartu-<run><n>).
IDS = ("uni-tartu", "taltech", "learner-ada", "learner-bo", "learner-cy", "case-1", "cert-ds")
COMMAND_STARTS = (".venv/", "curl ", "make ", "creditflow ", "export ", "deploy/", "docker ", "printf ", "cat >")
FENCE = re.compile(r"^```(\S*)(.*)$")


@dataclass(frozen=True)
class Block:
    file: str  # relative to the repository
    line: int  # of the opening fence
    language: str
    tags: tuple[str, ...]
    text: str

    @property
    def first_command(self) -> str:
        return next((line for line in self.text.splitlines() if line.strip() and not line.startswith("#")), "")

    @property
    def where(self) -> str:
        return f"{self.file}, block at line {self.line}"


def blocks(path: Path) -> list[Block]:
    found, opened, lines = [], None, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = FENCE.match(line)
        if opened is None and match:
            opened, lines = (number, match.group(1), tuple(match.group(2).split())), []
        elif opened is not None and line.startswith("```"):
            found.append(Block(str(path.relative_to(REPO)), opened[0], opened[1], opened[2], "\n".join(lines)))
            opened = None
        elif opened is not None:
            lines.append(line)
    return found


ALL = {str(path.relative_to(REPO)): blocks(path) for path in DOCS}


def _not_run_entry(block: Block) -> tuple[str, str] | None:
    return next((key for key in NOT_RUN if key[0] == block.file and block.first_command.startswith(key[1])), None)


def test_only_allow_listed_blocks_are_not_run_and_every_command_block_is_tagged():
    problems = []
    for file, found in ALL.items():
        for block in found:
            if "norun" in block.tags and _not_run_entry(block) is None:
                problems.append(f"{block.where}: tagged norun but not on NOT_RUN in tests/test_docs.py "
                                f"({block.first_command!r}); run it, or add it there with the reason")
            if not block.language and block.first_command.startswith(COMMAND_STARTS):
                problems.append(f"{block.where}: an untagged block that starts like a command "
                                f"({block.first_command!r}): fence it ```bash (or ```text for output or a synopsis)")
    used = {_not_run_entry(b) for found in ALL.values() for b in found if "norun" in b.tags}
    problems += [f"NOT_RUN lists {key}, which no norun block starts with any more" for key in NOT_RUN if key not in used]
    assert not problems, "\n".join(problems)


def _scratch(tmp: Path, servers) -> Path:
    """A directory that looks like a checkout with `make run` going: the commands' relative paths resolve."""
    for name in (".venv", "deploy"):
        (tmp / name).symlink_to(REPO / name)
    (tmp / ".state").mkdir()
    (tmp / ".state" / "secrets").symlink_to(servers.stack.secrets_dir)
    (tmp / ".state" / "identity").mkdir()
    (tmp / ".state" / "identity" / "identity-key.pem").symlink_to(servers.identity.private_file)
    (tmp / ".state" / "identity" / "identity-public.pem").symlink_to(servers.identity.public_file)
    return tmp


def _substitutions(stack, file_index: int) -> dict[str, str]:
    ports = {"8101": "issuer", "8102": "learner-record", "8103": "recognition", "8104": "stacking", "8105": "console"}
    subs = {f"http://127.0.0.1:{port}": stack.urls[service] for port, service in ports.items()}
    subs["127.0.0.1:9092"] = stack.servers.kafka_bootstrap
    suffix = f"{stack.servers.run_id}{file_index}"
    subs |= {name: f"{name}-{suffix}" for name in IDS}
    return subs


def _substitute(text: str, subs: dict[str, str]) -> str:
    if not subs:
        return text
    pattern = re.compile("|".join(re.escape(key) + (r"\b" if key[-1].isalnum() else "") for key in
                                  sorted(subs, key=len, reverse=True)))
    return pattern.sub(lambda m: subs[m.group(0)], text)


def _environment(stack) -> dict[str, str]:
    """What a shell beside `make run` has: the services' defaults, here pointing at the test stack. learner-record's
    settings are the shell's (so `creditflow replay` rebuilds the running service); the other commands read their
    own variables."""
    env = dict(stack.env["learner-record"])
    env["CREDITFLOW_ISSUER_HTTP_PORT"] = stack.urls["issuer"].rsplit(":", 1)[1]
    env.pop("CREDITFLOW_ISSUER_URL", None)
    env.pop("CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE", None)  # the default, .state/secrets/..., resolves in scratch
    env.pop("CREDITFLOW_IDENTITY_KEY_FILE", None)  # likewise .state/identity/identity-key.pem
    return env


PREAMBLE = """set -eEuo pipefail
curl() {{  # `|| return`: a failure is reported at the block's line that called curl, not here
  local a; for a in "$@"; do case $a in --fail*|-[!-]*f*) command curl "$@" || return; return 0;; esac; done
  command curl --fail-with-body "$@" || return; }}
trap 'echo "docs-run-failed-at: $((LINENO + {offset}))" >&2' ERR
[ -f .docs-run-vars ] && source .docs-run-vars
"""
# Variables a block leaves for the next one: its own upper-case names, not bash's.
POSTAMBLE = """
declare -p $(compgen -v | grep -E '^[A-Z][A-Z0-9_]*$' | grep -vE \
  '^(BASH.*|EUID|UID|PPID|SHELLOPTS|GROUPS|PIPESTATUS|FUNCNAME|HOST.*|MACHTYPE|OSTYPE|OPT.*|IFS|PS[0-9]|SECONDS|\
RANDOM|SRANDOM|LINENO|HISTCMD|EPOCH.*|DIRSTACK|COLUMNS|LINES|PWD|OLDPWD|SHLVL|PATH|HOME|CREDITFLOW_.*)$') \
  > .docs-run-vars 2>/dev/null || true
"""


def _run(block: Block, subs: dict[str, str], scratch: Path, env: dict[str, str]) -> None:
    body = _substitute(block.text, subs)
    header = PREAMBLE.format(offset=block.line - PREAMBLE.count("\n"))
    script = header + body + "\n" + POSTAMBLE
    try:
        done = subprocess.run(["bash", "-c", script], cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{block.where} did not finish in {BLOCK_TIMEOUT_S} s ({block.first_command!r})\n"
                    f"output so far:\n{exc.stdout or ''}\n{exc.stderr or ''}")
    if done.returncode != 0:
        lines = re.findall(r"^docs-run-failed-at: (\d+)$", done.stderr, flags=re.MULTILINE)
        at = int(lines[0]) if lines else None  # the first failure; later ones are the callers of a function
        command = block.text.splitlines()[at - block.line - 1].strip() if at and at > block.line else "?"
        pytest.fail(f"{block.where}: line {at} failed (exit {done.returncode}): {command}\n"
                    f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
    position = 0
    for promise in re.findall(r"^\s*# => (.+?)\s*$", body, flags=re.MULTILINE):
        found = done.stdout.find(promise, position)
        if found < 0:
            pytest.fail(f"{block.where}: the output does not show {promise!r} (after what was already promised)\n"
                        f"--- stdout\n{done.stdout[-4000:]}")
        position = found + len(promise)


RUNS = [file for file, found in ALL.items() if any(b.language in RUNNABLE and "norun" not in b.tags for b in found)]


@pytest.mark.e2e
@pytest.mark.timeout(900)  # a document is many blocks; each block has its own bound, BLOCK_TIMEOUT_S
@pytest.mark.parametrize("file", RUNS)
async def test_the_commands_of_each_document_run_as_written(file, driver, tmp_path):
    running_stack = driver.stack  # the `driver` fixture waits, once, for the services to catch up with the topics
    scratch = _scratch(tmp_path, running_stack.servers)
    subs = _substitutions(running_stack, RUNS.index(file))
    env = _environment(running_stack)
    for block in ALL[file]:
        if block.language in RUNNABLE and "norun" not in block.tags:
            _run(block, subs, scratch, env)
