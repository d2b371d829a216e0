"""Search: vector stores, fusion and the engine (text->image, image->text, image->image)."""
from geoseek.search.engine import QueryError, SearchEngine, UnknownImageError
from geoseek.search.filters import FilterError, Filters, parse_bbox
from geoseek.search.query import QueryImageError
from geoseek.search.state import IndexState

__all__ = ["FilterError", "Filters", "IndexState", "QueryError", "QueryImageError", "SearchEngine", "UnknownImageError",
           "parse_bbox"]
