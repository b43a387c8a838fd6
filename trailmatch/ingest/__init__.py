"""Ingest: input files -> validated rows and precise rejects -> the store directory.

Readers (no side effects): ``crime_batch`` (docs/formats.md batches; which batch is later),
``positions`` (the tag export and mapped CSV/Parquet, via ``mapping``), ``subjects``
(activation periods, licence end), ``forces`` (the force list, as data). ``rejects`` writes the
reject lines. ``quality`` says which fixes are flagged. What they read goes into the store
(``trailmatch.store``: day partitions of fixes, subjects), written through
``trailmatch.atomic``; crime versions are kept in the hit store (``trailmatch.hitstore``).
"""
