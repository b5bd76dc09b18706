"""Loader throughput and index memory: avdata's loaders beside a VIP-ANT-style loader, same run.

The corpus: N clips as extraction writes them (10 s MP3, 44.1 kHz stereo as YouTube audio is; 4
JPEG frames), with the index stage's ``aclip_128`` / ``frame_224`` features, an index file and
WebDataset shards of it. Loaders, each over one epoch with a torch DataLoader (batch B) at 0, 1 and
2 workers:

- ``vipant``: written here the way VIP-ANT's ``AudiosetSrc`` works: the whole index as a list of
  dicts, the audio decoded by an ``ffmpeg`` subprocess per item (imageio-ffmpeg's binary; VIP-ANT
  uses torchaudio's ffmpeg/sox backend), then the *same* fbank and image transforms as avdata;
- ``avdata raw``: ``AVIndexDataset`` (lazy index, in-process PyAV decoding);
- ``AudiosetNpz-style``: VIP-ANT's ``AudiosetNpz`` item path (the npz baseline);
- ``avdata npz``: ``AVIndexDataset(features="npz")`` (the index stage's features, no decoding);
- ``avdata shards`` / ``shards npz``: ``ShardReader`` over ``avdata shards`` tars.

Prints samples/s (from the first batch on: the workers' start and the first batch are the
"1st batch s" column, so that a short epoch measures the per-item speed of an epoch of millions),
time to first batch, and the largest difference of each loader's outputs from
the baseline's. Then the memory of an *opened index* (RSS after opening and one random read, in a
fresh subprocess) for a synthetic index of L lines: list of dicts vs ``LazyIndex``.

    python benchmarks/bench_loaders.py [--clips 24] [--batch 8] [--workers 0 1 2] [--index-lines 200000]

Needs the torch, webdataset and bench extras.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))   # run from a checkout, installed or not

import torch  # noqa: E402
from imageio_ffmpeg import get_ffmpeg_exe  # noqa: E402

from avdata.loaders import AVIndexDataset, DatasetOptions, LabelMap, collate, ontology_labels  # noqa: E402
from avdata.loaders.shards import ShardOptions, write_shards  # noqa: E402
from avdata.loaders.transforms import AudioInput, choose_frame, fbank_input, item_rng  # noqa: E402
from avdata.loaders.wds_reader import ShardReader  # noqa: E402
from avdata.media.encode import AudioOptions, write_audio  # noqa: E402
from avdata.media.features import frame_224, write_aclip_128, write_frame_224  # noqa: E402
from avdata.media.synth import draw_time_frame, reference_audio  # noqa: E402

CHUNK = "all_0_35000"
LABELS = ["/m/09x0r", "/m/04rlf", "/m/0jbk", "/m/068hy", "/m/07yv9"]


def build_corpus(root: Path, clips: int, rate: int = 44100) -> Path:
    """Clips, frames, features and an index file below ``root``; returns the index path."""
    media = root / "media"
    rng = np.random.default_rng(0)
    lines = []
    for k in range(clips):
        cid = f"clip{k:05d}xx"
        audio = media / CHUNK / "aclip" / f"{cid}.p0.mp3"
        audio.parent.mkdir(parents=True, exist_ok=True)
        write_audio(audio, reference_audio(k * rate * 7, rate * 10, rate, 2), rate, AudioOptions(format="mp3"))
        frames = []
        for f in range(1, 5):
            jpg = media / CHUNK / "frame" / f"{cid}.p0.4_{f:02d}.jpg"
            jpg.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(draw_time_frame(k * 10_000 + f * 3000, 320, 180)).save(jpg, quality=90)
            frames.append((f, jpg))
        write_aclip_128(audio, media / CHUNK / "aclip_128" / f"{cid}.p0.npz")
        write_frame_224(frames, media / CHUNK / "frame_224" / f"{cid}.p0.npz")
        labs = sorted(set(rng.choice(LABELS, size=int(rng.integers(1, 3))).tolist()))
        lines.append({"dir": CHUNK, "aclip": ["p0.mp3"], "frame": [f"p0.4_{f:02d}.jpg" for f in range(1, 5)],
                      "aclip_128": "p0.npz", "frame_224": "p0.npz", "id": cid, "bos": "30.000", "eos": "40.000",
                      "labels": labs})
    index = root / "src_bench.csv"
    index.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return index


class VipantStyle(torch.utils.data.Dataset):
    """The baseline: VIP-ANT's loader pattern (list of dicts; an ffmpeg process per clip)."""

    def __init__(self, index: Path, media: Path, train: bool, seed: int) -> None:
        self.dataset = [json.loads(line) for line in open(index)]
        self.media, self.train, self.seed = media, train, seed
        self.labels = LabelMap(ontology_labels())
        self.ffmpeg = get_ffmpeg_exe()

    def __len__(self) -> int:
        return len(self.dataset)

    def _audio(self, path: Path) -> tuple[np.ndarray, int]:
        # the first channel at the file's own rate, as float32 (torchaudio.load(...)[0][:1])
        run = subprocess.run([self.ffmpeg, "-nostdin", "-hide_banner", "-i", str(path), "-af", "pan=mono|c0=c0",
                              "-f", "f32le", "-acodec", "pcm_f32le", "-"], capture_output=True, check=True)
        rate = int(re.search(rb"(\d+) Hz", run.stderr).group(1))
        return np.frombuffer(run.stdout, np.float32)[None, :], rate

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.dataset[i]
        base = self.media / rec["dir"]
        audio, rate = self._audio(base / "aclip" / f"{rec['id']}.{rec['aclip'][0]}")
        frames = rec["frame"]
        k = choose_frame(len(frames), self.train, item_rng(self.seed, 0, i, 1))
        return {"index": i, "id": rec["id"], "aclip": rec["aclip"][0], "frame": frames[k],
                "fbank": fbank_input(audio, rate, AudioInput()),
                "image": frame_224(base / "frame" / f"{rec['id']}.{frames[k]}"),
                "labels": self.labels.multi_hot(rec["labels"]), "captions": []}


class VipantNpzStyle(torch.utils.data.Dataset):
    """The npz baseline: VIP-ANT's ``AudiosetNpz`` (cvap/data/audioset_cls.py) as it reads an item in
    evaluation: the index as a list of dicts, ``np.load(aclip_128)["flag"]`` padded to 1000 frames and
    normalised, every image of the ``frame_224`` npz loaded and the middle one kept, labels as a list
    over all classes (made a float32 array here so that batches stack as avdata's do)."""

    def __init__(self, index: Path, media: Path) -> None:
        self.dataset = [json.loads(line) for line in open(index)]
        self.media = media
        self.label_map = {lab: i for i, lab in enumerate(ontology_labels())}
        self.opts = AudioInput()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.dataset[i]
        base = self.media / rec["dir"]
        audio = np.load(base / "aclip_128" / f"{rec['id']}.{rec['aclip_128']}")["flag"]
        images = np.load(base / "frame_224" / f"{rec['id']}.{rec['frame_224']}")
        images = [images[key] for key in images.files if len(images[key]) != 0]
        image = images[int(np.ceil(len(images) / 2)) - 1]
        npad = self.opts.target_frames - audio.shape[0]
        if npad > 0:
            audio = np.pad(audio, ((0, npad), (0, 0)), "constant", constant_values=(0., 0.))
        audio = (audio - self.opts.mean) / self.opts.std
        label_set = {self.label_map[c] for c in rec["labels"]}
        label = [1 if k in label_set else 0 for k in range(len(self.label_map))]
        return {"index": i, "id": rec["id"], "fbank": audio.astype(np.float32), "image": image,
                "labels": np.asarray(label, np.float32), "captions": []}


def run_epoch(dataset: Any, workers: int, batch: int) -> tuple[float, float, dict[int, dict]]:
    """(samples/s, seconds to first batch, first-epoch items by index for output checks)."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers, collate_fn=collate)
    t0 = time.perf_counter()
    first = None
    n = n_first = 0
    kept: dict[int, dict] = {}
    for b in loader:
        for j, i in enumerate(b["index"].tolist()):
            if len(kept) < 4:
                kept[i] = {"fbank": b["fbank"][j].numpy(), "image": b["image"][j].numpy()}
        n += len(b["index"])
        if first is None:
            first, n_first = time.perf_counter() - t0, n
    total = time.perf_counter() - t0
    if first is None or n == n_first:                   # one batch only: the whole epoch
        return n / total, first or total, kept
    return (n - n_first) / (total - first), first, kept


MEMORY_PROBE = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, sys.argv[3])
    def rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    import numpy
    from avdata.loaders.lazy_index import LazyIndex
    base = rss()
    if sys.argv[1] == "list":
        index = [json.loads(line) for line in open(sys.argv[2])]
        item = index[len(index) // 2]
    else:
        index = LazyIndex(sys.argv[2])
        item = index.record(len(index) // 2)
    print(rss() - base)
''')


def index_memory(lines: int, folder: Path) -> dict[str, float]:
    path = folder / "big_index.csv"
    rec = {"dir": CHUNK, "aclip": ["p0.mp3"], "frame": [f"p0.4_{f:02d}.jpg" for f in range(1, 5)],
           "aclip_128": "p0.npz", "frame_224": "p0.npz", "id": "", "bos": "30.000", "eos": "40.000",
           "labels": ["/m/09x0r", "/m/04rlf"]}
    with open(path, "w") as fh:
        for start in range(0, lines, 50_000):
            fh.write("".join(json.dumps({**rec, "id": f"{i:011d}"}) + "\n" for i in range(start, min(lines, start + 50_000))))
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = {}
    for kind in ("lazy", "lazy", "list"):   # the first lazy run builds the sidecar; the second opens it
        run = subprocess.run([sys.executable, "-c", MEMORY_PROBE, kind, str(path), src], capture_output=True,
                             text=True, check=True)
        out[kind] = int(run.stdout) / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--index-lines", type=int, default=200_000)
    ap.add_argument("--npz-repeat", type=int, default=20,
                    help="the npz loaders read the corpus this many times (their epoch is otherwise too short to time)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        index = build_corpus(root, args.clips)
        media = root / "media"
        per_shard = (args.clips + 3) // 4                           # 4 shards: 2 workers x 2 ranks
        res = write_shards(ShardOptions(index=str(index), media=str(media), out=str(root / "shards"),
                                        target_size=per_shard * 560_000, executor="inline"))
        print(f"corpus: {args.clips} clips (10 s MP3 44.1 kHz stereo, 4 JPEG frames, features), "
              f"{res.shards} shards, built in {time.perf_counter() - t0:.1f} s")
        raw = DatasetOptions(media=str(media))
        npz = DatasetOptions(media=str(media), features="npz")
        loaders = {
            "vipant-style (baseline)": lambda: VipantStyle(index, media, False, 0),
            "avdata raw": lambda: AVIndexDataset(index, raw),
            "AudiosetNpz-style": lambda: VipantNpzStyle(index, media),
            "avdata npz": lambda: AVIndexDataset(index, npz),
            "avdata shards": lambda: ShardReader(res.shard_list, raw),
            "avdata shards npz": lambda: ShardReader(res.shard_list, npz),
        }
        print(f"\n{'loader':26s} {'workers':>7s} {'samples/s':>10s} {'x base':>7s} {'1st batch s':>11s} "
              f"{'max |fbank diff|':>16s} {'max |image diff|':>16s}")
        base: dict[int, float] = {}
        npz_base: dict[int, float] = {}
        npz_ratio: dict[int, float] = {}
        reference: dict[int, dict] = {}
        for name, make in loaders.items():
            for w in args.workers:
                ds = make()
                if "npz" in name.lower() and args.npz_repeat > 1:
                    iterable = isinstance(ds, torch.utils.data.IterableDataset)
                    ds = (torch.utils.data.ChainDataset if iterable else torch.utils.data.ConcatDataset)(
                        [ds] * args.npz_repeat)
                rate, first, kept = run_epoch(ds, w, args.batch)
                if name.startswith("vipant"):
                    base[w] = rate
                    reference.update(kept)
                if name.startswith("AudiosetNpz"):
                    npz_base[w] = rate
                if name == "avdata npz":
                    npz_ratio[w] = rate / npz_base[w]
                common = [i for i in kept if i in reference]
                fd = max((np.abs(kept[i]["fbank"] - reference[i]["fbank"]).max() for i in common), default=float("nan"))
                idf = max((np.abs(kept[i]["image"] - reference[i]["image"]).max() for i in common), default=float("nan"))
                print(f"{name:26s} {w:7d} {rate:10.1f} {rate / base[w]:7.2f} {first:11.2f} {fd:16.2e} {idf:16.2e}",
                      flush=True)
        print("avdata npz / AudiosetNpz-style: " + ", ".join(f"{r:.2f}x at {w} workers" for w, r in npz_ratio.items())
              + " (goal >= 2x)")
        mem = index_memory(args.index_lines, root)
        print(f"\nopened index of {args.index_lines:,} lines (RSS growth in a fresh process):")
        print(f"  list of dicts (VIP-ANT): {mem['list']:8.1f} MB")
        print(f"  LazyIndex (avdata):      {mem['lazy']:8.1f} MB   ({mem['list'] / max(mem['lazy'], 0.01):.0f}x less)")


if __name__ == "__main__":
    main()
