"""Child processes of the test run: started so that none outlives it.

No Python runs between ``fork`` and ``exec`` (``preexec_fn`` can deadlock a multi-threaded
parent, as the Python docs warn): the parent-death signal is set by util-linux's ``setpriv``,
which then execs the real command.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence

SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"


def die_with_parent(args: Sequence[str]) -> list[str]:
    """``args`` prefixed so that the process gets SIGKILL when the test process dies without its
    teardown (the signal follows the process across ``exec``)."""
    return [SETPRIV, "--pdeathsig", "KILL", "--", *args]
