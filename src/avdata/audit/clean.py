"""``avdata audit --clean DIR``: the index files again, without the flagged clips.

Removed: still, silent and short clips; in a duplicate group, every clip but one id (the first in
input order; in a leak, the first on the evaluation side, and the whole training side goes). Lines
that could not be measured stay (nothing is known against them). Kept lines are copied byte for
byte, in order, LF-terminated as the index stage writes them; each file gets its weights file
(``{stem}_weight.csv``) computed again on what remains, as ``avdata weights`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from avdata.atomic import atomic_path
from avdata.errors import OutputError
from avdata.index.lines import iter_raw_lines
from avdata.pathcheck import _same
from avdata.weights.files import WeightsOptions, weights_path_for, write_weights
from avdata.weights.schemes import DEFAULT_SCHEME

if TYPE_CHECKING:
    from avdata.audit.run import AuditOptions


def removed_rows(table: pa.Table) -> np.ndarray:
    """Which rows of an audit's clips table ``--clean`` leaves out."""
    n = table.num_rows
    flagged = np.zeros(n, dtype=bool)
    for flag in ("still", "silent", "short"):
        flagged |= table.column(flag).fill_null(False).to_numpy(zero_copy_only=False)
    group = table.column("dup_group").fill_null(-1).to_numpy(zero_copy_only=False)
    leak = table.column("leak").to_numpy(zero_copy_only=False)
    ids = np.array(table.column("id").to_pylist(), dtype=object)
    train = np.array(["train" in s for s in table.column("split").to_pylist()], dtype=bool)
    rows = np.flatnonzero(group >= 0)
    if not len(rows):
        return flagged
    order = np.argsort(group[rows], kind="stable")
    rows = rows[order]
    bounds = np.r_[0, np.flatnonzero(np.diff(group[rows])) + 1, len(rows)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        members = rows[a:b]
        if leak[members[0]]:
            flagged[members[train[members]]] = True
            members = members[~train[members]]
        kept = ids[members[0]]
        flagged[members[ids[members] != kept]] = True
    return flagged


def check_clean_folder(paths: list[Path], folder: Path) -> list[Path]:
    """The files ``--clean`` will write (index and weights files), or OutputError when one of them
    is an input (checked before any work)."""
    targets = [folder / p.name for p in paths]
    written = targets + [weights_path_for(t) for t in targets]
    for target in written:
        for inp in paths:
            if target.exists() and _same(target, inp):
                raise OutputError(f"--clean {folder}: {target.name} would overwrite the input {inp}; choose "
                                  "another folder")
    if len({t.name for t in targets}) < len(targets):
        raise OutputError(f"--clean {folder}: two index files share a name; clean them in separate runs")
    return targets


def write_clean(opts: AuditOptions, paths: list[Path], table: pa.Table, folder: Path) -> dict[str, int]:
    """Write the kept lines of every index file and their weights under ``folder``; lines kept per file."""
    targets = check_clean_folder(paths, folder)
    folder.mkdir(parents=True, exist_ok=True)
    drop = removed_rows(table)
    start, kept = 0, {}
    for path, target in zip(paths, targets):
        count = seen = 0
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            for raw in iter_raw_lines(path):
                if not drop[start + seen]:
                    fh.write(raw + b"\n")
                    count += 1
                seen += 1
        start += seen
        kept[str(target)] = count
        write_weights(WeightsOptions(index=target, scheme=opts.weights_scheme or DEFAULT_SCHEME,
                                     out=weights_path_for(target)))
    return kept
