"""Views of one image: rasters (windows, bands, georeference), the DRIS planner, object segments, image preparation.

Shared by the indexer, query-by-image and zoom refine, so an upload is seen exactly as an indexed image is.
"""
