"""``avdata demo``: run the pipeline on the bundled example."""

from __future__ import annotations

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
    """Run every stage on the bundled AudioSet/AudioCaps/AudioScope sample (no network)."""
    summary = run_demo(out_dir, workers=workers)
    click.echo(summary.info)
    click.echo(f"{summary.problems.n_warnings} warning(s), {summary.problems.n_errors} error(s) while reading")
    for line in summary.stages:
        click.echo(line)
    if summary.report is not None:
        click.echo(summary.report.text)
    if (summary.extract is not None and summary.extract.any_failed) or (
            summary.index is not None and summary.index.error_exclusions):
        raise PartialFailure()
