"""``fetch/resume.plan_resume`` (bits per source, rows streamed) decides what the per-row rules
decided: done by archive (with repair when the manifest lost the row), done by manifest, skipped
permanent failures, and everything else kept; the archive's last row of a source wins."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from avdata.fetch import resume
from avdata.fetch.archive import DownloadArchive
from avdata.fetch.resume import is_done, plan_resume
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA, MANIFEST_KEYS, STOP_CLASSES
from avdata.manifest import ManifestWriter

URI = "https://example.invalid/{id}.mp4"


def _row(source: str, status: str, **kw: object) -> dict:
    base = {k: None for k in FETCH_MANIFEST_SCHEMA.names}
    base.update(source=source, source_kind="youtube", status=status, source_uri=URI)
    base.update(kw)
    return base


def reference(sources: list[str], prev: dict[str, dict], arch: dict[str, dict], out: Path,
              skip_failures: bool) -> tuple[list[bool], int, int, list[dict]]:
    """The per-row loop fetch() ran before (kept as the oracle)."""
    keep, done, failed, repair = [], 0, 0, []
    for s in sources:
        p, a = prev.get(s), arch.get(s)
        if is_done(a, out):
            done += 1
            if not is_done(p, out) or bool(p.get("deleted")) != bool(a.get("deleted")):
                repair.append(a)
            keep.append(False)
        elif is_done(p, out):
            done += 1
            keep.append(False)
        elif (p and p.get("status") not in ("ok", *STOP_CLASSES)
              and p.get("transient") is False and p.get("source_uri") == URI and skip_failures):
            failed += 1
            keep.append(False)
        else:
            keep.append(True)
    return keep, done, failed, repair


@pytest.mark.parametrize("seed", range(4))
def test_plan_resume_equals_the_per_row_rules(tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resume, "BATCH_ROWS", 7)          # several batches of rows and archive lines
    rng = np.random.default_rng(seed)
    out = tmp_path / "out"
    out.mkdir()
    sources = [f"s{i:03d}" for i in range(120)]
    prev: dict[str, dict] = {}
    with ManifestWriter(out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA, keys=MANIFEST_KEYS) as w:
        for s in sources + [f"other{i}" for i in range(5)]:
            for _ in range(int(rng.integers(0, 3))):       # 0-2 rows; the last one counts
                kind = rng.choice(["ok", "ok_gone", "deleted", "http_404", "timeout", "perm_other_uri"])
                if kind in ("ok", "ok_gone"):
                    r = _row(s, "ok", path=f"v/{s}.mp4")
                    if kind == "ok":
                        (out / "v").mkdir(exist_ok=True)
                        (out / "v" / f"{s}.mp4").write_bytes(b"x")
                elif kind == "deleted":
                    r = _row(s, "ok", path=f"v/{s}.mp4", deleted=True)
                elif kind == "http_404":
                    r = _row(s, "http_404", transient=False)
                elif kind == "timeout":
                    r = _row(s, "timeout", transient=True)
                else:
                    r = _row(s, "http_404", transient=False, source_uri="dir:/elsewhere")
                w.write_many([r])
                prev[s] = r
    archive = DownloadArchive(out / "fetch_archive.jsonl")
    arch: dict[str, dict] = {}
    lines = []
    for s in rng.permutation(sources + ["unplanned"]).tolist() * 2:
        if rng.random() < 0.4:
            r = _row(s, "ok", path=f"v/{s}.mp4", deleted=bool(rng.random() < 0.3))
            lines.append(json.dumps(r))
            arch[s] = r
    lines.insert(3, '{"torn": ')                              # a torn line is skipped
    (out / "fetch_archive.jsonl").write_text("\n".join(lines) + "\n")
    for skip in (True, False):
        plan = plan_resume(pa.array(sources), out / "fetch_manifest.parquet", archive, out, URI, skip)
        keep, done, failed, repair = reference(sources, prev, arch, out, skip)
        assert plan.keep.tolist() == keep
        assert (plan.skipped_done, plan.skipped_failed) == (done, failed)
        got = [r for rows in plan.repair_rows() for r in rows]
        assert sorted(got, key=lambda r: r["source"]) == sorted(repair, key=lambda r: r["source"])
        assert len(got) == len(repair)
