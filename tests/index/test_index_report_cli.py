"""The CLI runs index -> weights -> report; the report's HTML shows real PNG plots."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from avdata.cli.main import EXIT_SKIPPED, main
from avdata.weights import read_weights


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return int(e.value.code)


@pytest.fixture(scope="module")
def cli_index(example, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli_index")
    code = run(["index", str(example.clips), "--manifest", str(example.manifest), "--media", str(example.media),
                "--out", str(out), "--workers", "1"])
    assert code == EXIT_SKIPPED        # segments were excluded for errors
    return out


def test_cli_index_weights_report(example, cli_index: Path, tmp_path: Path, capsys) -> None:
    train = cli_index / "src_train_segments.csv"
    assert run(["weights", str(train)]) == 0
    weights = read_weights(cli_index / "src_train_segments_weight.csv")
    assert len(weights) == len(train.read_text().splitlines()) == 5 and (weights > 0).all()
    capsys.readouterr()
    assert run(["report", str(train), "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    assert "src_balanced_train_segments.csv: 2 / 2" in printed
    assert "audio_missing_file 1" in printed and "32000 Hz" in printed
    page = (tmp_path / "report" / "report.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert {"segments_per_split.png", "exclusions.png", "labels_top.png", "labels_all.png", "durations.png",
            "audio_properties.png", "frames_per_clip.png", "gallery.png"} <= set(images)
    for name in images:
        path = tmp_path / "report" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as img:
            img.load()
            assert img.format == "PNG" and img.width > 200 and img.height > 100
            # a real plot, not a blank canvas
            assert len(img.convert("L").getcolors(1 << 16)) > 10


def test_a_bad_line_costs_that_line_and_exit_1(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "src_eval_segments.csv"
    bad.write_text('{"dir": "d", "aclip": [], "frame": [], "id": "x", "bos": "0.000", "eos": "1.000", '
                   '"labels": ["/m/09x0r"]}\nnot json\n')
    assert run(["weights", str(bad)]) == EXIT_SKIPPED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}:2: not a JSON line") and err[0].endswith("weight 0")
    assert (tmp_path / "src_eval_segments_weight.csv").read_text().splitlines() == ["500.0", "0.0"]
    assert run(["weights", str(bad), "--scheme", "nope"]) == 2


def test_rerun_replaces_outputs_and_summary_matches(example, cli_index: Path) -> None:
    before = {p.name: p.read_bytes() for p in cli_index.glob("src_*.csv")}
    assert run(["index", str(example.clips), "--manifest", str(example.manifest), "--media", str(example.media),
                "--out", str(cli_index), "--workers", "2"]) == EXIT_SKIPPED
    after = {p.name: p.read_bytes() for p in cli_index.glob("src_*.csv")}
    assert before == after
    assert not list(cli_index.glob(".tmp-*"))
    summary = json.loads((cli_index / "index_summary.json").read_text())
    assert summary["combined"]["split_line"] == 3
