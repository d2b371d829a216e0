"""The on-disk index format: directory layout and versions, catalog, Parquet shards (one writer, one reader), FAISS files.

The indexer writes through this package and search reads through it; neither reaches into the other.
"""
