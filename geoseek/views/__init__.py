"""Views of one image: rasters (windows, bands, georeference), the DRIS planner, object segments, image preparation.

Shared by the indexer, query-by-image and zoom refine, so an upload is seen exactly as an indexed image is.
"""
import os

# GDAL's block cache defaults to 5% of RAM (1.2 GB on a 24 GB machine) and a large scene fills it:
# GeoSeek reads each window once, so a small cache costs nothing and bounds memory (on the 10,000 px
# scene of benchmarks/large_scene.py, 64 MB indexes as fast as 256 MB at 160 MB less peak RSS).
# A GDAL_CACHEMAX the user sets wins.
os.environ.setdefault("GDAL_CACHEMAX", "64")
