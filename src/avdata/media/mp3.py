"""MP3 encoding with LAME through ``lameenc``, plus the LAME "Info" tag frame that lameenc omits.

``encode_mp3`` encodes PCM as CBR at one bitrate and LAME algorithm quality, then puts a first
frame in front of the audio that carries a Xing "Info" (CBR) header and LAME's extension: frame
count, byte count, seek table, encoder delay and padding (12 + 12 bits), music length and CRC, and
the tag's own CRC-16. FFmpeg's mp3 demuxer (``mp3_parse_info_tag``) reads it and trims
``delay + 529`` samples at the start and the padding at the end, so the file decodes to exactly the
samples that went in. The tag frame itself holds no audio (empty side information: silence for a
decoder that does not know the tag). LAME's delay is 576 samples at every rate (measured: the
signal starts 576 + 529 samples into a bare stream's FFmpeg decode at 8..48 kHz).

One FFmpeg limit: at the MPEG-2/2.5 rates (8..24 kHz, 576-sample frames) the start trim spans two
frames, and a clip so short (under 48 samples) that its end is cut in the second frame comes out
529 samples long, because the demuxer's end-trim side data resets the decoder's pending skip.
FFmpeg's own libmp3lame + mp3 muxer output behaves the same.

Layout (after the 4-byte frame header and the side information; LAME ``VbrTag.c``):
``"Info"``, flags (frames | bytes | TOC | quality), frames, bytes, TOC[100], quality, then the LAME
extension: version (9), revision/method, lowpass, peak (4), radio and audiophile gain (2 + 2),
flags/ATH, bitrate, delay/padding (3), misc, MP3 gain, preset/surround (2), music length (4),
music CRC (2), tag CRC (2) over every byte of the frame before it.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import lameenc
import numpy as np

from avdata.errors import AvdataError, OptionError

LAME_DEFAULT_QUALITY = 3       # lame_init()'s algorithm quality; ffmpeg keeps it when -compression_level is unset
ENCODER_DELAY = 576            # LAME 3.100's encoder delay (ENCDELAY) at every MPEG-1/2/2.5 rate
DECODER_DELAY = 528 + 1        # what FFmpeg adds to the tag's delay (mp3dec.c: start_pad + 528 + 1)
LAME_VERSION = b"LAME3.100"    # decoders only trust the delay fields when the version says LAME
MAX_PAD = 4095                 # 12-bit fields

# (MPEG version id in the header: 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5) -> sample rates by index
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_KBPS = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
MP3_RATES = tuple(sorted(r for rates in _RATES.values() for r in rates))
MP3_KBPS = {3: _KBPS[3][1:], 2: _KBPS[2][1:]}    # MPEG-1 rates; MPEG-2 and 2.5 rates
_FLAGS = 0x0001 | 0x0002 | 0x0004 | 0x0008   # frames, bytes, TOC, quality fields present
_TAG_BYTES = 4 + 4 + 4 + 4 + 100 + 4 + 36    # "Info" .. tag CRC


@dataclass(frozen=True)
class FrameHeader:
    """One MPEG audio layer III frame header."""

    version: int              # 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5
    kbps: int
    sample_rate: int
    padding: int
    mono: bool
    raw: bytes                # the 4 header bytes

    @property
    def samples(self) -> int:
        return 1152 if self.version == 3 else 576

    @property
    def side_info(self) -> int:
        if self.version == 3:
            return 17 if self.mono else 32
        return 9 if self.mono else 17

    @property
    def size(self) -> int:
        return frame_size(self.version, self.kbps, self.sample_rate, self.padding)


def frame_size(version: int, kbps: int, sample_rate: int, padding: int = 0) -> int:
    return (144 if version == 3 else 72) * kbps * 1000 // sample_rate + padding


def parse_header(data: bytes, pos: int) -> FrameHeader:
    """The layer III frame header at ``data[pos:pos + 4]`` (AvdataError if there is none)."""
    b = data[pos:pos + 4]
    if len(b) < 4 or b[0] != 0xFF or b[1] & 0xE0 != 0xE0:
        raise AvdataError(f"no MPEG audio frame at byte {pos}")
    version, layer = (b[1] >> 3) & 3, (b[1] >> 1) & 3
    kbps_index, rate_index = b[2] >> 4, (b[2] >> 2) & 3
    if version == 1 or layer != 1 or kbps_index in (0, 15) or rate_index == 3:
        raise AvdataError(f"not a layer III CBR frame header at byte {pos}: {b.hex()}")
    kbps = _KBPS[3 if version == 3 else 2][kbps_index]
    return FrameHeader(version, kbps, _RATES[version][rate_index], (b[2] >> 1) & 1, b[3] >> 6 == 3, bytes(b))


def frame_offsets(data: bytes) -> list[int]:
    """Start of every frame in a bare layer III stream (no tags), checked to end exactly."""
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += parse_header(data, pos).size
    if pos != len(data):
        raise AvdataError(f"MPEG audio stream ends mid-frame ({len(data)} bytes, last frame ends at {pos})")
    return offsets


# -- CRC-16 (polynomial 0x8005 bit-reversed, initial value 0: LAME's crc16_lookup, FFmpeg's AV_CRC_16_ANSI_LE)
def _crc_table() -> np.ndarray:
    table = np.zeros(256, np.uint16)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table[i] = c
    return table


_CRC_TABLE = _crc_table()
_CRC_LIST = [int(x) for x in _CRC_TABLE]
_CHUNK = 256


@functools.cache
def _shift_tables(nbytes: int) -> tuple[list[int], list[int]]:
    """CRC state after ``nbytes`` zero bytes, from each low and each high state byte (CRC is linear)."""
    state = np.concatenate([np.arange(256, dtype=np.uint16), np.arange(256, dtype=np.uint16) << 8])
    for _ in range(nbytes):
        state = (state >> 8) ^ _CRC_TABLE[state & 0xFF]
    return [int(x) for x in state[:256]], [int(x) for x in state[256:]]


def crc16(data: bytes) -> int:
    """CRC-16/ARC of ``data``. Long inputs are cut into chunks whose CRCs are computed side by side
    with numpy and then joined (crc(A + B) = shift(crc(A), len(B)) ^ crc(B)); zero bytes in front
    of a message leave its CRC unchanged, which pads it to whole chunks."""
    if len(data) < 4 * _CHUNK:
        crc = 0
        for b in data:
            crc = (crc >> 8) ^ _CRC_LIST[(crc ^ b) & 0xFF]
        return crc
    buf = np.frombuffer(data, np.uint8)
    buf = np.concatenate([np.zeros(-len(buf) % _CHUNK, np.uint8), buf]).reshape(-1, _CHUNK)
    states = np.zeros(buf.shape[0], np.uint16)
    for j in range(_CHUNK):
        states = (states >> 8) ^ _CRC_TABLE[(states ^ buf[:, j]) & 0xFF]
    low, high = _shift_tables(_CHUNK)
    crc = 0
    for s in states.tolist():
        crc = low[crc & 0xFF] ^ high[crc >> 8] ^ s
    return crc


# -- encoding -----------------------------------------------------------------------------------
def pcm_int16(samples: np.ndarray) -> np.ndarray:
    """(channels, n) float in [-1, 1] (or int16) -> interleaved int16, shape (n * channels,)."""
    if samples.dtype == np.int16:
        return np.ascontiguousarray(samples.T).reshape(-1)
    scaled = np.empty(samples.shape[::-1], np.float32)       # (n, channels): interleaved order
    np.clip(samples.T, -1.0, 32767 / 32768, out=scaled)
    scaled *= 32768
    return scaled.astype(np.int16).reshape(-1)


def mp3_kbps_for(rate: int, kbps: int, *, strict: bool = False) -> int:
    """The CBR bitrate LAME writes at ``rate`` for ``kbps``: itself when the rate's MPEG version
    has it, else the nearest it has (``strict``: raise ``OptionError`` instead)."""
    table = MP3_KBPS[3] if rate in _RATES[3] else MP3_KBPS[2]
    if kbps in table:
        return kbps
    if strict:
        raise OptionError(f"MP3 at {rate} Hz has bitrates {', '.join(map(str, table))} kbit/s; got {kbps}")
    return min(table, key=lambda k: (abs(k - kbps), -k))


def lame_encode(pcm: np.ndarray, rate: int, channels: int, bitrate: int, quality: int) -> bytes:
    """Bare LAME CBR stream (no tag frame) of interleaved int16 ``pcm``."""
    enc = lameenc.Encoder()
    enc.set_bit_rate(bitrate // 1000)
    enc.set_in_sample_rate(rate)
    enc.set_out_sample_rate(rate)          # never let LAME pick another output rate
    enc.set_channels(channels)
    enc.set_quality(quality)
    return bytes(enc.encode(pcm.tobytes())) + bytes(enc.flush())


def encode_mp3(samples: np.ndarray, rate: int, bitrate: int = 128_000, quality: int | None = None) -> bytes:
    """MP3 (CBR ``bitrate`` bit/s, LAME algorithm ``quality`` 0..9, default LAME's 3) of (channels, n)
    float or int16 ``samples`` at ``rate``; it decodes with FFmpeg to exactly n samples per channel."""
    channels, n = samples.shape
    if channels not in (1, 2):
        raise AvdataError(f"MP3 holds 1 or 2 channels; got {channels}")
    if rate not in MP3_RATES:
        raise AvdataError(f"MP3 sample rate must be one of {', '.join(map(str, MP3_RATES))}; got {rate}")
    quality = LAME_DEFAULT_QUALITY if quality is None else quality
    if not 0 <= quality <= 9:
        raise AvdataError(f"mp3 quality must be 0..9; got {quality}")
    try:
        audio = lame_encode(pcm_int16(samples), rate, channels, bitrate, quality)
    except RuntimeError as e:             # lameenc's error for settings LAME refuses
        raise AvdataError(f"LAME refused {bitrate} bit/s, {rate} Hz, {channels} channels: {e}") from e
    offsets = frame_offsets(audio)
    if not offsets:
        raise AvdataError("LAME produced no MP3 frame")
    return info_frame(audio, offsets, n, quality) + audio


def info_frame(audio: bytes, offsets: list[int], n_samples: int, quality: int) -> bytes:
    """The Xing "Info" + LAME tag frame for the bare CBR stream ``audio`` holding ``n_samples``."""
    first = parse_header(audio, 0)
    padding = len(offsets) * first.samples - ENCODER_DELAY - n_samples
    if not 0 <= padding <= MAX_PAD:
        raise AvdataError(f"LAME stream of {len(offsets)} frames cannot hold {n_samples} samples after "
                          f"a {ENCODER_DELAY}-sample delay (padding {padding})")
    # the tag frame: the audio's bitrate if the tag fits (it always does from 48 kbit/s MPEG-1 or
    # 24 kbit/s MPEG-2 up), else the smallest bitrate that holds it; never decoded as audio
    need = 4 + first.side_info + _TAG_BYTES
    table = _KBPS[3 if first.version == 3 else 2]
    kbps = first.kbps
    if frame_size(first.version, kbps, first.sample_rate) < need:
        kbps = next((k for k in table[1:] if frame_size(first.version, k, first.sample_rate) >= need), 0)
        if not kbps:
            raise AvdataError(f"no {first.sample_rate} Hz frame is large enough for the LAME tag")
    size = frame_size(first.version, kbps, first.sample_rate)
    total = size + len(audio)
    h = first.raw
    header = bytes([h[0], h[1] | 0x01,                                  # no CRC protection
                    (table.index(kbps) << 4) | (h[2] & 0x0D),          # bitrate; rate, private; no padding
                    h[3]])
    toc = bytes(min(255, (size + offsets[i * len(offsets) // 100]) * 256 // total) for i in range(100))
    xing = b"Info" + struct.pack(">III", _FLAGS, len(offsets), total) + toc
    xing += struct.pack(">I", max(0, 100 - 10 * 4 - quality))          # LAME: 100 - 10 * VBR_q(4) - quality
    stereo_mode = 0 if first.mono else (3 if first.raw[3] >> 6 == 1 else 1)
    source_freq = 0 if first.sample_rate <= 32000 else (2 if first.sample_rate == 48000 else 1)
    lame = LAME_VERSION + bytes([
        0x01,                                     # revision 0, method 1 = CBR
        0,                                        # lowpass: not known through lameenc
    ]) + struct.pack(">IHH", 0, 0, 0) + bytes([  # peak, radio gain, audiophile gain: not computed
        0,                                        # flags / ATH type: not known through lameenc
        min(255, first.kbps),                     # CBR bitrate
    ]) + bytes([ENCODER_DELAY >> 4, ((ENCODER_DELAY & 0xF) << 4) | (padding >> 8), padding & 0xFF]) + bytes([
        (stereo_mode << 2) | (source_freq << 6),  # misc: noise shaping unknown (0)
        0,                                        # MP3 gain
    ]) + struct.pack(">HIH", 0, total, crc16(audio))   # preset/surround, music length, music CRC
    frame = bytearray(size)
    frame[:4] = header
    body = xing + lame
    start = 4 + first.side_info
    frame[start:start + len(body)] = body
    end = start + len(body)
    frame[end:end + 2] = struct.pack(">H", crc16(bytes(frame[:end])))
    return bytes(frame)
