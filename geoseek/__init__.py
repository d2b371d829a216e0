"""GeoSeek: cross-modal search for remote-sensing archives (MS-VLAM views, DRIS planning, FAISS)."""
__version__ = "0.1.0"
