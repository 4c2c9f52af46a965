"""Batch sweeps over archived filings: every document examined, interruption survived,
what is suspicious listed first.

One module per stage, read top to bottom in :func:`sweep` (:mod:`service.sweep.run`):
:mod:`~service.sweep.inputs` (walking directories, globs, PDFs and zip archives; documents'
dates), :mod:`~service.sweep.journal` (the resumable, append-only record keyed by content
hash), :mod:`~service.sweep.worker` (one document examined by an engine opened once per
worker), :mod:`~service.sweep.engines` (in process, a local process pool, or Ray actors),
:mod:`~service.sweep.flags` (why an imprint needs a person), :mod:`~service.sweep.outputs`
and :mod:`~service.sweep.summary_page` (JSONL, CSV, HTML).

From Python (or a notebook)::

    import imprint
    summary = imprint.sweep(["archive/2019", "filings.zip"], "out/2019", workers=2,
                            dates="dates.csv", registry="data/registry")
    summary.flagged, summary.outputs["html"]
"""

from service.sweep.run import (
    EXIT_CLEAN,
    EXIT_FAILED,
    EXIT_FLAGGED,
    Failure,
    SweepSummary,
    sweep,
)

__all__ = ["EXIT_CLEAN", "EXIT_FAILED", "EXIT_FLAGGED", "Failure", "SweepSummary", "sweep"]
