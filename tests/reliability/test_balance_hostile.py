"""``avdata balance`` (and the index readers it shares with report and weights) on hostile input
(issue 25, defects 2, 5, 6, 7, 10, 11, 15, 17): resume keyed on the vectors' bytes, no manifest
growth, non-finite vectors named, one error contract for index lines, option values checked before
anything is written, temporaries swept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avdata.atomic import TEMP_PREFIX
from avdata.balance import run as balance_run
from avdata.balance.embeddings import read_index_ids
from avdata.balance.run import BalanceOptions, run_balance
from avdata.balance.search import SearchOptions
from avdata.errors import InputFormatError, OptionError
from avdata.index.lines import split_lines
from avdata.index.scan import scan_index
from avdata.manifest import read_manifest
from reliability_helpers import avdata, tree_digest


def _opts(d: Path, out: Path, **kw) -> BalanceOptions:
    return BalanceOptions(seeds=d / "index" / "src_balanced_train_segments.csv", seed_emb=d / "balance" / "emb_seeds",
                          pool=d / "index" / "src_eval_segments.csv", pool_emb=d / "balance" / "emb_pool",
                          out=out, k=4, report=False, progress=False, **kw)


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def test_resume_depends_on_the_vectors_not_on_meta(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = demo_copy
    out = d / "knn_resumed"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(balance_run, "_write_outputs", killed)
    with pytest.raises(KeyboardInterrupt):
        run_balance(_opts(d, out, search=SearchOptions(seed_block=2)))
    monkeypatch.undo()
    assert list((out / balance_run.BLOCKS_DIR).rglob("block-*.npz"))       # finished blocks kept
    # the pool's vectors replaced (same meta.json, same shape): the kept blocks no longer hold
    pool = d / "balance" / "emb_pool" / "embeddings.npy"
    old = np.load(pool)
    new = np.random.default_rng(5).standard_normal(old.shape).astype(old.dtype)
    np.save(pool, new / np.linalg.norm(new, axis=1, keepdims=True))
    run_balance(_opts(d, out, search=SearchOptions(seed_block=2)))
    fresh = d / "knn_fresh"
    run_balance(_opts(d, fresh, search=SearchOptions(seed_block=2)))
    assert _outputs(out)["knn_top4.jsonl"] == _outputs(fresh)["knn_top4.jsonl"]
    assert not (out / balance_run.BLOCKS_DIR).exists()


def test_three_reruns_keep_the_same_manifest_and_outputs(demo_copy: Path) -> None:
    out = demo_copy / "knn_again"
    sizes, files = [], []
    for _ in range(3):
        run_balance(_opts(demo_copy, out))
        sizes.append(read_manifest(out / balance_run.MANIFEST_DIR).num_rows)
        files.append(_outputs(out))
    assert sizes[0] == sizes[1] == sizes[2] == len(read_index_ids(_opts(demo_copy, out).seeds).ids)
    assert files[0] == files[1] == files[2]


def _poison(emb_dir: Path, row: int, value: float) -> None:
    path = emb_dir / "embeddings.npy"
    m = np.load(path)
    m[row, 0] = value
    np.save(path, m)


@pytest.mark.parametrize("ann", ["exact", "flat", "ivf"])
def test_non_finite_vectors_are_named_and_skipped(demo_copy: Path, ann: str) -> None:
    if ann != "exact":
        pytest.importorskip("faiss")
    d = demo_copy
    _poison(d / "balance" / "emb_seeds", 1, np.nan)
    _poison(d / "balance" / "emb_pool", 2, np.inf)
    res = run_balance(_opts(d, d / "knn", search=SearchOptions(ann=ann)))
    seeds, pool = _opts(d, d).seeds, _opts(d, d).pool
    assert any(s.startswith(f"{seeds}:2: seed ") and "NaN or infinity" in s for s in res.skipped)
    assert any(s.startswith(f"{pool}:3: pool sample ") and "NaN or infinity" in s for s in res.skipped)
    knn = [json.loads(x) for x in (d / "knn" / "knn_top4.jsonl").read_text().splitlines()]
    pool_ids = read_index_ids(pool).ids
    chosen = {n for rec in knn for ns in rec.values() for n, _ in ns}
    assert pool_ids[2] not in chosen and all(np.isfinite(s) for rec in knn for ns in rec.values() for _, s in ns)
    rows = read_manifest(d / "knn" / balance_run.MANIFEST_DIR).to_pylist()
    assert [r["error"] for r in rows if r["line"] == 2] == ["non_finite_embedding"]
    assert "ivf (" not in "\n".join(res.lines()) or ann == "ivf"          # defect 15: no ivf line for flat


def _embed(d: Path, index: Path, out: Path) -> None:
    r = avdata("embed", str(index), "--media", str(d / "media"), "-o", str(out), "--workers", "1")
    assert r.returncode in (0, 1), r.stderr


@pytest.mark.slow
def test_odd_index_lines_cost_their_line_in_balance_report_and_weights(demo_copy: Path) -> None:
    d = demo_copy
    lines = (d / "index" / "src_balanced_train_segments.csv").read_bytes().split(b"\n")[:-1]
    lines[0] = b"\xef\xbb\xbf" + lines[0]                        # a BOM: read as the same line
    lines[1] = lines[1] + b"\r"                                    # a CR: read as the same line
    lines[2] = lines[2].replace(b'"labels": [', b'"labels": "x", "was": [')     # labels not a list
    lines[3] = lines[3].replace(b'"id": "', b'"id": "\xff')       # not UTF-8
    seeds = d / "odd_seeds.csv"
    seeds.write_bytes(b"\n".join(lines) + b"\n")
    _embed(d, seeds, d / "odd_emb")
    r = avdata("balance", "--seeds", str(seeds), "--seed-emb", str(d / "odd_emb"), "--pool",
               str(d / "index" / "src_eval_segments.csv"), "--pool-emb", str(d / "balance" / "emb_pool"), "-k", "4",
               "-o", str(d / "knn_odd"), "--no-report")
    assert r.returncode == 1, r.stderr
    err = r.stderr.splitlines()
    assert any(x.startswith(f"error: {seeds}:3: 'labels' must be a list") for x in err), err
    assert any(x.startswith(f"error: {seeds}:4: line is not valid UTF-8") for x in err), err
    assert not any(f"{seeds}:1:" in x or f"{seeds}:2:" in x for x in err)
    knn = [json.loads(x) for x in (d / "knn_odd" / "knn_top4.jsonl").read_text().splitlines()]
    assert len(knn) == len(lines) - 2
    for command in (["report", str(seeds), "--out", str(d / "rep_odd")], ["weights", str(seeds)]):
        r = avdata(*command)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert f"{seeds}:3: 'labels' must be a list" in r.stderr and f"{seeds}:4: line is not valid UTF-8" in r.stderr
    weights = (d / "odd_seeds_weight.csv").read_text().split()
    assert len(weights) == len(lines) and weights[2] == weights[3] == "0.0" and float(weights[0]) > 0


def test_report_names_the_line_of_an_unsafe_dir(demo_copy: Path) -> None:
    index = demo_copy / "index" / "src_eval_segments.csv"
    rows = index.read_text().splitlines()
    rows = [rows[0].replace('"dir": "all_0_35000"', '"dir": "../../etc"')] + rows[1:]
    bad = demo_copy / "unsafe.csv"
    bad.write_text("\n".join(rows) + "\n")
    r = avdata("report", str(bad), "--out", str(demo_copy / "rep"), "--media", str(demo_copy / "media"))
    assert r.returncode == 1 and f"{bad}:1:" in r.stderr and "'..' not allowed" in r.stderr, r.stderr
    assert (demo_copy / "rep" / "report.html").is_file()


@pytest.mark.parametrize("damage", ["empty", "truncated", "list_meta"])
def test_a_damaged_embeddings_folder_is_one_line_exit_3_and_nothing_written(demo_copy: Path, damage: str) -> None:
    d = demo_copy
    emb = d / "balance" / "emb_pool"
    if damage == "empty":
        (emb / "embeddings.npy").write_bytes(b"")
    elif damage == "truncated":
        data = (emb / "embeddings.npy").read_bytes()
        (emb / "embeddings.npy").write_bytes(data[: len(data) - 100])
    else:
        (emb / "meta.json").write_text("[1, 2]\n")
    o = _opts(d, d / "knn_x")
    before = tree_digest(d)
    r = avdata("balance", "--seeds", str(o.seeds), "--seed-emb", str(o.seed_emb), "--pool", str(o.pool),
               "--pool-emb", str(o.pool_emb), "-k", "4", "-o", str(o.out))
    assert r.returncode == 3 and "aborted" not in r.stderr, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("avdata: error: ") and str(emb) in line and "internal error" not in line
    assert tree_digest(d) == before and not o.out.exists()


@pytest.mark.parametrize("argv, says", [
    (["--seed", "-1"], "--seed"), (["--ann", "ivf", "--nprobe", "-1"], "--nprobe"),
    (["--ann", "ivf", "--nlist", "0"], "--nlist"), (["--target-recall", "2"], "--target-recall"),
])
def test_option_values_are_usage_errors_before_anything_is_written(demo_copy: Path, argv: list[str],
                                                                   says: str) -> None:
    o = _opts(demo_copy, demo_copy / "knn_opt")
    r = avdata("balance", "--seeds", str(o.seeds), "--seed-emb", str(o.seed_emb), "--pool", str(o.pool),
               "--pool-emb", str(o.pool_emb), "-o", str(o.out), *argv)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr
    assert not o.out.exists()


def test_the_python_api_checks_the_same_values() -> None:
    for kw in ({"seed": -1}, {"nprobe": -1}, {"nlist": 0}, {"target_recall": 0.0}):
        with pytest.raises(OptionError):
            SearchOptions(**kw)


def test_a_good_rerun_sweeps_temporaries_of_a_dead_run(demo_copy: Path) -> None:
    out = demo_copy / "knn_sweep"
    run_balance(_opts(demo_copy, out))
    dead = 2 ** 22 + 12345          # above pid_max: no such process
    leftover = out / f"{TEMP_PREFIX}{dead}-0123abcd-src_knn_top4_segments.csv"
    leftover.write_text("partial")
    mine = out / "notes.txt"
    mine.write_text("the user's")
    run_balance(_opts(demo_copy, out))
    assert not leftover.exists() and mine.read_text() == "the user's"


# -- property: the index readers of balance and report on any bytes --------------------------------

GOOD = b'{"id": "a", "labels": ["/m/09x0r"], "bos": "0.000", "eos": "10.000", "frame": [], "aclip": []}'
piece = st.one_of(st.just(GOOD), st.binary(max_size=40), st.just(b"\xef\xbb\xbf" + GOOD), st.just(GOOD + b"\r"),
                  st.builds(lambda v: json.dumps({"id": v, "labels": v, "bos": v}).encode(),
                            st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(piece, max_size=8), end=st.sampled_from([b"", b"\n"]))
def test_index_readers_take_any_bytes_line_by_line(tmp_path: Path, parts: list[bytes], end: bytes) -> None:
    path = tmp_path / "any.csv"
    data = b"\n".join(parts) + end
    path.write_bytes(data)
    n = len(split_lines(data))
    ids = read_index_ids(path)                 # never raises for a bad line
    scan = scan_index(path)
    assert ids.lines == scan.lines == n
    for bad in (ids.bad, scan.bad):
        for i, why in bad.items():
            assert why.startswith(f"{path}:{i + 1}: ")
    good = {GOOD, b"\xef\xbb\xbf" + GOOD}
    for i, raw in enumerate(split_lines(data)):
        if raw in good:
            assert ids.ids[i] == "a" and i not in ids.bad and i not in scan.bad


def test_an_unreadable_index_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="cannot read index file"):
        read_index_ids(tmp_path / "nothere.csv")
