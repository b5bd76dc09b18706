"""``avdata audit``: clips that are still, silent or shorter than listed; duplicate groups across
ids (equal bytes, or a re-encode found by a fingerprint search); leaks between training and
evaluation files; ``--clean`` index files without them. Entry point: ``run_audit``."""

from avdata.audit.run import AuditOptions, AuditResult, run_audit

__all__ = ["AuditOptions", "AuditResult", "run_audit"]
