"""Imports every stage's CLI module so that its commands register on the ``avdata`` group.

A new stage adds one import line here.
"""
from avdata.cli import demo, export, info, ingest  # noqa: F401,E401  (sources stage)
from avdata.cli import fetch  # noqa: F401,E402  (avdata fetch)
from avdata.cli import extract  # noqa: F401,E402  avdata extract

from avdata.cli import index  # noqa: E402,F401
