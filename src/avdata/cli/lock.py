"""``avdata lock`` and ``avdata diff``: thin wrappers of avdata.lock."""

from __future__ import annotations

import json

import click

from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import Choice, out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.pathcheck import FILE

SHOWN = 50


@cli.command("lock")
@click.argument("index_files", nargs=-1, type=InputPath(exists=True, dir_okay=False, readable=False))
@click.option("--media", required=True, type=InputPath(exists=True, file_okay=False),
              help="Media root the index lines' paths are relative to.")
@out_option("The lock file to write.", type=click.Path(), default=None)
@click.option("--check", "check", type=InputPath(exists=True, dir_okay=False), default=None,
              help="Verify the built set under --media against this lock instead (exit 1 names each file).")
@click.option("--clips", type=InputPath(exists=True), default=None,
              help="The clip table the index was built from: each clip's list row, the lists' SHA-256.")
@click.option("--fetch-manifest", type=InputPath(exists=True), default=None, help="Coverage: videos fetched.")
@click.option("--extract-manifest", type=InputPath(exists=True), default=None, help="Coverage: clips extracted.")
@click.option("--threads", type=click.IntRange(1), default=4, show_default=True, help="Files hashed at once.")
@check_paths(outputs={"out": FILE}, needs=("index_files",),
             inputs=("media", "check", "clips", "fetch_manifest", "extract_manifest"))
def lock_command(index_files: tuple[str, ...], media: str, out: str | None, check: str | None, clips: str | None,
                 fetch_manifest: str | None, extract_manifest: str | None, threads: int) -> None:
    """Write FILE.lock for INDEX_FILES: every clip's files with size and SHA-256, its list row, the
    lists' hashes and the coverage per split. With --check FILE.lock: verify a built set."""
    from avdata.lock import LockOptions, check_lock, run_lock

    if check is not None:
        if index_files or out:
            raise click.UsageError("--check takes the lock and --media only (no INDEX_FILES, no -o)")
        res = check_lock(check, media, threads)
        for line in res.lines[:SHOWN]:
            click.echo(f"avdata: {line}", err=True)
        if len(res.missing) + len(res.changed) > SHOWN:
            click.echo(f"avdata: ... and {len(res.missing) + len(res.changed) - SHOWN} more", err=True)
        click.echo(res.summary_text())
        if not res.ok:
            raise PartialFailure()
        return
    if not index_files or out is None:
        raise click.UsageError("give INDEX_FILES and -o FILE.lock (or --check FILE.lock)")
    res2 = run_lock(LockOptions(index=index_files, media=media, out=out, clips=clips, fetch_manifest=fetch_manifest,
                                extract_manifest=extract_manifest, threads=threads))
    for line in res2.problems[:SHOWN]:
        click.echo(f"avdata: {line}", err=True)
    if res2.problem_count > SHOWN:
        click.echo(f"avdata: ... and {res2.problem_count - SHOWN} more", err=True)
    click.echo(res2.summary_text())
    if res2.problem_count:
        raise PartialFailure()


@cli.command("diff")
@click.argument("lock_a", type=InputPath(exists=True, dir_okay=False))
@click.argument("lock_b", type=InputPath(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=Choice(("text", "json")), default="text", show_default=True,
              help="json: one object for scripts.")
def diff_command(lock_a: str, lock_b: str, fmt: str) -> None:
    """Per split: the ids only in LOCK_A, only in LOCK_B, and changed, with the coverage of each."""
    from avdata.lock import diff_locks

    res = diff_locks(lock_a, lock_b)
    click.echo(json.dumps(res.as_json(), indent=2) if fmt == "json" else res.text())
