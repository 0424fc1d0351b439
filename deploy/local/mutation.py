"""`make mutation`: mutation testing of the pure domain modules with mutmut, against their unit tests only.

mutmut derives a module's import name from its path under `src/` and swaps in mutants through trampolines that check
that name. creditflow is one namespace package spread over five `src/` folders (installed as editable compat paths),
so the run lays the folders out as one `src/creditflow` tree in a scratch directory, copies the unit tests beside it,
and runs mutmut there: what the tests import under `creditflow.…` is then the copy mutmut mutates.

One worker under `nice -n 19`, since the machine's cores are shared. Hypothesis runs derandomized and without
shrinking in the scratch copy, so a killed mutant fails fast and the same mutants die on every run.

Usage: `make mutation` (every module); `deploy/local/mutation.py creditflow/stacking/domain.py` (a subset);
`--again` (after adding tests: run the mutants the last run did not kill, keeping its results; the source must be
unchanged since); `--report` (print the last run's table again).

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
_ZIP = "zip(strict=...) over two sequences built from the same ids: always the same length"
_TOLERANCE = "a comparison with a 1e-9 tolerance added: > and >= differ only at exact float equality with it"
_ID_SEED = ("the step or kind only seeds a uuid5 together with the case or a per-programme sequence, which already "
            "makes each event id unique and deterministic")
_TOGETHER = "fingerprint, source institution and achievement are set together (one credential) or not at all"
EQUIVALENT: dict[str, str] = {
    **dict.fromkeys([f"creditflow.stacking.domain.x__greedy__mutmut_{n}" for n in (4, 7, 8)]
                    + [f"creditflow.stacking.domain.x_allocate__mutmut_{n}" for n in (73, 76, 77)], _ZIP),
    **dict.fromkeys(["creditflow.stacking.domain.x__evaluate__mutmut_41",
                     "creditflow.stacking.domain.x__requirement_met__mutmut_22",
                     "creditflow.stacking.domain.x_allocate__mutmut_112"], _TOLERANCE),
    **dict.fromkeys([f"creditflow.stacking.facts.x_progress_events__mutmut_{n}"
                     for n in (80, 81, 82, 88, 89, 90, 104, 105, 106)]
                    + [f"creditflow.recognition.procedure.x_open_case__mutmut_{n}" for n in (46, 50, 51)], _ID_SEED),
    "creditflow.stacking.facts.xǁMarkerǁafter__mutmut_3": "equal markers are the same event; applying it again "
                                                          "gives the same state",
    "creditflow.stacking.facts.x_progress_events__mutmut_67": "as_completed=None is falsy, as False is",
    "creditflow.stacking.facts.x_standing__mutmut_29": "version_for never returns None for the non-empty versions "
                                                       "standing has checked",
    **dict.fromkeys([f"creditflow.recognition.procedure.x_add_months__mutmut_{n}" for n in (29, 30, 31)],
                    "the message of an assertion no input reaches (day 28 exists in every month)"),
    **dict.fromkeys([f"creditflow.recognition.procedure.x_record_decision__mutmut_{n}" for n in (74, 75)], _TOGETHER),
}

CONFTEST = '''"""Written by deploy/local/mutation.py: the same examples every run, and no shrinking (a failure is all we need)."""
from hypothesis import Phase, settings

settings.register_profile("mutation", derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("mutation")
'''


def copy_tests() -> list[str]:
    tests = sorted({t for ts in MODULES.values() for t in ts})
    (SCRATCH / "tests").mkdir(exist_ok=True)
    for path in [*tests, *HELPERS]:
        shutil.copy2(REPO / path, SCRATCH / "tests" / Path(path).name)
    (SCRATCH / "tests" / "conftest.py").write_text(CONFTEST)
    # mutmut's copy of the tests, and which test reaches which function, are refreshed from these.
    shutil.rmtree(SCRATCH / "mutants" / "tests", ignore_errors=True)
    (SCRATCH / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    return tests


def lay_out() -> None:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    (SCRATCH / "src").mkdir(parents=True)
    for package in PACKAGES:
        shutil.copytree(REPO / package / "src", SCRATCH / "src", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    tests = copy_tests()
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


def not_killed() -> list[str]:
    """The mutants of the last run that no test killed yet (survived, unchecked, no tests, timed out)."""
    names = []
    for module in MODULES:
        meta = SCRATCH / "mutants" / "src" / (module + ".meta")
        if meta.exists():
            names += [n for n, code in json.loads(meta.read_text())["exit_code_by_key"].items() if code not in (1, 3)]
    return sorted(names)


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
        # --again: keep the last run's mutants and results, and run those not killed yet against the unit tests as
        # they are now (after adding tests for survivors); the source must be unchanged since that run.
        names = not_killed() if "--again" in sys.argv else []
        if names:
            copy_tests()
        else:
            lay_out()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        mutmut = str(Path(sys.executable).with_name("mutmut"))
        subprocess.run(["nice", "-n", "19", mutmut, "run", "--max-children", "1", *names], cwd=SCRATCH, env=env,
                       check=False)
    code = report()
    print(f"\nmutation run took {time.monotonic() - started:.0f} s; target: at least 90 % of the non-equivalent "
          "mutants killed in each module")
    return code


if __name__ == "__main__":
    sys.exit(main())
