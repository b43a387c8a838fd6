"""Ingest: input files -> validated rows and precise rejects -> the store directory.

Readers (no side effects): ``crime_batch`` (FORMATS.md §1 batches, crime versions),
``positions`` (the tag export and mapped CSV/Parquet, via ``mapping``), ``subjects``
(activation periods, licence end), ``forces`` (the force list, as data). ``rejects`` writes the
reject lines. ``quality`` says which fixes are flagged. What they read goes into the store
(``trailmatch.store``: day partitions of fixes, subjects) and ``crime_store`` (every crime
version), both written through ``trailmatch.atomic``.
"""
