"""Search filters on a synthetic version (dataclasses built directly): image_mask (dates, collections),
view_mask (WGS84 bbox intersection) against per-image / per-row Python checks; Filters and parse_bbox errors."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from geoseek.index.version import ImageTable, TextData, VersionData
from geoseek.schemas import IndexManifest
from geoseek.schemas.errors import FilterError, InputError
from geoseek.schemas.manifest import (
    DRISParams,
    LevelIndexInfo,
    ModelInfo,
    ObjectParams,
    ViewCounts,
)
from geoseek.search.filters import Filters, image_mask, parse_bbox, view_mask

COLLECTIONS = ["rsicd", "joplin", "sentinel", ""]


def make_version(seed: int = 0, n: int = 60) -> VersionData:
    """A version whose image table has dates (some unknown) and collections; ``rows`` stays empty:
    image_mask reads only ids, datetime and collection."""
    rng = np.random.default_rng(seed)
    base = np.datetime64("2010-01-01T00:00:00", "s")
    dt = base + rng.integers(0, 15 * 365 * 86400, n).astype("timedelta64[s]")
    dt[rng.random(n) < 0.2] = np.datetime64("NaT")
    dt[0] = np.datetime64("2015-06-01T12:00:00", "s")  # boundary values used below
    dt[1] = np.datetime64("2018-03-01T00:00:00", "s")
    ids = [f"img{i:03d}" for i in range(n)]
    images = ImageTable(ids, {i: k for k, i in enumerate(ids)}, [f"/x/{i}.tif" for i in ids],
                        np.full(n, 256), np.full(n, 256), dt.astype("datetime64[s]"),
                        np.array([COLLECTIONS[k] for k in rng.integers(0, len(COLLECTIONS), n)], dtype=object), {})
    manifest = IndexManifest(version="v0001", geoseek_version="-", faiss_version="-",
                             model=ModelInfo(spec="synthetic", id="synthetic", dim=8, image_size=64),
                             levels=["global"], dris=DRISParams(), objects=ObjectParams(), images=n, captions=0,
                             views=ViewCounts(**{"global": n}),
                             indices={"global": LevelIndexInfo(kind="flat", count=n, file="global.faiss")},
                             view_shards=[], text_shards=[])
    text = TextData(None, np.zeros((0, 8), np.float16), [], [], [])
    return VersionData("v0001", manifest, images, {}, text)


def brute_image_mask(v: VersionData, start, end, collections) -> np.ndarray:
    """start/end: naive UTC datetimes (or None); per image in Python."""
    out = []
    for dt64, coll in zip(v.images.datetime, v.images.collection):
        ok = True
        if start is not None or end is not None:
            if np.isnat(dt64):
                ok = False
            else:
                when = dt64.astype(datetime)
                if start is not None and when < start:
                    ok = False
                if end is not None and when > end:
                    ok = False
        if collections and coll not in collections:
            ok = False
        out.append(ok)
    return np.array(out)


CASES = [
    (None, None, ()),
    (datetime(2015, 6, 1, 12), None, ()),
    (None, datetime(2018, 3, 1), ()),
    (datetime(2015, 6, 1, 12), datetime(2018, 3, 1), ()),
    (datetime(2015, 6, 1, 12, 0, 1), datetime(2018, 2, 28, 23, 59, 59), ()),
    (None, None, ("joplin",)),
    (None, None, ("joplin", "sentinel")),
    (None, None, ("",)),
    (None, None, ("nonexistent",)),
    (datetime(2012, 1, 1), datetime(2020, 1, 1), ("rsicd", "sentinel")),
    (datetime(2030, 1, 1), None, ()),
]


@pytest.mark.parametrize("start, end, collections", CASES)
def test_image_mask_matches_brute_force(start, end, collections):
    v = make_version()
    f = Filters(start=start, end=end, collections=collections)
    got = image_mask(v, f)
    assert got.dtype == bool and got.shape == (len(v.images.ids),)
    np.testing.assert_array_equal(got, brute_image_mask(v, start, end, collections))


def test_image_mask_boundaries_inclusive_and_unknown_dates():
    v = make_version()
    unknown = np.isnat(v.images.datetime)
    assert unknown.any()
    assert image_mask(v, Filters()).all()  # no filter: every image, dated or not
    assert image_mask(v, Filters(collections=tuple(COLLECTIONS)))[unknown].all()
    m = image_mask(v, Filters(start=datetime(2015, 6, 1, 12), end=datetime(2015, 6, 1, 12)))
    assert m[0] and m.sum() == 1  # exactly one image at that second
    m = image_mask(v, Filters(end=datetime(2018, 3, 1)))
    assert m[1] and not m[unknown].any()
    m = image_mask(v, Filters(start=datetime(2018, 3, 1, 0, 0, 1)))
    assert not m[1]


def test_image_mask_converts_offsets_to_utc():
    v = make_version()
    plus3 = timezone(timedelta(hours=3))
    f = Filters(start=datetime(2015, 6, 1, 15, tzinfo=plus3), end=datetime(2018, 3, 1, 3, tzinfo=plus3))
    assert f.start == datetime(2015, 6, 1, 12) and f.end == datetime(2018, 3, 1)
    m = image_mask(v, f)
    np.testing.assert_array_equal(m, brute_image_mask(v, datetime(2015, 6, 1, 12), datetime(2018, 3, 1), ()))
    assert m[0] and m[1]
    # 12:00 at +03:00 is 09:00 UTC: image 1 (00:00 UTC that day) is before it.
    assert not image_mask(v, Filters(start=datetime(2018, 3, 1, 12, tzinfo=plus3)))[1]
    assert image_mask(v, Filters(start=datetime(2018, 3, 1, 2, tzinfo=plus3)))[1]


# -- view_mask ------------------------------------------------------------------------------------

def random_views(seed: int, n_images: int = 30, n_rows: int = 400):
    rng = np.random.default_rng(seed)
    image_idx = np.sort(rng.integers(0, n_images, n_rows)).astype(np.int32)
    west = rng.uniform(-20, 20, n_rows)
    south = rng.uniform(-10, 10, n_rows)
    bounds = np.stack([west, south, west + rng.uniform(0.01, 5, n_rows), south + rng.uniform(0.01, 5, n_rows)], axis=1)
    bounds[rng.random(n_rows) < 0.15] = np.nan  # views without a georeference
    partial = rng.random(n_rows) < 0.05
    bounds[partial, rng.integers(0, 4, partial.sum())] = np.nan  # one NaN coordinate is still no georeference
    allowed = rng.random(n_images) < 0.7
    return bounds, image_idx, allowed


def brute_view_mask(bounds, image_idx, allowed, bbox) -> np.ndarray:
    out = []
    for b, img in zip(bounds, image_idx):
        ok = bool(allowed[img])
        if bbox is not None:
            if any(math.isnan(x) for x in b):
                ok = False
            else:
                w, s, e, n = bbox
                overlap_x = min(b[2], e) - max(b[0], w)
                overlap_y = min(b[3], n) - max(b[1], s)
                ok = ok and overlap_x >= 0 and overlap_y >= 0  # touching edges intersect
        out.append(ok)
    return np.array(out)


@pytest.mark.parametrize("bbox", [None, (-5.0, -5.0, 5.0, 5.0), (-180.0, -90.0, 180.0, 90.0), (10.0, 0.0, 10.5, 0.5),
                                  (100.0, 50.0, 120.0, 60.0), (-1.0, -1.0, -0.99, -0.99)])
def test_view_mask_matches_brute_force(bbox):
    bounds, image_idx, allowed = random_views(int(0 if bbox is None else abs(bbox[0]) * 10))
    allowed_before = allowed.copy()
    got = view_mask(bounds, image_idx, allowed, Filters(bbox=bbox))
    assert got.dtype == bool and got.shape == (len(image_idx),)
    np.testing.assert_array_equal(got, brute_view_mask(bounds, image_idx, allowed, bbox))
    np.testing.assert_array_equal(allowed, allowed_before)  # the image mask is not modified
    nan_rows = np.isnan(bounds).any(axis=1)
    if bbox is None:
        np.testing.assert_array_equal(got, allowed[image_idx])  # no bbox: NaN bounds do not matter
        assert got[nan_rows].any()
    else:
        assert not got[nan_rows].any()
    if bbox == (-180.0, -90.0, 180.0, 90.0):
        np.testing.assert_array_equal(got, allowed[image_idx] & ~nan_rows)


def test_view_mask_touching_and_disjoint_edges():
    bounds = np.array([[0.0, 0.0, 1.0, 1.0],  # touches the bbox's west edge
                       [2.0, 0.0, 3.0, 1.0],  # touches its east edge
                       [1.0, 1.0, 2.0, 2.0],  # its south edge touches the bbox's north edge
                       [2.0 + 1e-9, 0.0, 3.0, 1.0],  # just east: disjoint
                       [1.2, 0.6, 1.8, 0.9],  # inside
                       [0.0, -5.0, 5.0, 5.0]])  # contains the bbox
    img = np.arange(6, dtype=np.int32)
    got = view_mask(bounds, img, np.ones(6, bool), Filters(bbox=(1.0, 0.5, 2.0, 1.0)))
    assert got.tolist() == [True, True, True, False, True, True]
    got = view_mask(bounds, img, np.array([1, 1, 1, 1, 0, 1], bool), Filters(bbox=(1.0, 0.5, 2.0, 1.0)))
    assert got.tolist() == [True, True, True, False, False, True]


# -- Filters validation and parse_bbox ------------------------------------------------------------

def test_parse_bbox_ok():
    assert parse_bbox("1,2,3,4") == (1.0, 2.0, 3.0, 4.0)
    assert parse_bbox(" -10.5, -2 ,3e1,4 ") == (-10.5, -2.0, 30.0, 4.0)


@pytest.mark.parametrize("text", ["", "1,2,3", "1,2,3,4,5", "a,b,c,d", "1 2 3 4", "1,2,,4", "1;2;3;4", "1,2,3,4,"])
def test_parse_bbox_malformed(text):
    with pytest.raises(FilterError, match="four comma-separated numbers"):
        parse_bbox(text)


@pytest.mark.parametrize("bbox", [(1.0, 0.0, 1.0, 1.0), (2.0, 0.0, 1.0, 1.0), (0.0, 1.0, 1.0, 1.0), (0.0, 2.0, 1.0, 1.0),
                                  (-181.0, 0.0, 1.0, 1.0), (0.0, 0.0, 181.0, 1.0), (0.0, -91.0, 1.0, 1.0),
                                  (0.0, 0.0, 1.0, 91.0), (float("nan"), 0.0, 1.0, 1.0), (0.0, 0.0, float("inf"), 1.0),
                                  (0.0, 0.0, 1.0)])
def test_filters_rejects_bad_bbox(bbox):
    with pytest.raises(FilterError, match="bbox"):
        Filters(bbox=bbox)


def test_parse_bbox_then_filters_rejects_nan():
    """parse_bbox only parses: 'nan' is a float, and Filters is what rejects it."""
    parsed = parse_bbox("nan,0,1,1")
    assert math.isnan(parsed[0])
    with pytest.raises(FilterError):
        Filters(bbox=parsed)


def test_filters_dates_and_active():
    with pytest.raises(FilterError, match="start is after its end"):
        Filters(start=datetime(2020, 1, 2), end=datetime(2020, 1, 1))
    # Offsets are compared after conversion: 01:00+02:00 is before 00:00 UTC.
    with pytest.raises(FilterError):
        Filters(start=datetime(2020, 1, 1, 0, 30), end=datetime(2020, 1, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    assert issubclass(FilterError, InputError) and issubclass(FilterError, ValueError)
    assert not Filters().active
    assert Filters(bbox=(0.0, 0.0, 1.0, 1.0)).active
    assert Filters(start=datetime(2020, 1, 1)).active and Filters(end=datetime(2020, 1, 1)).active
    assert Filters(collections=("a",)).active
    assert Filters(bbox=(-180.0, -90.0, 180.0, 90.0)).bbox == (-180.0, -90.0, 180.0, 90.0)
