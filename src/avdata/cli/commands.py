"""Where each ``avdata`` command lives: command name -> CLI module.

Modules are imported only when their command runs (or help lists them), so ``avdata ingest`` does
not pay for importing PyAV or yt-dlp. A new stage adds one line here; its module registers its
commands on the ``avdata`` group with ``@cli.command``.
"""

COMMAND_MODULES: dict[str, str] = {
    "demo": "avdata.cli.demo",
    "ingest": "avdata.cli.ingest",
    "info": "avdata.cli.info",
    "export": "avdata.cli.export",
    "fetch": "avdata.cli.fetch",
    "extract": "avdata.cli.extract",
    "render": "avdata.cli.render",
    "index": "avdata.cli.index",
    "weights": "avdata.cli.index",
    "report": "avdata.cli.index",
    "windows": "avdata.cli.audioscope",
    "ratings": "avdata.cli.audioscope",
    "score": "avdata.cli.audioscope",
    "mom": "avdata.cli.audioscope",
    "shards": "avdata.cli.shards",
    "embed": "avdata.cli.embed",
    "embedders": "avdata.cli.embed",
    "balance": "avdata.cli.balance",
    "train": "avdata.cli.train",
    "browse": "avdata.cli.browse",
    "audit": "avdata.cli.audit",
    "lock": "avdata.cli.lock",
    "diff": "avdata.cli.lock",
    "plugins": "avdata.cli.plugins",
}
