"""Where avdata's CPU time per clip goes, stage by stage, on the bench_extract corpus (one process).

Each stage runs on its own over every planned clip and is timed with ``time.process_time``:
reading (audio only, video only, both), PCM conversion, LAME at the default and other algorithm
qualities, the MP3 tag frame, the YUV range conversion and the JPEG encoder. Also prints how many
video frames are decoded per clip for its 4 output frames. Run ``bench_extract.py`` once first
(it makes the corpus). Run: ``python benchmarks/profile_extract.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_extract import FRAMES, WORK, corpus_specs  # noqa: E402

from avdata.extract.job import frame_timestamps  # noqa: E402
from avdata.extract.plan import plan_clips  # noqa: E402
from avdata.media.encode import FrameOptions, JpegWriter  # noqa: E402
from avdata.media.mp3 import frame_offsets, info_frame, lame_encode, pcm_int16  # noqa: E402
from avdata.media.reader import MediaReader  # noqa: E402


def main() -> None:
    totals: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], object]) -> object:
        t = time.process_time()
        out = fn()
        totals[name] = totals.get(name, 0.0) + time.process_time() - t
        return out

    clips = decoded = 0
    jpeg = JpegWriter(FrameOptions())
    for cid, _, start, end in corpus_specs():
        path = WORK / "videos" / f"{cid}.mp4"
        if not path.exists():
            raise SystemExit(f"{path} missing: run benchmarks/bench_extract.py first")
        reader = timed("open + probe", lambda: MediaReader(path))
        with reader:
            for c in plan_clips(start, end, reader.duration):
                clips += 1
                times = frame_timestamps(c.start, c.end, FRAMES)
                timed("read: audio only", lambda: reader.read_span(c.start, c.end, []))
                timed("read: video only", lambda: reader.read_span(c.start, c.end, times, audio=False))
                span = timed("read: both (as extract)", lambda: reader.read_span(c.start, c.end, times))
                decoded += span.frames_decoded
                pcm = timed("float -> int16 PCM", lambda: pcm_int16(span.audio))
                rate, channels = span.sample_rate, span.audio.shape[0]
                mp3 = timed("LAME q3 (default)", lambda: lame_encode(pcm, rate, channels, 128_000, 3))
                for q in (7, 2):
                    timed(f"LAME q{q} (not used)", lambda: lame_encode(pcm, rate, channels, 128_000, q))
                timed("MP3 tag frame (CRC)", lambda: info_frame(mp3, frame_offsets(mp3), span.audio.shape[1], 3))
                for f in span.frames:
                    timed("yuv -> yuvj (in JPEG)", lambda: f.reformat(format="yuvj420p"))
                    timed("JPEG encode (incl. yuvj)", lambda: jpeg.encode(f))
    print(f"{clips} clips; video frames decoded per clip: {decoded / clips:.1f} for {FRAMES} outputs")
    for name, seconds in totals.items():
        print(f"  {name:26s} {1000 * seconds / clips:7.1f} ms CPU per clip")


if __name__ == "__main__":
    main()
