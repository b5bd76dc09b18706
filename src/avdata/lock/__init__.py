"""``avdata lock`` / ``lock --check`` / ``diff``: an exact, checkable record of what was built.

``run_lock`` writes the lock (``format``: header, one line per clip, a sealing trailer),
``check_lock`` verifies a built set against it, ``diff_locks`` compares two builds per split.
"""

from avdata.lock.check import CheckResult, check_lock
from avdata.lock.diff import LockDiff, diff_locks
from avdata.lock.format import LockError
from avdata.lock.write import LockOptions, LockResult, run_lock

__all__ = ["CheckResult", "LockDiff", "LockError", "LockOptions", "LockResult", "check_lock", "diff_locks",
           "run_lock"]
