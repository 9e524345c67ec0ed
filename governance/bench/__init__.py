"""Benchmarks behind ``manage.py bench`` that need more than one process.

:mod:`~governance.bench.common` holds the plumbing (target database, scratch
databases, the ledger key, the bench deployment); :mod:`~governance.bench.ingest`
and :mod:`~governance.bench.trail` are the two ledger benchmarks of
ARCHITECTURE.md section 7.
"""
