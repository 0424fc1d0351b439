"""`make mutation`: mutation testing of the pure domain modules with mutmut, against their unit tests only.

mutmut derives a module's import name from its path under `src/` and swaps in mutants through trampolines that check
that name. creditflow is one namespace package spread over five `src/` folders (installed as editable compat paths),
so the run lays the folders out as one `src/creditflow` tree in a scratch directory, copies the unit tests beside it,
and runs mutmut there: what the tests import under `creditflow.…` is then the copy mutmut mutates.

One worker under `nice -n 19`, since the machine's cores are shared. Hypothesis runs derandomized and without
shrinking in the scratch copy, so a killed mutant fails fast and the same mutants die on every run.

Extend it by adding a module and its unit tests to MODULES (the learner-record fold, the issuer's rules,
creditflow.academic and credential verification are the next candidates); list a mutant that no test can kill
because it changes no behaviour in EQUIVALENT, with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRATCH = REPO / ".mutation"
PACKAGES = ["shared", "services/issuer", "services/learner-record", "services/recognition", "services/stacking"]

# The module (under src/) -> the unit tests that exercise it: fast, no servers.
STACKING_TESTS = ["services/stacking/tests/test_allocator.py", "services/stacking/tests/test_facts.py"]
MODULES: dict[str, list[str]] = {
    "creditflow/stacking/domain.py": STACKING_TESTS,
    "creditflow/stacking/facts.py": STACKING_TESTS,
    "creditflow/recognition/domain.py": ["services/recognition/tests/test_decide.py"],
    "creditflow/recognition/outcomes.py": ["services/recognition/tests/test_decide.py"],
    "creditflow/recognition/procedure.py": ["services/recognition/tests/test_procedure.py"],
}
# Test helpers the unit tests import.
HELPERS = ["shared/tests/contract_factories.py", "services/stacking/tests/stacking_factories.py",
           "services/recognition/tests/recognition_factories.py"]

# Mutants that change no observable behaviour, with the reason (see docs/testing.md). Names are mutmut's.
EQUIVALENT: dict[str, str] = {}

CONFTEST = '''"""Written by deploy/local/mutation.py: the same examples every run, and no shrinking (a failure is all we need)."""
from hypothesis import Phase, settings

settings.register_profile("mutation", derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("mutation")
'''


def lay_out() -> None:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    (SCRATCH / "src").mkdir(parents=True)
    for package in PACKAGES:
        shutil.copytree(REPO / package / "src", SCRATCH / "src", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    tests = sorted({t for ts in MODULES.values() for t in ts})
    (SCRATCH / "tests").mkdir()
    for path in [*tests, *HELPERS]:
        shutil.copy2(REPO / path, SCRATCH / "tests" / Path(path).name)
    (SCRATCH / "tests" / "conftest.py").write_text(CONFTEST)
    only = ", ".join(json.dumps(f"src/{m}") for m in MODULES)
    selection = ", ".join(json.dumps(f"tests/{Path(t).name}") for t in tests)
    (SCRATCH / "pyproject.toml").write_text(f"""[tool.mutmut]
source_paths = ["src"]
only_mutate = [{only}]
pytest_add_cli_args_test_selection = [{selection}]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]

[tool.pytest.ini_options]
testpaths = ["tests"]
""")


def report() -> int:
    """Per module: killed, survived (not listed as equivalent), equivalent, and any other status; the survivors."""
    status_of = {1: "killed", 3: "killed", 0: "survived", 33: "no tests", 5: "no tests", 36: "timeout",
                 -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}
    worst = 0
    print(f"\n{'module':40} {'killed':>7} {'survived':>9} {'equivalent':>11} {'other':>6} {'killed %':>9}")
    survivors: list[str] = []
    for module in MODULES:
        meta = SCRATCH / "mutants" / "src" / (module + ".meta")
        results = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        counts: Counter[str] = Counter()
        for name, code in sorted(results.items()):
            status = status_of.get(code, "suspicious")
            if status == "survived" and name in EQUIVALENT:
                status = "equivalent"
            counts[status] += 1
            if status in ("survived", "no tests", "timeout", "suspicious", "not checked"):
                survivors.append(f"{name}: {status}")
        other = sum(counts.values()) - counts["killed"] - counts["survived"] - counts["equivalent"]
        real = counts["killed"] + counts["survived"] + other
        share = 100.0 * counts["killed"] / real if real else 100.0
        if share < 90:
            worst = 1
        print(f"{module:40} {counts['killed']:7} {counts['survived']:9} {counts['equivalent']:11} {other:6} "
              f"{share:8.1f}%")
    if survivors:
        print("\nnot killed (see each with `cd .mutation && ../.venv/bin/mutmut show NAME`):")
        print("\n".join("  " + s for s in survivors))
    return worst


def main() -> int:
    started = time.monotonic()
    chosen = [a for a in sys.argv[1:] if not a.startswith("--")]  # a subset of MODULES, by path
    for module in set(MODULES) - set(chosen or MODULES):
        del MODULES[module]
    if "--report" not in sys.argv:
        lay_out()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        mutmut = str(Path(sys.executable).with_name("mutmut"))
        subprocess.run(["nice", "-n", "19", mutmut, "run", "--max-children", "1"], cwd=SCRATCH, env=env,
                       check=False)
    code = report()
    print(f"\nmutation run took {time.monotonic() - started:.0f} s; target: at least 90 % of the non-equivalent "
          "mutants killed in each module")
    return code


if __name__ == "__main__":
    sys.exit(main())
