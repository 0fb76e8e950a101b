"""Processes a test run left behind: the process table after the suite against the one before.

scripts/test.sh exports ``OPENREACTOR_TEST_RUN=<unique mark>`` before pytest; every process the
suite starts (servers, workers, redis, chromium, node, ...) inherits it. After the suite,

    python3 scripts/leftover_processes.py check BEFORE_FILE

lists the processes that carry the mark and were not in the table before (``snapshot`` wrote
it), gives them a moment to finish exiting, then prints them, kills them and exits 1. Other jobs
on the machine carry no mark and are left alone. Only the standard library: it runs before and
after any venv exists.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

GRACE_S = 10.0
"""Processes told to stop by a test's last teardown may still be exiting."""


def table() -> dict[int, str]:
    """``pid -> command line`` of every process we can read."""
    procs: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        procs[int(entry.name)] = args or f"[{(entry / 'comm').read_text().strip()}]"
    return procs


def ancestors() -> set[int]:
    """This process and its parents: the shell running the suite carries the mark too."""
    found: set[int] = set()
    pid = os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def marked(mark: str, before: set[int]) -> dict[int, str]:
    needle = f"OPENREACTOR_TEST_RUN={mark}".encode()
    skip = ancestors()
    found: dict[int, str] = {}
    for pid, args in table().items():
        if pid in before or pid in skip:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found[pid] = args
    return found


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("snapshot", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(sys.argv[2])
    if sys.argv[1] == "snapshot":
        path.write_text("\n".join(str(pid) for pid in table()))
        return 0
    mark = os.environ.get("OPENREACTOR_TEST_RUN")
    if not mark:
        print("leftover_processes: OPENREACTOR_TEST_RUN is not set", file=sys.stderr)
        return 2
    before = {int(line) for line in path.read_text().split()}
    deadline = time.monotonic() + GRACE_S
    left = marked(mark, before)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = marked(mark, before)
    after = table()
    print(f"process table: {len(before)} before the suite, {len(after)} after; {len(left)} left by it")
    if not left:
        return 0
    for pid, args in sorted(left.items()):
        print(f"  LEFT BEHIND pid {pid}: {args[:300]}")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return 1


if __name__ == "__main__":
    sys.exit(main())
