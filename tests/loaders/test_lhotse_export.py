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
    cuts = lhotse.CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    for line, cut in zip(lines, cuts):
        rec = json.loads(line)
        sup = cut.supervisions[0]
        assert cut.recording_id == f"{rec['id']}_p0" and sup.custom["labels"] == rec["labels"]
        assert sup.text == rec["captions"][0] and sup.custom["captions"] == rec["captions"]
        ours, rate = decode_audio(Path(media) / rec["dir"] / "aclip" / f"{rec['id']}.{rec['aclip'][0]}")
        theirs = cut.load_audio()
        assert cut.sampling_rate == rate and theirs.shape == ours.shape
        assert np.abs(theirs - ours).max() < 1e-3
