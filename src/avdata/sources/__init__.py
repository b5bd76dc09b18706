"""Readers and writers of published list formats, one module each.

``audioset`` (segment CSVs), ``audiocaps`` (caption CSVs), ``audioscope`` (AudioScope and
AudioScopeV2 clip and MoM lists), ``mixit`` (MixIT YFCC100M lists), ``ontology``. Each format
registers a reader and a writer by name (``registry``). Readers stream their file (AudioSet in
blocks parsed with numpy/Arrow, the others row by row), report bad rows to a ``Problems`` collector
(``FILE:LINE: reason``) instead of stopping, and keep per-file notes (header lines, line ends,
number style) in the table's metadata (``origins``) so that writers give the published files back
byte for byte. A new format is one new module that registers itself and is named in
``registry.FORMAT_MODULES``.
"""
