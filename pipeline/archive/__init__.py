"""The raw page archive: every page that reaches extraction, as compressed WARC files.

``warc`` turns pages into WARC records and back (the one module importing warcio),
``store`` is where the files live (the one module importing fsspec), ``writer`` keeps one
file per process and rotates and prunes them, ``reader`` walks them for ``newsflow
reextract``.
"""
