"""Readers and writers of published list formats, one module each.

A new dataset format is one new module here. Readers stream rows (``iter_*`` functions yield
dicts with the clip-table columns) and report bad lines through an error handler instead of
stopping; writers reproduce the published files byte for byte.
"""
