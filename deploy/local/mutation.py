"""`make mutation`: mutation testing of the pure domain modules with mutmut, against their unit tests only.

mutmut derives a module's import name from its path under `src/` and swaps in mutants through trampolines that check
that name. creditflow is one namespace package spread over five `src/` folders (installed as editable compat paths),
so the run lays the folders out as one `src/creditflow` tree in a scratch directory, copies the unit tests beside it,
and runs mutmut there: what the tests import under `creditflow.…` is then the copy mutmut mutates. Each module gets
a scratch directory of its own (`.mutation/<module>`), so that modules run one at a time keep each other's results
and each mutant runs only that module's tests.

One worker under `nice -n 19`, since the machine's cores are shared. Hypothesis runs derandomized and without
shrinking in the scratch copy, so a killed mutant fails fast and the same mutants die on every run.

Usage: `make mutation` (every module); `deploy/local/mutation.py creditflow/stacking/domain.py` (a subset);
`--again` (after adding tests: run the mutants the last run did not kill, keeping its results; the source must be
unchanged since); `--report` (print the last runs' table again).

Extend it by adding a module and its unit tests to MODULES; list a mutant that no test can kill because it changes
no behaviour in EQUIVALENT, with the reason.
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
CREDENTIAL_TESTS = ["shared/tests/test_credentials.py", "shared/tests/test_data_integrity.py",
                    "shared/tests/test_verify_formats.py"]
MODULES: dict[str, list[str]] = {
    "creditflow/stacking/domain.py": STACKING_TESTS,
    "creditflow/stacking/facts.py": STACKING_TESTS,
    "creditflow/recognition/domain.py": ["services/recognition/tests/test_decide.py"],
    "creditflow/recognition/outcomes.py": ["services/recognition/tests/test_decide.py"],
    "creditflow/recognition/procedure.py": ["services/recognition/tests/test_procedure.py"],
    "creditflow/learner_record/domain.py": ["services/learner-record/tests/test_fold.py"],
    "creditflow/issuer/rules.py": ["services/issuer/tests/test_rules.py"],
    "creditflow/academic.py": ["shared/tests/test_academic.py", "services/issuer/tests/test_rules.py"],
    "creditflow/credentials/verify.py": CREDENTIAL_TESTS,
    "creditflow/credentials/data_integrity.py": CREDENTIAL_TESTS,
}
# Test helpers the unit tests import, and the files they read (copied as folders beside the tests).
HELPERS = ["shared/tests/contract_factories.py", "services/stacking/tests/stacking_factories.py",
           "services/recognition/tests/recognition_factories.py"]
TEST_DATA = ["shared/tests/vectors", "shared/tests/fixtures"]

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
    "creditflow.learner_record.domain.x__supersedes__mutmut_6": "markers are equal only for the same event, whose "
                                                                 "entry is then the same: replacing it changes nothing",
    **dict.fromkeys([f"creditflow.learner_record.domain.x_award__mutmut_{n}" for n in (90, 99)],
                    "writes an entry equal to the one stored (a pending revocation implies no stored entry), so the "
                    "record is equal either way"),
    "creditflow.learner_record.domain.x_clr_associations__mutmut_39": "the dict only de-duplicates its keys; the "
                                                                       "values are never read",
    **dict.fromkeys([f"creditflow.credentials.verify.x__instant__mutmut_{n}" for n in (7, 8)],
                    "Python 3.11's datetime.fromisoformat reads a trailing Z itself; the replace is for older readers"),
    "creditflow.issuer.rules.x__check__mutmut_31": "'below' is only chosen for a figure that does not fit, which "
                                                    "is never equal to the lower bound",
    **dict.fromkeys([f"creditflow.recognition.domain.x_achievement_from_credential__mutmut_{n}" for n in (55, 69)],
                    "rsplit('/') and rsplit('/', 2) end in the same last segment as rsplit('/', 1)"),
    **dict.fromkeys([f"creditflow.recognition.domain.x_fingerprint__mutmut_{n}" for n in (4, 5, 6, 9, 10, 11)],
                    "an Achievement and a Module hold only strings, numbers, lists and str enums, which dump the same "
                    "in pydantic's python mode (its answer to any mode but 'json') as in JSON mode"),
    **dict.fromkeys([f"creditflow.recognition.domain.x__module_result__mutmut_{n}" for n in (43, 46, 47)],
                    "no element adds a 'granted' verdict, so a granted module's reasons() is empty either way"),
    **dict.fromkeys([f"creditflow.recognition.domain.x__assess__mutmut_{n}" for n in (185, 187, 188)],
                    "a granted precedent adding the verdict 'granted' changes nothing: it is the least severe verdict, "
                    "and a granted module states no reasons"),
    "creditflow.recognition.outcomes.x_text_similarity__mutmut_4": "with one side empty and the other not, the "
                                                                   "Dice score 2 x 0 / n is 0.0 anyway",
    "creditflow.stacking.domain.x_grade_reason__mutmut_9": "an absent grade read as '' or as 'XXXX' is not 'pass' "
                                                           "either way",
    "creditflow.learner_record.domain.x_reverified__mutmut_36": "a verified Verdict never carries reasons "
                                                                  "(check_credential returns Verdict(not reasons, "
                                                                  "reasons)), so [] and list(reasons) are equal",
    **dict.fromkeys([f"creditflow.learner_record.domain.x_empty__mutmut_{n}" for n in (1, 3, 4)],
                    "an empty record holds nothing whose JSON form differs from its Python form"),
    "creditflow.credentials.verify.x__judge__mutmut_3": "every resolver answers None for an empty reference (a "
                                                        "registered kid is never empty): asking costs one lookup, "
                                                        "changes no answer",
    "creditflow.credentials.verify.x_verify__mutmut_32": "_instant reads every falsy validUntil (absent, '', 0) as "
                                                         "no date-time too: str() of it is no ISO date",
    **dict.fromkeys([f"creditflow.credentials.data_integrity.x__root_cause__mutmut_{n}" for n in (3, 8, 9)],
                    "the pyld the project installs chains causes through __cause__ only; its cause attribute is "
                    "always None"),
    "creditflow.credentials.data_integrity.x_canonical__mutmut_21": "every root cause (pyld's JsonLdError, the "
                                                                    "loader's UnknownContext) carries its message "
                                                                    "as args[0]",
}

# Functions of a listed module that are not pure: HTTP adapters, exercised by the integration and end-to-end tests
# against the real services, not by unit tests. Their mutants are counted apart ("not pure"), not as killed.
NOT_PURE: dict[str, str] = {
    "creditflow.credentials.verify.x_platform_key_resolver__": "fetches the platform's key over HTTP",
    "creditflow.credentials.verify.x_http_status_fetcher__": "fetches status lists over HTTP",
}

CONFTEST = '''"""Written by deploy/local/mutation.py: the same examples every run, and no shrinking (a failure is all we need)."""
from hypothesis import Phase, settings

settings.register_profile("mutation", derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("mutation")
'''


def scratch(module: str) -> Path:
    return SCRATCH / Path(module).with_suffix("").as_posix().replace("/", ".")


def copy_tests(module: str) -> list[str]:
    here = scratch(module)
    (here / "tests").mkdir(exist_ok=True)
    for path in [*MODULES[module], *HELPERS]:
        shutil.copy2(REPO / path, here / "tests" / Path(path).name)
    for folder in TEST_DATA:
        shutil.copytree(REPO / folder, here / "tests" / Path(folder).name, dirs_exist_ok=True)
    (here / "tests" / "conftest.py").write_text(CONFTEST)
    # mutmut's copy of the tests, and which test reaches which function, are refreshed from these.
    shutil.rmtree(here / "mutants" / "tests", ignore_errors=True)
    (here / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    return MODULES[module]


def lay_out(module: str) -> None:
    here = scratch(module)
    shutil.rmtree(here, ignore_errors=True)
    (here / "src").mkdir(parents=True)
    for package in PACKAGES:
        shutil.copytree(REPO / package / "src", here / "src", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    selection = ", ".join(json.dumps(f"tests/{Path(t).name}") for t in copy_tests(module))
    (here / "pyproject.toml").write_text(f"""[tool.mutmut]
source_paths = ["src"]
only_mutate = [{json.dumps(f"src/{module}")}]
pytest_add_cli_args_test_selection = [{selection}]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]

[tool.pytest.ini_options]
testpaths = ["tests"]
asyncio_mode = "auto"
""")


def results(module: str) -> dict[str, int | None]:
    meta = scratch(module) / "mutants" / "src" / (module + ".meta")
    return json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}


def not_killed(module: str) -> list[str]:
    """The mutants of the module's last run that no test killed yet (survived, unchecked, no tests, timed out)."""
    return sorted(n for n, code in results(module).items() if code not in (1, 3))


def report(modules: list[str]) -> int:
    """Per module: killed, survived (not listed as equivalent), equivalent, and any other status; the survivors."""
    status_of = {1: "killed", 3: "killed", 0: "survived", 33: "no tests", 5: "no tests", 36: "timeout",
                 -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}
    worst = 0
    print(f"\n{'module':40} {'killed':>7} {'survived':>9} {'equivalent':>11} {'other':>6} {'not pure':>9} {'killed %':>9}")
    survivors: list[str] = []
    for module in modules:
        counts: Counter[str] = Counter()
        for name, code in sorted(results(module).items()):
            status = status_of.get(code, "suspicious")
            if status == "survived" and name in EQUIVALENT:
                status = "equivalent"
            if status != "killed" and any(name.startswith(prefix) for prefix in NOT_PURE):
                status = "not pure"
            counts[status] += 1
            if status in ("survived", "no tests", "timeout", "suspicious", "not checked"):
                survivors.append(f"{scratch(module).name}: {name}: {status}")
        other = (sum(counts.values()) - counts["killed"] - counts["survived"] - counts["equivalent"]
                 - counts["not pure"])
        real = counts["killed"] + counts["survived"] + other
        share = 100.0 * counts["killed"] / real if real else 100.0
        if share < 90 or not counts:
            worst = 1
        print(f"{module:40} {counts['killed']:7} {counts['survived']:9} {counts['equivalent']:11} {other:6} "
              f"{counts['not pure']:9} " + (f"{share:8.1f}%" if counts else " not run"))
    if survivors:
        print("\nnot killed (see one with `cd .mutation/FOLDER && ../../.venv/bin/mutmut show NAME`):")
        print("\n".join("  " + s for s in survivors))
    return worst


def main() -> int:
    if {"-h", "--help"} & set(sys.argv[1:]):  # not a run: an unknown flag is otherwise ignored, running every module
        print(__doc__)
        return 0
    chosen = [a for a in sys.argv[1:] if not a.startswith("--")] or list(MODULES)  # a subset of MODULES, by path
    unknown = set(chosen) - set(MODULES)
    if unknown:
        sys.exit(f"not in MODULES: {', '.join(sorted(unknown))}")
    if "--report" not in sys.argv:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        mutmut = str(Path(sys.executable).with_name("mutmut"))
        for module in chosen:
            started = time.monotonic()
            # --again: keep the last run's mutants and results, and run those not killed yet against the unit tests
            # as they are now (after adding tests for survivors); the source must be unchanged since that run.
            names = not_killed(module) if "--again" in sys.argv and results(module) else []
            # --only=GLOB (repeatable): a fresh run of just the mutants whose names match, e.g. one function's
            # (`--only='*x__apply_allowance__mutmut_*'`); the others stay "not checked".
            only = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")]
            if names:
                copy_tests(module)
            elif "--again" in sys.argv and results(module):
                continue  # every mutant of the last run was killed
            else:
                lay_out(module)
            subprocess.run(["nice", "-n", "19", mutmut, "run", "--max-children", "1", *(names or only)],
                           cwd=scratch(module),
                           env=env, check=False)
            print(f"\n{module}: mutation run took {time.monotonic() - started:.0f} s", flush=True)
    code = report(chosen)
    print("\ntarget: at least 90 % of the non-equivalent mutants killed in each module")
    return code


if __name__ == "__main__":
    sys.exit(main())
