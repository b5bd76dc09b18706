"""``youtube`` and ``ytdlp:URL_TEMPLATE``: yt-dlp used as a library (never a subprocess).

Each id is checked (11 characters of ``[A-Za-z0-9_-]`` for YouTube) and only ever placed inside a
URL (``https://www.youtube.com/watch?v={id}``), so an id beginning with ``-`` is never an option.
With sections on, only the span the clips need is downloaded (yt-dlp's ``download_ranges``, which
runs ffmpeg); when that fails (no ffmpeg, a format or server without range support) the whole
video is downloaded instead. ffmpeg: ``FetchOptions.ffmpeg``, else imageio-ffmpeg's binary when
that package is installed, else ``ffmpeg`` on PATH. The local file starts at source second
``offset`` = the section start (to within one frame; ``exact_cuts`` re-encodes for exact cuts).
"""

from __future__ import annotations

import contextvars
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from avdata.atomic import temp_stem
from avdata.errors import AvdataError, DiskFullError, FetchError, MissingExtraError
from avdata.fetch.backend import (
    FetchContext,
    Fetched,
    FetchJob,
    output_file,
    register_backend,
    remove_quietly,
    youtube_file_name,
)
from avdata.fetch.classify import (
    classify_exception,
    classify_message,
    classify_status,
    http_status,
    one_line,
    redact,
    retry_after,
)
from avdata.fetch.limits import DownloadClock
from avdata.fetch.media_check import verify_media
from avdata.fetch.options import FetchOptions
from avdata.fetch.sections import hull
from avdata.paths import is_youtube_id, safe_name

YOUTUBE_URL = "https://www.youtube.com/watch?v={id}"
_log = logging.getLogger(__name__)


def default_format(max_height: int) -> str:
    """Best MP4 with audio no taller than ``max_height`` (unknown heights allowed), then fallbacks."""
    h = int(max_height)
    return (f"b[ext=mp4][height<=?{h}][acodec!=none]/bv*[ext=mp4][height<=?{h}]+ba[ext=m4a]"
            f"/b[height<=?{h}][acodec!=none]/bv*[height<=?{h}]+ba/b")


def find_ffmpeg(explicit: Path | None) -> str | None:
    """The ffmpeg executable to hand to yt-dlp (see the module docstring), or None."""
    if explicit is not None:
        return str(explicit)
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


class _QuietLogger:
    """yt-dlp logger: keep yt-dlp off the terminal; debug log only."""

    def debug(self, msg: str) -> None:
        _log.debug("%s", msg)

    info = debug
    warning = debug

    def error(self, msg: str) -> None:
        _log.debug("%s", msg)


def classify_ytdlp_error(e: BaseException) -> FetchError:
    """Map a yt-dlp DownloadError to an error class (removed/private/age/geo: permanent; 5xx,
    timeouts, resets, 429: transient)."""
    msg = one_line(str(e).removeprefix("ERROR: "))
    inner = getattr(e, "exc_info", None)
    inner_exc = inner[1] if inner and len(inner) > 1 else None
    if isinstance(inner_exc, FetchError):
        return inner_exc
    status = http_status(inner_exc) if isinstance(inner_exc, BaseException) else None
    if status is not None and status >= 400:
        err = classify_status(status, msg, retry_after(inner_exc) if isinstance(inner_exc, BaseException) else None)
        if status == 403:   # YouTube answers 403 to throttled clients: worth another try
            return FetchError(err.error_class, err.message, transient=True)
        return err
    return classify_message(msg)


@dataclass
class YtDlpBackend:
    url_template: str
    options: FetchOptions
    name: str = "youtube"
    youtube_ids_only: bool = True
    rechecks_failures: bool = False

    def __post_init__(self) -> None:
        if "{id}" not in self.url_template:
            raise AvdataError(f"yt-dlp URL template {self.url_template!r} needs an {{id}} placeholder")
        self.ffmpeg = find_ffmpeg(self.options.ffmpeg)

    def video_id(self, job: FetchJob) -> str:
        if job.kind != "youtube":
            raise FetchError("bad_source", f"{job.source!r}: the {self.name} backend takes video ids, "
                             f"not paths (source_kind {job.kind!r})")
        ok = is_youtube_id(job.source) if self.youtube_ids_only else _is_safe_name(job.source)
        if not ok:
            raise FetchError("bad_source", f"{job.source!r}: not a valid video id")
        return job.source

    def url_for(self, video_id: str) -> str:
        return self.url_template.replace("{id}", quote(video_id, safe=""))

    def fetch(self, job: FetchJob, ctx: FetchContext) -> Fetched:
        vid = self.video_id(job)
        url = self.url_for(vid)
        ctx.ensure_space(0)
        if self.options.sections and job.sections and self.ffmpeg:
            section = hull(job.sections)
            try:
                return self._download(job, url, vid, ctx, section)
            except FetchError as e:
                if e.error_class not in ("tool_error", "unknown"):
                    raise
                _log.debug("%s: section download failed (%s); fetching the whole video", vid, e)
        return self._download(job, url, vid, ctx, None)

    def ydl_options(self, outtmpl: str, ctx: FetchContext, section: tuple[float, float] | None) -> dict[str, Any]:
        o = self.options
        opts: dict[str, Any] = {
            "outtmpl": {"default": outtmpl},
            "format": o.format or default_format(o.max_height),
            "merge_output_format": "mp4",
            "noplaylist": True,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "logger": _QuietLogger(),
            "overwrites": True,
            "continuedl": False,
            "nopart": False,
            "retries": 1,
            "fragment_retries": 3,
            "extractor_retries": 0,
            "socket_timeout": o.timeout,
            "progress_hooks": [_progress_hook(ctx, DownloadClock("yt-dlp download", o.max_time, o.min_rate,
                                                                 o.rate_window))],
        }
        if self.ffmpeg:
            opts["ffmpeg_location"] = self.ffmpeg
        if o.cookies:
            opts["cookiefile"] = str(o.cookies)
        if o.rate_limit:
            opts["ratelimit"] = int(o.rate_limit)
        if o.sleep:
            opts["sleep_interval"] = float(o.sleep)
        if ctx.proxy or o.proxy:
            opts["proxy"] = ctx.proxy or o.proxy
        if section is not None:
            import yt_dlp.utils

            opts["download_ranges"] = yt_dlp.utils.download_range_func(None, [section])
            opts["force_keyframes_at_cuts"] = bool(o.exact_cuts)
        return opts

    def _download(self, job: FetchJob, url: str, vid: str, ctx: FetchContext,
                  section: tuple[float, float] | None) -> Fetched:
        try:
            import yt_dlp
        except ImportError as e:
            raise MissingExtraError("yt-dlp", "youtube") from e
        out = Path(ctx.out).resolve()
        prefix = temp_stem()
        ctx.pace(url)
        opts = self.ydl_options(str(out / f"{prefix}.%(ext)s"), ctx, section)

        def run() -> dict[str, Any]:
            if self.ffmpeg:
                # yt-dlp checks for ffmpeg before section downloads without its ffmpeg_location
                # option; its CLI sets this context variable, which is local to this context.
                from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

                FFmpegPostProcessor._ffmpeg_location.set(self.ffmpeg)
            with yt_dlp.YoutubeDL(opts) as ydl:
                info = ydl.extract_info(url, download=True)
                return ydl.sanitize_info(info) if info else {}

        try:
            info = contextvars.copy_context().run(run)
            produced = _produced_file(info, out, prefix)
            size = produced.stat().st_size
            if size == 0:
                raise FetchError("tool_error", f"{vid}: yt-dlp produced an empty file", transient=True)
            if section is not None:
                _check_section(produced, vid)
            verify_media(produced, vid)
            final = output_file(out, youtube_file_name(vid, produced.suffix))
            fetched = Fetched(file=final, offset=section[0] if section else 0.0,
                              section_end=section[1] if section else None, bytes=size, url=redact(url))
            ctx.landing(job, fetched)
            os.replace(produced, final)
        except yt_dlp.utils.DownloadError as e:
            raise classify_ytdlp_error(e) from e
        except (FetchError, DiskFullError):
            raise
        except Exception as e:
            raise classify_exception(e, vid) from e
        finally:
            for leftover in out.glob(f"{prefix}*"):
                remove_quietly(leftover)
        return fetched


def _progress_hook(ctx: FetchContext, clock: DownloadClock):  # noqa: ANN202
    """yt-dlp progress hook: stop when the run stops, enforce the time limits between blocks."""

    def hook(d: dict[str, Any]) -> None:
        ctx.check_stop()
        if d.get("status") == "downloading":
            clock.update(int(d.get("downloaded_bytes") or 0))

    return hook


def _produced_file(info: dict[str, Any], out: Path, prefix: str) -> Path:
    """The finished file yt-dlp wrote under our temporary prefix."""
    if info.get("_type") in ("playlist", "multi_video"):
        raise FetchError("unsupported", "the URL is a playlist, not one video")
    for d in reversed(info.get("requested_downloads") or []):
        fp = d.get("filepath")
        if fp and Path(fp).is_file() and Path(fp).name.startswith(prefix):
            return Path(fp)
    done = [p for p in out.glob(f"{prefix}.*")
            if p.is_file() and p.name[len(prefix) + 1:].isalnum()]   # {prefix}.{ext}, no .part/.f137
    if len(done) == 1:
        return done[0]
    raise FetchError("tool_error", "yt-dlp reported success but wrote no complete file", transient=True)


def _check_section(path: Path, vid: str) -> None:
    """ffmpeg can report success and write a shell with no streams (e.g. when it cannot seek)."""
    from avdata.media.verify import check_media

    try:
        check = check_media(path)
    except AvdataError as e:
        raise FetchError("tool_error", f"{vid}: section download unreadable: {e}", transient=True) from e
    if not (check.first_packet and check.duration):
        raise FetchError("tool_error", f"{vid}: section download holds no media", transient=True)


def _is_safe_name(text: str) -> bool:
    try:
        safe_name(text)
    except AvdataError:
        return False
    return True


@register_backend("youtube")
def _make_youtube(uri: str, options: FetchOptions) -> YtDlpBackend:
    if uri.strip().lower() not in ("youtube", "youtube:"):
        raise AvdataError(f"{uri!r}: the YouTube source takes no argument (use ytdlp:URL_TEMPLATE for others)")
    return YtDlpBackend(url_template=YOUTUBE_URL, options=options)


@register_backend("ytdlp")
def _make_ytdlp(uri: str, options: FetchOptions) -> YtDlpBackend:
    return YtDlpBackend(url_template=uri.partition(":")[2], options=options, name="ytdlp",
                        youtube_ids_only=False)
