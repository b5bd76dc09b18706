"""Imports every stage's CLI module so that its commands register on the ``avdata`` group.

A new stage adds one import line here.
"""

from avdata.cli import index  # noqa: E402,F401
