"""The operator clock: the time the rules that depend on time read, movable for rehearsals and demos.

Recognition (the four-month decision deadline, the overdue sweep, the policy and programme versions in force,
recency limits) and stacking (recency windows, programme versions) read the time from here. An operator rehearsing
deadlines moves it with CREDITFLOW_CLOCK_OFFSET (fixed at start-up) or CREDITFLOW_CLOCK_FILE (a file holding an
offset, re-read when it changes, so a running stack can be moved). Either is refused unless CREDITFLOW_ENV is
`development`: a production stack always runs on the real time.

What is never moved: authentication (token expiry, TLS) and what the issuer signs (dates inside credentials), because
a moved clock there would accept expired tokens or put false dates into signed credentials.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ENVIRONMENT_VARIABLE = "CREDITFLOW_ENV"
OFFSET_VARIABLE = "CREDITFLOW_CLOCK_OFFSET"
FILE_VARIABLE = "CREDITFLOW_CLOCK_FILE"
ENVIRONMENTS = ("production", "development")

_OFFSET = re.compile(r"^(?P<sign>[+-]?)(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}



def _log():  # structlog only once a clock runs: settings (and so the CLI) import this module
    from .logging import get_logger

    return get_logger("creditflow.clock")


def parse_offset(text: str) -> timedelta:
    """`+125d`, `-2h30m`, `90s`, `0`: how far to move the clock. Raises ValueError naming the accepted form."""
    text = text.strip()
    found = _OFFSET.match(text)
    if text != "0" and (found is None or not any(found.group(unit) for unit in _UNITS)):
        raise ValueError(f"{text!r} is not an offset: write a sign and days, hours, minutes, seconds, "
                         "e.g. +125d, -2h30m, +90s, or 0")
    if text == "0":
        return timedelta(0)
    seconds = sum(int(found.group(unit) or 0) * factor for unit, factor in _UNITS.items())
    return timedelta(seconds=-seconds if found.group("sign") == "-" else seconds)


def format_offset(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    if seconds == 0:
        return "0"
    sign, rest = ("-" if seconds < 0 else "+"), abs(seconds)
    parts = []
    for unit, factor in _UNITS.items():
        amount, rest = divmod(rest, factor)
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + "".join(parts)


def check_moved_clock(environment: str, variable: str) -> None:
    """Raise ValueError when a moved clock is asked for outside development."""
    if environment != "development":
        raise ValueError(f"a moved clock is refused in {environment} ({ENVIRONMENT_VARIABLE}={environment}); "
                         f"unset {variable}, or run a rehearsal or demo stack with {ENVIRONMENT_VARIABLE}=development")


class OperatorClock:
    """Real time plus the operator's offset: the offset from the clock file when it exists, else the fixed one."""

    def __init__(self, offset: timedelta = timedelta(0), file: Path | None = None,
                 real: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.fixed, self.file, self.real = offset, file, real
        self._seen: tuple[int, timedelta] | None = None  # (file's mtime_ns, its offset)

    def offset(self) -> timedelta:
        if self.file is None:
            return self.fixed
        try:
            mtime = self.file.stat().st_mtime_ns
        except FileNotFoundError:
            if self._seen is not None:
                _log().warning("operator clock back to its start-up offset", file=str(self.file),
                            offset=format_offset(self.fixed))
                self._seen = None
            return self.fixed
        if self._seen is None or self._seen[0] != mtime:
            try:
                moved = parse_offset(self.file.read_text())
            except ValueError as exc:  # a bad edit keeps the clock where it was, and says why
                _log().error("operator clock file not read; the clock stays where it was", file=str(self.file),
                          reason=str(exc))
                moved = self._seen[1] if self._seen else self.fixed
            else:
                _log().warning("operator clock moved", file=str(self.file), offset=format_offset(moved),
                            now=(self.real() + moved).isoformat())
            self._seen = (mtime, moved)
        return self._seen[1]

    def __call__(self) -> datetime:
        return self.real() + self.offset()

    def describe(self) -> dict[str, str]:
        """For the start-up log."""
        return {"clock_offset": format_offset(self.offset()),
                **({"clock_file": str(self.file)} if self.file is not None else {})}
