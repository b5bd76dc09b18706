"""``avdata demo``: run the pipeline on the bundled example."""

from __future__ import annotations

from pathlib import Path

import click

from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import out_option
from avdata.cli.paths import check_paths
from avdata.demo import run_demo
from avdata.pathcheck import DIR


@cli.command("demo")
@out_option("Folder for the demo's outputs.", name="out_dir", default="demo-out", show_default=True)
@click.option("--workers", type=click.IntRange(1), help="Extraction processes [default: all cores].")
@check_paths(outputs={"out_dir": DIR})
def demo_cmd(out_dir: str, workers: int | None) -> None:
    """Run every stage on the bundled AudioSet/AudioCaps/AudioScope sample (no network), printing
    one line per stage as it finishes."""
    click.echo(f"avdata demo: every stage on the bundled example, outputs below {out_dir}/")
    summary = run_demo(out_dir, workers=workers, on_stage=click.echo)
    click.echo(f"done: open {Path(out_dir) / 'report' / 'report.html'} (the dataset report), "
               f"{Path(out_dir) / 'balance' / 'knn' / 'report' / 'report.html'} (the kNN balance) and "
               f"{Path(out_dir) / 'browse' / 'index' / 'index.html'} (look at and listen to the clips; also "
               f"browse/balance, browse/render), {Path(out_dir) / 'audit' / 'audit' / 'groups.html'} (the audit's "
               f"duplicates, leaks and junk clips); the text report is {Path(out_dir) / 'report' / 'report.txt'}")
    if (summary.extract is not None and summary.extract.any_failed) or (
            summary.index is not None and summary.index.error_exclusions):
        raise PartialFailure()
