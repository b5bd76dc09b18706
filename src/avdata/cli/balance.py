"""``avdata balance``: a thin wrapper of avdata.balance.run_balance."""

from __future__ import annotations

import click

from avdata.balance.run import BalanceOptions, run_balance
from avdata.balance.search import SearchOptions, searcher_names
from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import Choice, out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.pathcheck import DIR
from avdata.weights import DEFAULT_SCHEME, scheme_names

SHOW = 20


@cli.command("balance")
@click.option("--seeds", required=True, type=InputPath(exists=True, dir_okay=False),
              help="Balanced index file (the seeds), e.g. src_balanced_train_segments.csv.")
@click.option("--seed-emb", required=True, type=InputPath(exists=True, file_okay=False),
              help="Embeddings directory of --seeds (from 'avdata embed').")
@click.option("--pool", required=True, type=InputPath(exists=True, dir_okay=False),
              help="Unbalanced index file (the pool), e.g. src_unbalanced_train_segments.csv.")
@click.option("--pool-emb", required=True, type=InputPath(exists=True, file_okay=False),
              help="Embeddings directory of --pool (same embedder as --seed-emb).")
@click.option("-k", "k", type=click.IntRange(1), default=512, show_default=True, help="Neighbours per seed.")
@out_option("Output folder.", required=True, type=click.Path())
@click.option("--ann", type=Choice(searcher_names()), default="exact", show_default=True,
              help="exact: every score, by the faster engine installed (flat with faiss, else blas); flat: FAISS's "
                   "brute force; blas: numpy only; ivf: FAISS inverted lists (approximate).")
@click.option("--nlist", type=click.IntRange(1), default=None,
              help="ivf: number of lists (default sqrt(8 x seeds), at most sqrt(pool)).")
@click.option("--nprobe", type=click.IntRange(1), default=None,
              help="ivf: lists visited per seed (default: the smallest power of two reaching --target-recall "
                   "against exact on 64 seeds).")
@click.option("--target-recall", type=click.FloatRange(0, 1, min_open=True), default=0.95, show_default=True,
              help="ivf: see --nprobe.")
@click.option("--recall-sample", type=click.IntRange(0), default=256, show_default=True,
              help="Seeds searched exactly too, to measure an approximate search's recall.")
@click.option("--per-label-cap", type=click.IntRange(1), default=None,
              help="Also write knn_{N/1000}k: JSON {label: [ids]} with at most N samples per label.")
@click.option("--scheme", type=Choice(scheme_names()), default=DEFAULT_SCHEME, show_default=True,
              help="Weights scheme for the output segments list.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Random seed (samples, IVF training).")
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
@check_paths(outputs={"out": DIR}, needs=("seeds", "pool"), inputs=("seed_emb", "pool_emb"))
def balance_command(seeds: str, seed_emb: str, pool: str, pool_emb: str, k: int, out: str, ann: str,
                    nlist: int | None, nprobe: int | None, target_recall: float, recall_sample: int,
                    per_label_cap: int | None,
                    scheme: str, seed: int, no_report: bool) -> None:
    """Top-k cosine neighbours of every seed in the pool; writes VIP-ANT's kNN filter files."""
    if k < 1:
        raise click.BadParameter("must be at least 1", param_hint="-k")
    if per_label_cap is not None and per_label_cap < 1:
        raise click.BadParameter("must be at least 1", param_hint="--per-label-cap")
    res = run_balance(BalanceOptions(
        seeds=seeds, seed_emb=seed_emb, pool=pool, pool_emb=pool_emb, out=out, k=k,
        search=SearchOptions(ann=ann, nlist=nlist, nprobe=nprobe, target_recall=target_recall,
                             seed=seed), per_label_cap=per_label_cap,
        recall_sample=recall_sample, weights_scheme=scheme, report=not no_report))
    for line in res.skipped[:SHOW]:
        click.echo(f"error: {line}", err=True)
    if len(res.skipped) > SHOW:
        click.echo(f"... {len(res.skipped) - SHOW} more skipped line(s) not shown", err=True)
    click.echo("\n".join(res.lines()))
    if res.report_text:
        click.echo("\n".join(res.report_text.splitlines()[4:]))
    if res.skipped:
        click.echo(f"avdata: {len(res.skipped)} line(s) skipped (unreadable line or no usable embedding)", err=True)
        raise PartialFailure()
