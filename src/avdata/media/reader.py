"""Read what clips need from one video, in one process, with one open container (PyAV).

``MediaReader`` opens a file once and probes it (duration, streams, the file's time origin).
``read_span`` then seeks once per clip and demuxes the clip's span a single time: audio packets
are decoded on the fly and trimmed to the exact sample range; video packets are kept (compressed)
so that only the frames the requested timestamps need are decoded. Per group of pictures it
decodes from the keyframe to the last frame wanted in it, which is never more work than either
seeking to every timestamp or decoding the whole span forward; non-reference frames that no
output needs are skipped by the decoder outright. (Going on from one span into the next one's
GOP would need the decoder to survive the seek, but PyAV's ``container.seek`` flushes every
decoder of the container.) Audio is decoded from ``AUDIO_PREROLL`` before the span, not from the
keyframe the seek landed on. FFmpeg's AAC decoder keeps its noise generator across flushes, so
PNS bands differ by about -80 dB with the decoding history: audio is exact in timing and length,
not bit-identical between reading orders.

All times here are in the file's own timeline: 0 is the container's start time (its first
timestamp; a negative start, codec priming, counts as 0), so files that start at 30 s or 1.4 s
(MPEG-TS) read the same as files that start at 0. ``duration`` runs from there to the last
timestamp: taken from the streams' sample tables where the container has them (MP4/MOV), else
from the last packets of the file, never from a Matroska header alone (it may count the start
offset or be bogus). A seek that lands after what a span needs (MPEG-TS seeks by bytes) is
retried further back, finally from the start of the file.
"""

from __future__ import annotations

import bisect
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from avdata.errors import MediaError

AUDIO_PREROLL = 0.5   # seconds decoded before a clip so codecs with overlap (AAC, Opus) settle
SEEK_RETREATS = (0.0, 2.0, 10.0, 60.0, None)   # seconds further back per retry; None: from the start
SHARED_READ_GAP = 4.0       # read_spans: spans closer than this (s) share one pass ...
SHARED_READ_LENGTH = 60.0   # ... of at most this many seconds (bounds the audio held)


@dataclass
class Span:
    """What ``read_span`` returns: exact audio samples and the frames taken for each timestamp."""

    audio: np.ndarray | None = None            # float32 (channels, n) at ``sample_rate``
    sample_rate: int = 0
    layout: str = ""
    audio_start_sample: int = 0                # file-timeline index of audio[:, 0]
    frames: list[av.VideoFrame | None] = field(default_factory=list)   # None: could not decode
    frame_times: list[float | None] = field(default_factory=list)     # file-timeline seconds
    frames_decoded: int = 0


@dataclass
class _AudioPiece:
    """A decoded audio frame: its position by timestamp (samples, unrounded), length, and its
    samples when it may fall in the wanted range (else None: only its timing is kept)."""

    pos: float | None
    n: int
    data: np.ndarray | None

    @classmethod
    def of(cls, frame: av.AudioFrame, rate: int, lo: int, hi: int, origin: Fraction = Fraction(0)) -> _AudioPiece:
        pos = None
        if frame.pts is not None:
            tb = frame.time_base                 # int / int: the exact ratio, correctly rounded
            pos = (float((frame.pts * tb - origin) * rate) if origin
                   else frame.pts * tb.numerator * rate / tb.denominator)
        n = frame.samples
        data = None
        if pos is None or (pos + n > lo and pos < hi):
            data = frame.to_ndarray()
            if frame.format.is_packed:
                data = data.reshape(-1, frame.layout.nb_channels).T
            data = _as_float32(data, frame.format.name)
        return cls(pos, n, data)


def _place_audio(pieces: list[_AudioPiece], rate: int, time_base: Fraction, s0: int,
                 s1: int) -> list[tuple[int, np.ndarray]]:
    """Sample positions of decoded pieces, cut to ``[s0, s1)``.

    Within a run of contiguous frames positions follow the sample count; the run's origin is the
    median of (timestamp - samples before), which is exact for sample-accurate time bases and
    within half a tick for coarse ones (WebM: 1 ms). A timestamp jump starts a new run.
    """
    half_tick = float(time_base * rate) / 2 if time_base else 0.0
    jump = max(2.0, 2 * half_tick + 1, rate / 500)
    runs: list[list[tuple[int, _AudioPiece]]] = []      # (samples before in run, piece)
    origins: list[list[float]] = []                      # per run, kept sorted (running median)
    cum = 0
    for piece in pieces:
        if runs and piece.pos is not None and origins[-1]:
            est = _sorted_median(origins[-1]) + cum
            if abs(piece.pos - est) > jump:
                runs.append([])
                origins.append([])
                cum = 0
        if not runs:
            runs.append([])
            origins.append([])
        runs[-1].append((cum, piece))
        if piece.pos is not None:
            bisect.insort(origins[-1], piece.pos - cum)
        cum += piece.n
    chunks: list[tuple[int, np.ndarray]] = []
    for run, org in zip(runs, origins):
        if not org:
            continue
        origin = int(round(_sorted_median(org)))
        for before, piece in run:
            first = origin + before
            if piece.data is None or first + piece.n <= s0 or first >= s1:
                continue
            lo, hi = max(0, s0 - first), min(piece.n, s1 - first)
            chunks.append((first + lo, piece.data[:, lo:hi]))
    return chunks


def _sorted_median(values: list[float]) -> float:
    """Median of an already sorted non-empty list (as ``np.median``)."""
    n = len(values)
    return (values[(n - 1) // 2] + values[n // 2]) / 2


@dataclass
class _Pkt:
    packet: av.Packet
    pts: int
    dts: int
    key: bool


def _deadline_check(deadline: float | None, where: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise MediaError("timeout", f"time limit reached while {where}")


class MediaReader:
    """An open media file: ``duration``, ``has_audio``, ``has_video``; use as a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        try:
            if os.path.getsize(self.path) == 0:
                raise MediaError("unreadable", f"{self.path}: empty file")
            self.container = av.open(self.path, "r")
        except MediaError:
            raise
        except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
            raise MediaError("unreadable", f"{self.path}: {e}") from e
        self._take_streams()
        if self.vstream is None and self.astream is None:
            self.close()
            raise MediaError("unreadable", f"{self.path}: no audio or video stream")
        c = self.container
        self.origin = max(Fraction(0), Fraction(c.start_time or 0, av.time_base))
        self.claimed_duration = (max(0.0, float(Fraction(c.duration, av.time_base) - self.origin))
                                 if c.duration else None)    # the header's word, maybe wrong
        self.duration = self._probe_duration()

    def _take_streams(self) -> None:
        c = self.container
        self.vstream = c.streams.video[0] if c.streams.video else None
        self.astream = c.streams.audio[0] if c.streams.audio else None
        for s in (self.vstream, self.astream):
            if s is not None:
                s.thread_count = 1             # one decoder thread per worker
                s.thread_type = "SLICE"
        self._fresh = True                     # nothing demuxed yet: positioned at the start

    # -- probing ---------------------------------------------------------------------------
    def _probe_duration(self) -> float:
        """First timestamp to last: the streams' own durations (MP4/MOV sample tables) when they
        have them, else the end of the last packets (a seek to the end), else the header's."""
        c = self.container
        ends = [float(s.duration * s.time_base + (s.start_time or 0) * s.time_base - self.origin)
                for s in (self.vstream, self.astream) if s is not None and s.duration]
        if ends and max(ends) > 0:
            return max(ends)
        tail = self._tail_end()
        if tail is not None:
            return tail
        if self.claimed_duration:
            return self.claimed_duration
        return self._scan_end(c.demux())

    def _scan_end(self, packets: Iterator[av.Packet]) -> float:
        last = 0.0
        self._fresh = False
        try:
            for p in packets:
                if p.pts is not None and p.time_base is not None and p.size:
                    last = max(last, float((p.pts + (p.duration or 0)) * p.time_base - self.origin))
        except av.FFmpegError:
            pass
        return last

    def _tail_end(self) -> float | None:
        """End of the last packets: seek to the last keyframe (a seek far past any end) and demux
        to EOF; None when the file cannot seek there."""
        try:
            self.container.seek(1 << 52, backward=True)
        except (av.FFmpegError, OverflowError, ValueError):
            return None
        last = self._scan_end(self.container.demux())
        return last if last > 0 else None

    def _reopen(self) -> None:
        self.container.close()
        self.container = av.open(self.path, "r")
        self._take_streams()

    @property
    def sample_rate(self) -> int:
        return self.astream.codec_context.sample_rate if self.astream is not None else 0

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> MediaReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------
    def _seek(self, t: float) -> None:
        if t <= 0:
            # Read the start from the start: a seek would skip the packets before time 0 (AAC
            # priming) that the first real samples need, so reopen instead unless still there.
            if not self._fresh:
                self._reopen()
            self._fresh = False
            return
        self._fresh = False
        anchor = self.vstream if self.vstream is not None else self.astream
        assert anchor is not None                   # a reader has at least one stream
        target = self.origin + Fraction(max(0.0, t)).limit_denominator(1_000_000)
        try:
            self.container.seek(int(math.floor(target / anchor.time_base)), stream=anchor, backward=True)
        except av.FFmpegError:
            self.container.seek(0)
        for s in (self.vstream, self.astream):
            if s is not None:
                s.codec_context.flush_buffers()

    def read_span(self, start: float, end: float, frame_times: list[float], *, audio: bool = True,
                  deadline: float | None = None, skip_nonref: bool = True) -> Span:
        """Audio samples ``[round(start*rate), round(end*rate))`` (fewer where the audio ends
        sooner) and, for each of ``frame_times``, the first frame at or after it (the last frame
        when none is). Times are seconds of the file's timeline."""
        want_audio = audio and self.astream is not None
        want_video = bool(frame_times) and self.vstream is not None
        span = Span()
        if not want_audio and not want_video:
            return span
        first = min([start] + frame_times)
        for back in SEEK_RETREATS:
            at = first - AUDIO_PREROLL - back if back is not None else 0.0
            self._seek(at)
            decoded, packets = self._demux_span(start, end, frame_times, want_audio, want_video, deadline)
            if at <= 0 or not self._landed_late(decoded, packets, start, first, want_audio, want_video):
                break
        if want_audio:
            assert self.astream is not None
            rate = self.sample_rate
            s0, s1 = int(round(start * rate)), int(round(end * rate))
            span.sample_rate = rate
            span.layout = self.astream.codec_context.layout.name
            span.audio_start_sample = s0
            chunks = _place_audio(decoded, rate, self.astream.time_base, s0, s1)
            span.audio = self._assemble(chunks, s0, s1, self.astream.codec_context.channels)
        if want_video:
            self._decode_frames(packets, frame_times, span, deadline, skip_nonref)
        return span

    def read_frames(self, start: float, end: float, *, deadline: float | None = None
                    ) -> list[tuple[float, av.VideoFrame]]:
        """Every picture shown in ``[start, end)`` (file timeline) with its time, starting with
        the one on screen at ``start``. For re-encoding a clip's video."""
        if self.vstream is None:
            return []
        vtb = self.vstream.time_base
        for back in SEEK_RETREATS:
            at = start - back if back is not None else 0.0
            self._seek(at)
            before: tuple[float, av.VideoFrame] | None = None     # latest frame at or before start
            inside: list[tuple[float, av.VideoFrame]] = []
            first: float | None = None
            for packet in [*self._video_packets(), None]:
                _deadline_check(deadline, f"reading {self.path}")
                stop = False
                for frame in self._decode(self.vstream, packet):
                    if frame.pts is None:
                        continue
                    t = float(frame.pts * vtb - self.origin)
                    first = t if first is None else min(first, t)
                    if t >= end - 1e-9:
                        stop = True
                    elif t <= start + 1e-9:
                        if before is None or t >= before[0]:
                            before = (t, frame)
                    else:
                        inside.append((t, frame))
                if stop:
                    break
            if at <= 0 or (first is not None and first <= start + 1e-6):
                break
        inside.sort(key=lambda x: x[0])
        return ([before] if before is not None else []) + inside

    def _video_packets(self) -> Iterator[av.Packet]:
        try:
            for packet in self.container.demux(self.vstream):
                if packet.size:
                    yield packet
        except av.FFmpegError:
            return

    def read_spans(self, requests: Sequence[tuple[float, float, list[float]]], *, deadline: float | None = None,
                   max_gap: float = SHARED_READ_GAP, max_length: float = SHARED_READ_LENGTH,
                   ) -> Iterator[tuple[int, Span | MediaError]]:
        """``read_span`` for many ``(start, end, frame_times)`` of this file, yielding
        ``(index, span or error)`` in time order. Spans less than ``max_gap`` s apart are read in
        one pass (up to ``max_length`` s): one seek, one demux, the decoder going on from one
        clip's frames to the next, where separate reads would each decode from a keyframe again
        (consecutive 5 s windows of a video are the usual AudioScope case). Each span's audio is
        the same samples a separate read gives."""
        def first(i: int) -> float:
            return min([requests[i][0], *requests[i][2]])

        def last(i: int) -> float:
            return max([requests[i][1], *requests[i][2]])

        group: list[int] = []
        g0 = g1 = 0.0
        for i in sorted(range(len(requests)), key=first):
            if group and first(i) - g1 <= max_gap and last(i) - g0 <= max_length:
                group.append(i)
                g1 = max(g1, last(i))
                continue
            if group:
                yield from self._read_group(requests, group, deadline)
            group, g0, g1 = [i], first(i), last(i)
        if group:
            yield from self._read_group(requests, group, deadline)

    def _read_group(self, requests: Sequence[tuple[float, float, list[float]]], group: list[int],
                    deadline: float | None) -> Iterator[tuple[int, Span | MediaError]]:
        if len(group) == 1:
            i = group[0]
            try:
                yield i, self.read_span(*requests[i], deadline=deadline)
            except MediaError as e:
                yield i, e
            return
        g0 = min(requests[i][0] for i in group)
        g1 = max(requests[i][1] for i in group)
        times = sorted({t for i in group for t in requests[i][2]})
        try:
            whole = self.read_span(g0, g1, times, deadline=deadline)
        except MediaError:
            for i in group:                          # find which span the error belongs to
                yield from self._read_group(requests, [i], deadline)
            return
        rate = whole.sample_rate
        frame_at = {t: (f, ft) for t, f, ft in zip(times, whole.frames, whole.frame_times)}
        for i in group:
            start, end, wanted = requests[i]
            span = Span(sample_rate=rate, layout=whole.layout, frames_decoded=whole.frames_decoded)
            if whole.audio is not None:
                s0 = int(round(start * rate)) - whole.audio_start_sample
                s1 = int(round(end * rate)) - whole.audio_start_sample
                span.audio = whole.audio[:, s0:s1]
                span.audio_start_sample = s0 + whole.audio_start_sample
            for t in wanted:
                frame, ft = frame_at.get(t, (None, None))
                span.frames.append(frame)
                span.frame_times.append(ft)
            yield i, span

    def _landed_late(self, decoded: list[_AudioPiece], packets: list[_Pkt], start: float, first: float,
                     want_audio: bool, want_video: bool) -> bool:
        """Did the seek land after what the span needs (no keyframe at or before the first frame
        wanted, or audio that starts after ``start``)? Then the caller seeks further back."""
        if want_video and packets:                  # no packets at all: the video ended before
            assert self.vstream is not None
            vtb = self.vstream.time_base
            keys = [p.pts * vtb.numerator / vtb.denominator - float(self.origin) for p in packets if p.key]
            if not keys or min(keys) > first + 1e-6:
                return True
        if want_audio:
            rate = self.sample_rate
            pos = [p.pos for p in decoded if p.pos is not None]
            if pos and min(pos) > start * rate + rate // 50 + 1:
                return True
        return False

    def _demux_span(self, start: float, end: float, frame_times: list[float], want_audio: bool,
                    want_video: bool, deadline: float | None) -> tuple[list[_AudioPiece], list[_Pkt]]:
        """Demux from where the last seek landed to the end of the span: decoded audio pieces and
        the video packets (still compressed)."""
        rate = self.sample_rate
        s0 = int(round(start * rate))
        s1 = int(round(end * rate))
        decoded: list[_AudioPiece] = []
        guard = rate // 50 + 1                    # 20 ms: more than any timestamp rounding
        audio_done = not want_audio
        last_t = max(frame_times) if want_video else 0.0
        video_done = not want_video
        vtb = self.vstream.time_base if self.vstream is not None else None
        origin = float(self.origin)
        packets: list[_Pkt] = []
        best_after: float | None = None           # smallest pts time >= last_t seen so far
        streams = [s for s, w in ((self.vstream, want_video), (self.astream, want_audio)) if w]
        # audio packets ending before this (stream ticks) are demuxed but not decoded: the
        # pre-roll is counted from the clip's start, not from the keyframe the seek landed on
        audio_from = None
        if want_audio:
            assert self.astream is not None
            atb = self.astream.time_base
            audio_from = math.floor((start - AUDIO_PREROLL + origin) * atb.denominator / atb.numerator)
        try:
            for packet in self.container.demux(*streams):
                _deadline_check(deadline, f"reading {self.path}")
                if packet.size == 0:
                    continue
                if packet.stream is self.astream and not audio_done:
                    if packet.pts is not None and packet.pts + (packet.duration or 0) < audio_from:
                        continue
                    for frame in self._decode(self.astream, packet):
                        decoded.append(_AudioPiece.of(frame, rate, s0 - guard, s1 + guard, self.origin))
                    if decoded and decoded[-1].pos is not None and decoded[-1].pos >= s1 + guard:
                        audio_done = True
                elif packet.stream is self.vstream and not video_done:
                    pts = packet.pts if packet.pts is not None else packet.dts
                    if pts is None or vtb is None:
                        continue
                    dts = packet.dts if packet.dts is not None else pts
                    packets.append(_Pkt(packet, pts, dts, bool(packet.is_keyframe)))
                    t = pts * vtb.numerator / vtb.denominator - origin
                    if t >= last_t - 1e-9 and (best_after is None or t < best_after):
                        best_after = t
                    if best_after is not None and dts * vtb.numerator / vtb.denominator - origin > best_after + 1e-9:
                        video_done = True
                if audio_done and video_done:
                    break
            if not audio_done:
                for frame in self._decode(self.astream, None):
                    decoded.append(_AudioPiece.of(frame, rate, s0 - guard, s1 + guard, self.origin))
        except av.FFmpegError as e:
            if not decoded and not packets:
                raise MediaError("decode_error", f"{self.path}: {e}") from e
        return decoded, packets

    def _decode(self, stream: av.stream.Stream, packet: av.Packet | None) -> list[av.frame.Frame]:
        try:
            return stream.codec_context.decode(packet)
        except av.error.EOFError:
            return []
        except av.FFmpegError:
            return []                            # a damaged packet: skip it, keep going

    @staticmethod
    def _assemble(chunks: list[tuple[int, np.ndarray]], s0: int, s1: int, channels: int) -> np.ndarray:
        """Place decoded pieces at their sample positions; a gap inside is silence; the result
        stops where the last audio stops (a source that ends sooner gives fewer samples)."""
        if not chunks:
            return np.zeros((channels, 0), np.float32)
        stop = min(s1, max(pos + c.shape[1] for pos, c in chunks))
        out = np.zeros((chunks[0][1].shape[0], stop - s0), np.float32)
        for pos, c in chunks:
            k = min(c.shape[1], stop - pos)
            out[:, pos - s0: pos - s0 + k] = c[:, :k]
        return out

    def _decode_frames(self, packets: list[_Pkt], frame_times: list[float], span: Span,
                       deadline: float | None, skip_nonref: bool) -> None:
        """Decode only what the targets need: per target, from its GOP's keyframe to it."""
        vs = self.vstream
        assert vs is not None
        vtb = vs.time_base
        # presentation order of the frames the span holds, and where each sits in decode order
        order = sorted(range(len(packets)), key=lambda i: packets[i].pts)
        origin = float(self.origin)
        times = [packets[i].pts * vtb.numerator / vtb.denominator - origin for i in order]
        first_key = next((i for i, p in enumerate(packets) if p.key), None)
        if first_key is None or not times:
            return
        wanted: list[int] = []                      # decode-order index of each target frame
        for t in frame_times:
            j = bisect.bisect_left(times, t - 1e-6)
            wanted.append(order[min(j, len(order) - 1)])
        # targets before the first keyframe (decode order) cannot be decoded from this span
        wanted = [max(w, first_key) for w in wanted]
        need_pts = {packets[w].pts for w in wanted}
        got: dict[int, av.VideoFrame] = {}
        ctx = vs.codec_context
        key_before = [0] * len(packets)
        k = first_key
        for i, p in enumerate(packets):
            if p.key:
                k = i
            key_before[i] = k if i >= first_key else first_key
        pos = -1                                    # last packet fed to the decoder
        for w in sorted(set(wanted)):
            if packets[w].pts in got:
                continue
            if pos + 1 < key_before[w]:             # nothing between is needed: jump ahead
                ctx.flush_buffers()
                pos = key_before[w] - 1
            while packets[w].pts not in got and pos < len(packets) - 1:
                _deadline_check(deadline, f"decoding {self.path}")
                pos += 1
                p = packets[pos]
                if skip_nonref:
                    ctx.skip_frame = "DEFAULT" if p.pts in need_pts else "NONREF"
                for frame in self._decode(vs, p.packet):
                    span.frames_decoded += 1
                    if frame.pts in need_pts:
                        got[frame.pts] = frame
            if packets[w].pts not in got and pos >= len(packets) - 1:   # end of span: drain
                ctx.skip_frame = "DEFAULT"
                for frame in self._decode(vs, None):
                    span.frames_decoded += 1
                    if frame.pts in need_pts:
                        got[frame.pts] = frame
                ctx.flush_buffers()
                pos = len(packets)
        ctx.skip_frame = "DEFAULT"
        for w in wanted:
            frame = got.get(packets[w].pts)
            span.frames.append(frame)
            span.frame_times.append(float(packets[w].pts * vtb - self.origin) if frame is not None else None)


def _as_float32(data: np.ndarray, fmt: str) -> np.ndarray:
    if data.dtype == np.float32:
        return data
    if data.dtype == np.float64:
        return data.astype(np.float32)
    scale = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0,
             np.dtype(np.uint8): 128.0}.get(data.dtype)
    if scale is None:
        raise MediaError("decode_error", f"unsupported audio sample format {fmt}")
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / scale
    return data.astype(np.float32) / scale
