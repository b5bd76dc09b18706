"""``avdata fetch``: find or download every source video of a clip table (thin: calls avdata.fetch)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from avdata.cli.executor_options import executor_options
from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.fetch.options import FetchOptions
from avdata.fetch.sections import DEFAULT_AFTER, DEFAULT_BEFORE
from avdata.pathcheck import DIR, FILE


@cli.command("fetch")
@click.argument("clips", required=False, type=InputPath(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "source", help="dir:PATH | fsspec URL template with {id}/{path} | youtube | "
              "ytdlp:URL_TEMPLATE")
@out_option("Output directory for videos (and the manifest).", required=True, type=click.Path(path_type=Path))
@click.option("--manifest", type=click.Path(path_type=Path), help="Manifest directory "
              "[default: OUT/fetch_manifest.parquet].")
@click.option("--archive", type=click.Path(path_type=Path),
              help="Download archive [default: OUT/fetch_archive.jsonl].")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 256),
              help="Downloads in flight: threads of this process, each carrying one video's retries; with "
                   "--executor ray, attempts in flight across the whole cluster (each a Ray task of 0.25 CPU).")
@executor_options(help="Where download attempts run: local or threads (this process, --workers threads), "
                       "inline (one at a time), ray (each attempt a small Ray task on the cluster; retries, "
                       "rate-limit breakers and the manifest stay here; pip install 'avdata[ray]').")
@click.option("--max-attempts", default=4, show_default=True, type=click.IntRange(1, 100),
              help="Tries per video for transient errors.")
@click.option("--backoff", default=1.0, show_default=True, type=click.FloatRange(0), help="First retry delay (s).")
@click.option("--max-backoff", default=60.0, show_default=True, type=click.FloatRange(0),
              help="Longest wait (s) between retries of one video.")
@click.option("--retry-permanent", is_flag=True, help="Retry videos recorded as removed/private/404...")
@click.option("--min-free", "min_free", default=1 << 30, show_default=True, type=click.IntRange(0),
              help="Stop when fewer bytes than this would remain free.")
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds allowed for each network read (connect, each block).")
@click.option("--link", is_flag=True, help="dir: symlink found videos into OUT.")
@click.option("--format", "fmt", help="yt-dlp format [default: best MP4 with audio <= --max-height].")
@click.option("--max-height", default=480, show_default=True, type=click.IntRange(1),
              help="YouTube: highest video resolution (pixels) to download.")
@click.option("--cookies", type=InputPath(exists=True, dir_okay=False, path_type=Path),
              help="YouTube: a Netscape cookies.txt for yt-dlp (signed-in or age-checked videos).")
@click.option("--rate-limit", type=click.IntRange(1), help="Bytes per second per download.")
@click.option("--sleep", default=0.0, type=click.FloatRange(0), help="Seconds between requests.")
@click.option("--proxy", help="Proxy URL for yt-dlp.")
@click.option("--sections/--whole", default=True, show_default=True,
              help="Download only the spans the clips need (YouTube), or whole videos.")
@click.option("--section-before", default=DEFAULT_BEFORE, show_default=True, type=click.FloatRange(0),
              help="YouTube sections: seconds kept before the gold segment (room for negatives).")
@click.option("--section-after", default=DEFAULT_AFTER, show_default=True, type=click.FloatRange(0),
              help="YouTube sections: seconds kept after the gold segment.")
@click.option("--exact-cuts", is_flag=True, help="Re-encode at section cuts (slower, exact).")
@click.option("--ffmpeg", type=InputPath(exists=True, dir_okay=False, path_type=Path),
              help="ffmpeg for section downloads [default: imageio-ffmpeg's, else PATH].")
@click.option("--report", is_flag=True, help="Print counts per error class and the fraction available "
              "(alone: report on OUT's manifest without fetching).")
@click.option("--delete-after-extract", is_flag=True,
              help="Extract each video's clips into --extract-out as soon as it is fetched (default "
              "extraction settings) and delete the fetched file once all its clips are ok.")
@click.option("--extract-out", type=click.Path(path_type=Path),
              help="Extraction output folder for --delete-after-extract.")
@click.option("--progress/--no-progress", default=None, help="Progress bar [default: on a terminal].")
@click.option("--max-time", default=3600.0, show_default=True, type=click.FloatRange(0),
              help="Total seconds one download may take (0: no limit); over it: timeout, retried.")
@click.option("--min-rate", default=1024, show_default=True, type=click.IntRange(0),
              help="Bytes/s a download must keep up over each --rate-window (0: off); below it: too_slow, retried.")
@click.option("--rate-window", default=30.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds over which --min-rate is measured.")
@click.option("--max-requests-per-minute", type=click.FloatRange(min=0, min_open=True),
              help="Pace requests to each source host (each proxy) across all workers and processes.")
@click.option("--breaker", "breaker", default="5/20", show_default=True,
              help="Circuit breaker: pause when K of the last N attempts were rate-limited (K/N; 0 turns it off).")
@click.option("--cooldowns", default="120,300,900,3600", show_default=True,
              help="Pause (seconds) after trip 1, 2, 3 ...; the last repeats.")
@click.option("--give-up-after", default=6 * 3600.0, show_default=True, type=click.FloatRange(0),
              help="Stop cleanly when banned this many seconds without a success (0: never); a rerun continues.")
@click.option("--proxies", type=InputPath(exists=True, dir_okay=False, path_type=Path),
              help="File of proxy URLs, one per line (http, https, socks5 ...); each has its own breaker.")
@check_paths(outputs={"out": DIR, "manifest": DIR, "archive": FILE, "extract_out": DIR}, needs=("clips",),
             inputs=("cookies",), reads_only=lambda kw: kw["report"] and kw["source"] is None)
def fetch_command(clips: Path | None, source: str | None, out: Path, manifest: Path | None,
                  archive: Path | None, workers: int, executor: str, ray_address: str | None,
                  max_attempts: int, backoff: float, max_backoff: float,
                  retry_permanent: bool, min_free: int, timeout: float, link: bool, fmt: str | None,
                  max_height: int, cookies: Path | None, rate_limit: int | None, sleep: float,
                  proxy: str | None, sections: bool, section_before: float, section_after: float,
                  exact_cuts: bool, ffmpeg: Path | None, report: bool, delete_after_extract: bool,
                  extract_out: Path | None, progress: bool | None, max_time: float, min_rate: int,
                  rate_window: float, max_requests_per_minute: float | None, breaker: str, cooldowns: str,
                  give_up_after: float, proxies: Path | None) -> None:
    """Find or download every source video of CLIPS (a clip-table Parquet file) into OUT."""
    from avdata.fetch import fetch, fetch_report

    threshold, window = _parse_breaker(breaker)
    pauses = _parse_cooldowns(cooldowns)

    options = FetchOptions(
        source=source or "", out=out, manifest=manifest, archive=archive, workers=workers,
        max_attempts=max_attempts, backoff=backoff, max_backoff=max_backoff, retry_permanent=retry_permanent,
        min_free_bytes=min_free, timeout=timeout, link=link, format=fmt, max_height=max_height,
        cookies=cookies, rate_limit=rate_limit, sleep=sleep, proxy=proxy, sections=sections,
        section_before=section_before, section_after=section_after, exact_cuts=exact_cuts, ffmpeg=ffmpeg,
        progress=progress, max_time=max_time or None, min_rate=min_rate, rate_window=rate_window,
        max_requests_per_minute=max_requests_per_minute, breaker_threshold=threshold, breaker_window=window,
        cooldowns=pauses, give_up_after=give_up_after or None, proxies=proxies, executor=executor,
        ray_address=ray_address)
    if report and source is None:
        click.echo(fetch_report(options.manifest_path(), clips, options.run_log_path()).format())
        return
    if clips is None or source is None:
        raise click.UsageError("fetching needs CLIPS and --source (or use --report alone)")
    if delete_after_extract and extract_out is None:
        raise click.UsageError("--delete-after-extract needs --extract-out DIR")
    _show_fetch_warnings()
    if delete_after_extract:
        from avdata.extract.on_fetch import ExtractOnFetch
        from avdata.extract.run import ExtractOptions
        from avdata.table import read_clips

        table = read_clips(clips)
        with ExtractOnFetch(table, ExtractOptions(videos=str(out), out=str(extract_out))) as hook:
            summary = fetch(table, options, on_fetched=hook)
        click.echo("\n".join(hook.summary.lines()))
        extract_failed = hook.summary.any_failed
    else:
        summary = fetch(clips, options)
        extract_failed = False
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(summary.counts.items())) or "nothing to do"
    click.echo(f"fetch: {counts}; already done: {summary.skipped_done}; "
               f"known failures skipped: {summary.skipped_failed}; manifest: {summary.manifest}")
    if summary.gave_up:
        click.echo(f"fetch stopped: {summary.gave_up}")
    if report:
        click.echo(fetch_report(options.manifest_path(), clips, options.run_log_path()).format())
    if summary.failed or extract_failed or summary.gave_up:
        raise PartialFailure()


class _EchoWarnings(logging.Handler):
    """Fetch's warnings (breaker trips and resumes) as one plain line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _show_fetch_warnings() -> None:
    log = logging.getLogger("avdata.fetch")
    if not any(isinstance(h, _EchoWarnings) for h in log.handlers):
        log.addHandler(_EchoWarnings(logging.WARNING))


def _parse_breaker(text: str) -> tuple[int, int]:
    """``"5/20"`` -> (5, 20); ``"0"`` -> breaker off."""
    head, _, tail = text.partition("/")
    try:
        k = int(head)
        n = int(tail) if tail else max(k, 20)
    except ValueError:
        raise click.BadParameter(f"{text!r}: use K/N, e.g. 5/20 (0 turns the breaker off)",
                                 param_hint="--breaker") from None
    if k < 0 or n < 1 or k > n:
        raise click.BadParameter(f"{text!r}: need 0 <= K <= N and N >= 1", param_hint="--breaker")
    return k, max(n, 1)


def _parse_cooldowns(text: str) -> tuple[float, ...]:
    """``"120,300"`` -> (120.0, 300.0)."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or any(not (v >= 0) or v == float("inf") for v in values):
        raise click.BadParameter(f"{text!r}: use seconds separated by commas, e.g. 120,300,900",
                                 param_hint="--cooldowns")
    return values
