"""``avdata export lhotse``: manifests that lhotse itself loads, labels and captions kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avdata.media.inspect import decode_audio

pytestmark = pytest.mark.slow


def test_lhotse_loads_what_avdata_writes(tmp_path: Path, corpus, media: str) -> None:
    lhotse = pytest.importorskip("lhotse")
    caption_index = corpus.index_dir / "src_audiocaps_val.csv"
    lines = caption_index.read_text().splitlines()
    bad = json.loads(lines[0])
    bad["id"] = "gone_clip"
    index = tmp_path / "src_audiocaps_val.csv"
    index.write_text("\n".join(lines + [json.dumps(bad)]) + "\n")
    run = subprocess.run([sys.executable, "-m", "avdata", "export", "lhotse", str(index), "--media", media,
                          "-o", str(tmp_path / "lh")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and f"{index}:{len(lines) + 1}: left out: missing_file" in run.stderr, run.stderr
    recordings = lhotse.load_manifest(tmp_path / "lh" / "src_audiocaps_val_recordings.jsonl")
    supervisions = lhotse.load_manifest(tmp_path / "lh" / "src_audiocaps_val_supervisions.jsonl")
    assert isinstance(recordings, lhotse.RecordingSet) and isinstance(supervisions, lhotse.SupervisionSet)
    assert len(recordings) == len(supervisions) == len(lines)
    cuts = lhotse.CutSet.from_manifests(recordings=recordings, supervisions=supervisions
                                        ).with_recording_path_prefix(str(tmp_path / "lh"))   # relative paths
    for line, cut in zip(lines, cuts):
        rec = json.loads(line)
        sup = cut.supervisions[0]
        assert cut.recording_id == f"{rec['id']}_p0" and sup.custom["labels"] == rec["labels"]
        assert sup.text == rec["captions"][0] and sup.custom["captions"] == rec["captions"]
        ours, rate = decode_audio(Path(media) / rec["dir"] / "aclip" / f"{rec['id']}.{rec['aclip'][0]}")
        theirs = cut.load_audio()
        assert cut.sampling_rate == rate and theirs.shape == ours.shape
        assert np.abs(theirs - ours).max() < 1e-3


def test_cuts_load_from_another_working_directory_resample_and_validate(tmp_path: Path, corpus, media: str) -> None:
    """issue 27: cuts.jsonl.gz beside recordings and supervisions, paths relative to the export folder;
    lhotse's own CutSet.from_file loads it from anywhere, load_audio gives the clip avdata wrote,
    resample(16000) works (scipy comes with the extra) and lhotse's validate passes."""
    pytest.importorskip("lhotse")
    pytest.importorskip("scipy")
    index = corpus.index_dir / "src_train_segments.csv"
    out = tmp_path / "export" / "lh"
    run = subprocess.run([sys.executable, "-m", "avdata", "export", "lhotse", str(index), "--media", media,
                          "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    cuts_file = out / "src_train_segments_cuts.jsonl.gz"
    recordings = [json.loads(x) for x in (out / "src_train_segments_recordings.jsonl").read_text().splitlines()]
    assert all(not Path(r["sources"][0]["source"]).is_absolute() for r in recordings)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = f"""
import json, sys
import numpy as np
from lhotse import CutSet, validate
from avdata.media.inspect import decode_audio
cuts = CutSet.from_file({str(cuts_file)!r}).with_recording_path_prefix({str(out)!r})
lines = [json.loads(x) for x in open({str(index)!r})]
assert len(cuts) == len(lines)
stereo = 0
for cut, rec in zip(cuts, lines):
    validate(cut, read_data=True)
    sup = cut.supervisions[0]
    assert sup.custom["labels"] == rec["labels"] and len(sup.custom["label_names"]) == len(rec["labels"])
    assert all(n and not n.startswith("/m/") for n in sup.custom["label_names"])
    ours, rate = decode_audio({media!r} + "/" + rec["dir"] + "/aclip/" + rec["id"] + "." + rec["aclip"][0])
    theirs = cut.load_audio()
    assert cut.sampling_rate == rate and theirs.shape == ours.shape, (theirs.shape, ours.shape)
    assert np.abs(theirs - ours).max() < 1e-3
    stereo += cut.to_dict()["type"] == "MultiCut"
    low = cut.resample(16000)
    assert low.sampling_rate == 16000 and abs(low.load_audio().shape[-1] - round(cut.duration * 16000)) <= 1
print("ok", len(cuts), stereo)
"""
    r = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("ok "), r.stderr[-2000:]
    assert int(r.stdout.split()[2]) >= 1          # the corpus has a stereo clip: a MultiCut
    again = tmp_path / "again"
    subprocess.run([sys.executable, "-m", "avdata", "export", "lhotse", str(index), "--media", media, "-o",
                    str(again), "--root", str(out)], capture_output=True, text=True, timeout=300, check=True)
    assert (again / cuts_file.name).read_bytes() == cuts_file.read_bytes()      # same root, same bytes
