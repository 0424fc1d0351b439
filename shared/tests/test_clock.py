"""The operator clock: offsets as operators write them, a file that moves a running stack, and production refusing
any moved clock at start-up with the variable named."""

import os
from datetime import UTC, datetime, timedelta

import pytest

from creditflow.runtime.clock import OperatorClock, format_offset, parse_offset
from creditflow.runtime.settings import Settings

REAL = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "offset"), [
    ("+125d", timedelta(days=125)), ("-2h30m", -timedelta(hours=2, minutes=30)), ("90s", timedelta(seconds=90)),
    ("0", timedelta(0)), (" +1d12h\n", timedelta(days=1, hours=12)),
])
def test_offsets_read_as_operators_write_them_and_print_back(text, offset):
    assert parse_offset(text) == offset
    assert parse_offset(format_offset(offset)) == offset


@pytest.mark.parametrize("text", ["", "+", "4 months", "+12x", "1.5d"])
def test_a_malformed_offset_is_refused_with_the_accepted_form(text):
    with pytest.raises(ValueError, match="e.g. \\+125d"):
        parse_offset(text)


def test_the_clock_file_moves_a_running_clock_and_removing_it_moves_it_back(tmp_path):
    file = tmp_path / "clock"
    clock = OperatorClock(timedelta(hours=1), file, real=lambda: REAL)
    assert clock() == REAL + timedelta(hours=1)  # no file: the start-up offset
    file.write_text("+125d\n")
    assert clock() == REAL + timedelta(days=125)
    file.write_text("next tuesday")
    os.utime(file, ns=(1, 1))  # a new modification time, as any edit gives it
    assert clock() == REAL + timedelta(days=125), "a bad edit keeps the clock where it was"
    file.unlink()
    assert clock() == REAL + timedelta(hours=1)


@pytest.mark.parametrize("variable", ["CREDITFLOW_CLOCK_OFFSET", "CREDITFLOW_CLOCK_FILE"])
def test_production_refuses_a_moved_clock_naming_the_variable(variable):
    env = {variable: "+125d"}  # CREDITFLOW_ENV unset is production
    with pytest.raises(SystemExit, match=f"{variable}: .*refused in production.*CREDITFLOW_ENV=development"):
        Settings.from_env("recognition", 8103, env)
    moved = Settings.from_env("recognition", 8103, {**env, "CREDITFLOW_ENV": "development"})
    assert moved.environment == "development"


def test_an_unknown_environment_is_refused():
    with pytest.raises(SystemExit, match="CREDITFLOW_ENV"):
        Settings.from_env("recognition", 8103, {"CREDITFLOW_ENV": "staging"})
