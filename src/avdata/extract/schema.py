"""The extraction manifest: one row per clip (``p0``, ``n0``, ``n1``, ...) of every segment.

Key: (``clip_id``, ``clip``); the latest row for a key wins (see ``avdata.manifest``).
Paths are relative to the extraction output root. The index stage reads this table.
"""

from __future__ import annotations

import pyarrow as pa

EXTRACT_MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("clip_id", pa.string()),          # the clip table's clip_id (the segment)
        pa.field("clip", pa.string()),             # p0 (gold), n0, n1, ... (negatives)
        pa.field("dir", pa.string()),              # chunk folder, e.g. all_0_35000
        pa.field("source", pa.string()),           # YouTube id or relative video path
        pa.field("start", pa.float64()),           # clip span, seconds of the source video
        pa.field("end", pa.float64()),
        pa.field("audio_file", pa.string()),       # e.g. all_0_35000/aclip/ID.p0.mp3; null if none
        pa.field("audio_samples", pa.int64()),     # samples per channel written
        pa.field("sample_rate", pa.int32()),
        pa.field("channels", pa.int32()),
        pa.field("frame_files", pa.list_(pa.string())),   # e.g. all_0_35000/frame/ID.p0.4_01.jpg
        pa.field("frame_times", pa.list_(pa.float64())),  # source-video time of each frame taken
        pa.field("status", pa.string()),           # "ok" or an error code (see ERROR_CODES)
        pa.field("message", pa.string()),          # one line; empty when ok
        pa.field("seconds", pa.float64()),         # wall time spent on this clip's video / clips
    ]
)

MANIFEST_KEYS = ("clip_id", "clip")

ERROR_CODES = (
    "missing_video",
    "unreadable",
    "no_audio_stream",
    "no_video_stream",
    "segment_outside_video",
    "decode_error",
    "timeout",
    "output_error",          # an output file could not be written (permission, a file in the way, disk)
    "unsafe_path",           # an output path from data (clip id, a symlinked folder) would leave the root
    "bad_option",            # an option the encoder cannot honour for this clip
)
