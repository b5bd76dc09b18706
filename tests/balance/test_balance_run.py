"""``avdata balance`` end to end on written embeddings: VIP-ANT's filter reader gets what the search
found; refused inputs; duplicates and failed lines are handled and counted."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from avdata.balance.embeddings import EmbeddingsMismatchError
from avdata.balance.search import SearchOptions
from avdata.balance.run import MANIFEST_DIR, BALANCE_MANIFEST_SCHEMA, BalanceOptions, run_balance
from avdata.cli.main import EXIT_FATAL, EXIT_OK, EXIT_SKIPPED, main
from avdata.errors import MissingExtraError
from avdata.weights import read_weights
from avdata.manifest import latest, read_manifest
from emb_dirs import filter_set, write_embeddings, write_index, yt_ids

LABELS = ["/m/09x0r", "/m/04rlf", "/m/0jbk", "/m/068hy", "/m/07yv9"]
K = 30


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return int(e.value.code)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """60 seeds and a pool of 3000 in 5 clusters = 5 labels; the pool is mostly label 0 (Speech)."""
    d = tmp_path_factory.mktemp("balance")
    rng = np.random.default_rng(3)
    s_cls = np.arange(60) % 5
    centres = np.random.default_rng(3).standard_normal((5, 32)).astype(np.float32)
    pool_cls = np.where(rng.random(3000) < 0.7, 0, rng.integers(1, 5, 3000))
    noise = lambda n: 0.6 * rng.standard_normal((n, 32)).astype(np.float32) / np.sqrt(32)  # noqa: E731
    unit = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    seeds = (unit[s_cls] + noise(60)).astype(np.float32)
    pool = (unit[pool_cls] + noise(3000)).astype(np.float16)          # stored as float16
    sids, pids = yt_ids("s", 60), yt_ids("p", 3000)
    s_index = write_index(d / "src_balanced_train_segments.csv", sids, [[LABELS[c]] for c in s_cls])
    p_index = write_index(d / "src_unbalanced_train_segments.csv", pids, [[LABELS[c]] for c in pool_cls])
    return {"dir": d, "seeds": s_index, "pool": p_index, "sids": sids, "pids": pids,
            "s_vec": seeds, "p_vec": pool, "p_cls": pool_cls,
            "s_emb": write_embeddings(d / "seed_emb", s_index, seeds),
            "p_emb": write_embeddings(d / "pool_emb", p_index, pool)}


@pytest.mark.slow
def test_outputs_read_back_as_build_filter_set_reads_them(corpus: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = run_balance(BalanceOptions(corpus["seeds"], corpus["s_emb"], corpus["pool"], corpus["p_emb"], out,
                                     k=K, per_label_cap=200, progress=False))
    # the truth: float64 cosine over the float16 pool as stored
    p = corpus["p_vec"].astype(np.float64)
    s = corpus["s_vec"].astype(np.float64)
    sim = (s / np.linalg.norm(s, axis=1, keepdims=True)) @ (p / np.linalg.norm(p, axis=1, keepdims=True)).T
    truth = np.argsort(-sim, axis=1, kind="stable")
    lines = (out / f"knn_top{K}.jsonl").read_text().splitlines()
    assert len(lines) == 60
    for i, line in enumerate(lines):
        (sid, pairs), = json.loads(line).items()
        assert sid == corpus["sids"][i] and len(pairs) == K
        assert [pid for pid, _ in pairs] == [corpus["pids"][j] for j in truth[i, :K]]
        np.testing.assert_allclose([sc for _, sc in pairs], sim[i, truth[i, :K]], atol=1e-5)
    for topk in (10, K):
        want = set(corpus["sids"]) | {corpus["pids"][j] for j in truth[:, :topk].ravel()}
        assert filter_set(out, f"knn_top{K}.jsonl,{topk}") == want
    ids = filter_set(out, f"knn_top{K}_ids.csv,0")
    assert ids == filter_set(out, f"knn_top{K}.jsonl,{K}")
    assert len((out / f"knn_top{K}_ids.csv").read_text().splitlines()) == len(ids)      # no id twice

    capped = filter_set(out, "knn_0.2k,0")
    assert capped <= ids and set(corpus["sids"]) <= capped
    per_label = json.loads((out / "knn_0.2k").read_text())
    assert max(len(v) for v in per_label.values()) == 200 and res.counts.capped_out > 0
    assert len(per_label[LABELS[1]]) < 200                                          # rare labels keep all

    seg = (out / f"src_knn_top{K}_segments.csv").read_bytes().splitlines(keepends=True)
    pool_lines = corpus["pool"].read_bytes().splitlines(keepends=True)
    chosen = sorted(set(truth[:, :K].ravel().tolist()))
    assert seg == [pool_lines[j] for j in chosen] + corpus["seeds"].read_bytes().splitlines(keepends=True)
    side = json.loads((out / f"src_knn_top{K}_segments.json").read_text())
    assert side["split_line"] == len(chosen) == res.counts.selected
    assert len(read_weights(out / f"src_knn_top{K}_segments_weight.csv")) == len(seg)

    # the report: counts before and after, Speech diluted
    text = (out / "report" / "report.txt").read_text()
    assert "coefficient of variation" in text and "chosen by several seeds" in text
    for png in ("balance_labels.png", "balance_scores.png", "balance_chosen.png"):
        assert (out / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    speech_before = np.mean(corpus["p_cls"] == 0)
    speech_after = np.mean(corpus["p_cls"][chosen] == 0)
    assert speech_after < speech_before
    rows = latest(read_manifest(out / MANIFEST_DIR, BALANCE_MANIFEST_SCHEMA), ["line"])
    assert rows.num_rows == 60 and set(rows.column("status").to_pylist()) == {"ok"}


def test_fingerprint_mismatch_and_a_changed_index_are_refused(corpus: dict, tmp_path: Path, capsys) -> None:
    other = write_embeddings(tmp_path / "other", corpus["pool"], corpus["p_vec"], fingerprint="vipant-abc")
    assert "fingerprints differ" not in str(corpus["p_emb"])
    with pytest.raises(EmbeddingsMismatchError, match="fingerprints differ"):
        run_balance(BalanceOptions(corpus["seeds"], corpus["s_emb"], corpus["pool"], other, tmp_path / "o"))
    assert run(["balance", "--seeds", str(corpus["seeds"]), "--seed-emb", str(corpus["s_emb"]), "--pool",
                str(corpus["pool"]), "--pool-emb", str(other), "-k", "5", "-o", str(tmp_path / "o")]) == EXIT_FATAL
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fingerprints differ" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "o").exists()
    changed = tmp_path / "seeds.csv"
    changed.write_bytes(corpus["seeds"].read_bytes().replace(b'"30.000"', b'"31.000"', 1))
    with pytest.raises(EmbeddingsMismatchError, match="different version"):
        run_balance(BalanceOptions(changed, corpus["s_emb"], corpus["pool"], corpus["p_emb"], tmp_path / "o"))
    unfinished = write_embeddings(tmp_path / "unfinished", corpus["pool"], corpus["p_vec"])
    meta = json.loads((unfinished / "meta.json").read_text())
    (unfinished / "meta.json").write_text(json.dumps({**meta, "complete": False}))
    with pytest.raises(EmbeddingsMismatchError, match="has not finished"):
        run_balance(BalanceOptions(corpus["seeds"], corpus["s_emb"], corpus["pool"], unfinished, tmp_path / "o"))


def test_duplicates_and_failed_lines_are_handled_and_counted(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(5)
    sids = ["seedAAAAAAA", "seedBBBBBBB", "seedAAAAAAA", "seedCCCCCCC"]       # A twice
    pids = ["poolAAAAAAA", "seedBBBBBBB", "poolAAAAAAA", "poolBBBBBBB", "poolCCCCCCC", "poolDDDDDDD"]
    s = rng.standard_normal((4, 8)).astype(np.float32)
    s[3] = 0                                                              # seed C: media failed
    p = rng.standard_normal((6, 8)).astype(np.float32)
    p[1] = s[1]                                      # seed B's own video in the pool: a perfect match
    p[2] = s[0]                                      # the repeat of poolA would be seed A's best match
    p[5] = 0                                         # poolD: media failed
    si = write_index(tmp_path / "seeds.csv", sids, [["/m/09x0r"]] * 4)
    pi = write_index(tmp_path / "pool.csv", pids, [["/m/04rlf"]] * 6)
    se, pe = write_embeddings(tmp_path / "se", si, s), write_embeddings(tmp_path / "pe", pi, p)
    out = tmp_path / "out"
    code = run(["balance", "--seeds", str(si), "--seed-emb", str(se), "--pool", str(pi), "--pool-emb", str(pe),
                "-k", "10", "-o", str(out), "--no-report"])
    captured = capsys.readouterr()
    assert code == EXIT_SKIPPED
    assert f"{si}:4: seed seedCCCCCCC: all-zero embedding" in captured.err
    assert f"{pi}:6: pool sample poolDDDDDDD: all-zero embedding" in captured.err
    assert "1 without embedding (skipped), 1 repeated ids" in captured.out
    assert "1 of a seed's own video (left out), 1 repeated ids" in captured.out
    knn = [json.loads(x) for x in (out / "knn_top10.jsonl").read_text().splitlines()]
    assert [next(iter(r)) for r in knn] == ["seedAAAAAAA", "seedBBBBBBB"]
    for r in knn:
        (_, pairs), = r.items()
        names = [n for n, _ in pairs]
        assert sorted(names) == ["poolAAAAAAA", "poolBBBBBBB", "poolCCCCCCC"]    # once each, no seed id
    # poolA's first line stands for both: its repeat (a copy of seed A) is not searched; seed B's own
    # video (a perfect match) is left out: no score near 1
    assert max(sc for r in knn for (_, pairs) in r.items() for _, sc in pairs) < 0.99
    seg = (out / "src_knn_top10_segments.csv").read_text().splitlines()
    assert [json.loads(x)["id"] for x in seg] == ["poolAAAAAAA", "poolBBBBBBB", "poolCCCCCCC", *sids]
    rows = latest(read_manifest(out / MANIFEST_DIR, BALANCE_MANIFEST_SCHEMA), ["line"]).sort_by("line")
    assert rows.column("status").to_pylist() == ["ok", "ok", "repeat", "skipped"]


def test_missing_faiss_names_the_extra(corpus: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(MissingExtraError, match=r"avdata\[faiss\]"):
        run_balance(BalanceOptions(corpus["seeds"], corpus["s_emb"], corpus["pool"], corpus["p_emb"],
                                   tmp_path / "o", search=SearchOptions(ann="ivf")))


@pytest.mark.slow
def test_cli_ivf_prints_recall(corpus: dict, tmp_path: Path, capsys) -> None:
    code = run(["balance", "--seeds", str(corpus["seeds"]), "--seed-emb", str(corpus["s_emb"]), "--pool",
                str(corpus["pool"]), "--pool-emb", str(corpus["p_emb"]), "-k", "20", "-o", str(tmp_path / "o"),
                "--ann", "ivf", "--nlist", "16", "--nprobe", "16", "--recall-sample", "20"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "ivf (nlist 16, nprobe 16): recall@20 against exact 1.0000" in out     # all lists: exact
    assert (tmp_path / "o" / "knn_top20.jsonl").is_file()
    code = run(["balance", "--seeds", str(corpus["seeds"]), "--seed-emb", str(corpus["s_emb"]), "--pool",
                str(corpus["pool"]), "--pool-emb", str(corpus["p_emb"]), "-k", "20", "-o", str(tmp_path / "t"),
                "--ann", "ivf", "--nlist", "16", "--no-report"])
    m = re.search(r"ivf \(nlist 16, nprobe (\d+)\): recall@20 against exact ([0-9.]+)", capsys.readouterr().out)
    assert code == EXIT_OK and m is not None
    assert int(m.group(1)) in (1, 2, 4, 8, 16) and float(m.group(2)) >= 0.95   # tuned on all 60 seeds (< 64)


def test_a_killed_run_resumes_its_finished_seed_blocks(corpus: dict, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import avdata.balance.run as run_mod

    opts = dict(k=8, search=SearchOptions(seed_block=16), report=False, progress=False)
    whole = run_balance(BalanceOptions(corpus["seeds"], corpus["s_emb"], corpus["pool"], corpus["p_emb"],
                                       tmp_path / "whole", **opts))
    real = run_mod.make_searcher
    calls: list[int] = []

    def counting(*a, fail_after: int | None = None, **kw):
        search = real(*a, **kw)

        def wrapped(q):
            if fail_after is not None and len(calls) == fail_after:
                raise KeyboardInterrupt                   # killed in the middle of the third block
            calls.append(len(q))
            return search(q)
        return wrapped

    out = tmp_path / "resumed"
    monkeypatch.setattr(run_mod, "make_searcher", lambda *a, **kw: counting(*a, fail_after=2, **kw))
    with pytest.raises(KeyboardInterrupt):
        run_balance(BalanceOptions(corpus["seeds"], corpus["s_emb"], corpus["pool"], corpus["p_emb"], out, **opts))
    assert len(list((out / run_mod.BLOCKS_DIR).glob("*/block-*.npz"))) == 2 and not (out / "knn_top8.jsonl").exists()
    calls.clear()
    monkeypatch.setattr(run_mod, "make_searcher", lambda *a, **kw: counting(*a, **kw))
    res = run_balance(BalanceOptions(corpus["seeds"], corpus["s_emb"], corpus["pool"], corpus["p_emb"], out, **opts))
    assert calls == [15, 15]                              # 60 seeds in 4 even blocks: blocks 3 and 4 only
    for name in ("knn_top8.jsonl", "knn_top8_ids.csv", "src_knn_top8_segments.csv"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert res.counts.selected == whole.counts.selected and not (out / run_mod.BLOCKS_DIR).exists()


def test_a_pool_smaller_than_k_gives_every_seed_the_whole_pool(tmp_path: Path) -> None:
    """k above the pool's size: each seed lists every pool sample once (the -1 padding never reaches
    a file), all are selected, the per-label cap counts them, the manifest says how many were found."""
    rng = np.random.default_rng(7)
    sids, pids = yt_ids("s", 3), yt_ids("p", 5)
    s_index = write_index(tmp_path / "seeds.csv", sids, [[LABELS[0]]] * 3)
    p_index = write_index(tmp_path / "pool.csv", pids, [[LABELS[i % 2]] for i in range(5)])
    s_emb = write_embeddings(tmp_path / "s_emb", s_index, rng.standard_normal((3, 8)).astype(np.float32))
    p_emb = write_embeddings(tmp_path / "p_emb", p_index, rng.standard_normal((5, 8)).astype(np.float32))
    out = tmp_path / "out"
    res = run_balance(BalanceOptions(s_index, s_emb, p_index, p_emb, out, k=8, per_label_cap=1000,
                                     report=False, progress=False))
    knn = [json.loads(line) for line in (out / "knn_top8.jsonl").read_text().splitlines()]
    assert [sorted(i for i, _ in next(iter(row.values()))) for row in knn] == [sorted(pids)] * 3
    assert res.counts.selected == 5 and res.counts.capped_out == 0
    assert (out / "knn_top8_ids.csv").read_text().split() == sids + pids
    assert (out / "src_knn_top8_segments.csv").read_bytes() == p_index.read_bytes() + s_index.read_bytes()
    rows = latest(read_manifest(out / MANIFEST_DIR), ["line"])
    assert sorted(rows.column("neighbours").to_pylist()) == [5, 5, 5]
