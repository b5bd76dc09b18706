"""``avdata index`` media checks on the ``ray`` executor write the same files as the local pool."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

from avdata.index import IndexOptions, build_index  # noqa: E402
from avdata.index.build import CHECKS_DIR, CHECKS_KEYS, CHECKS_SCHEMA  # noqa: E402
from avdata.manifest import latest, read_manifest  # noqa: E402


def _checks(out: Path) -> list[dict]:
    rows = latest(read_manifest(out / CHECKS_DIR, CHECKS_SCHEMA), list(CHECKS_KEYS)).to_pylist()
    drop = {"_seq", "mtimes_ns"}
    return sorted(({k: v for k, v in r.items() if k not in drop} for r in rows), key=lambda r: str(r))


@pytest.mark.slow
def test_index_on_ray_equals_local(ray_session: None, example, tmp_path: Path) -> None:
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    a = build_index(IndexOptions(example.clips, example.manifest, example.media, local, workers=2))
    b = build_index(IndexOptions(example.clips, example.manifest, example.media, on_ray, workers=2,
                                 executor="ray"))
    assert a.listed == b.listed and a.excluded == b.excluded
    files = sorted(p.name for p in local.iterdir() if p.is_file())
    assert files and files == sorted(p.name for p in on_ray.iterdir() if p.is_file())
    for name in files:
        if name == "index_summary.json":      # records the options, executor included
            continue
        assert (local / name).read_bytes() == (on_ray / name).read_bytes(), name
    assert _checks(local) == _checks(on_ray)
