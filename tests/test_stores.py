import numpy as np
import pytest
import xarray

from vadlib.stores import SCHEMAS, StoreError, StoreWriter, open_store, write_store

ATTRS = {"source": "x.mp4", "fps": 25.0, "original_size": [8, 8], "stored_size": [8, 8]}


def test_round_trip_and_attrs(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (20, 8, 8, 3), dtype=np.uint8)
    write_store(tmp_path / "v.zarr", "frames", frames, ATTRS)
    store = open_store(tmp_path / "v.zarr", "frames", time=20, y=8)
    np.testing.assert_array_equal(store.read(), frames)
    assert store.attrs["fps"] == 25.0 and store.attrs["complete"] is True
    assert store.data.chunks[0] == 16


def test_wrong_kind_shape_and_axis_are_named(tmp_path):
    write_store(tmp_path / "f.zarr", "features", np.zeros((3, 10, 1024), np.float16),
                {"extractor": "x", "weights": None, "pretrained": False, "snippet_len": 16, "preprocessing": {}})
    with pytest.raises(StoreError, match=r"f\.zarr: axis 'feature' has size 1024, expected 2048"):
        open_store(tmp_path / "f.zarr", "features", feature=2048)
    with pytest.raises(StoreError, match="attribute 'kind' is 'features', expected 'flow'"):
        open_store(tmp_path / "f.zarr", "flow")
    with pytest.raises(StoreError, match="axis 'channel' must have size 2"):
        write_store(tmp_path / "flow.zarr", "flow", np.zeros((3, 4, 4, 3), np.float32),
                    {"method": "x", "parameters": {}})
    with pytest.raises(StoreError, match="no such frames store"):
        open_store(tmp_path / "missing.zarr", "frames")


def test_failed_write_leaves_old_store_untouched(tmp_path):
    path = tmp_path / "v.zarr"
    old = np.ones((4, 8, 8, 3), np.uint8)
    write_store(path, "frames", old, ATTRS)
    with pytest.raises(RuntimeError):
        with StoreWriter(path, "frames", (4, 8, 8, 3), "uint8", ATTRS) as writer:
            writer.write(0, np.zeros((2, 8, 8, 3), np.uint8))
            raise RuntimeError("killed")
    np.testing.assert_array_equal(open_store(path, "frames").read(), old)
    assert [p.name for p in tmp_path.iterdir()] == ["v.zarr"]  # no temporary left behind


def test_short_write_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(StoreError, match="only 2 of 4 rows"):
        with StoreWriter(tmp_path / "v.zarr", "frames", (4, 8, 8, 3), "uint8", ATTRS) as writer:
            writer.write(0, np.zeros((2, 8, 8, 3), np.uint8))
    assert not any(tmp_path.iterdir())


def test_missing_attribute_is_named(tmp_path):
    with pytest.raises(StoreError, match=r"attrs \['fps'\] are required"):
        write_store(tmp_path / "v.zarr", "frames", np.zeros((1, 8, 8, 3), np.uint8),
                    {k: v for k, v in ATTRS.items() if k != "fps"})


STORES = {  # kind -> (array, attrs): one of each kind a stage writes
    "frames": (np.zeros((5, 4, 6, 3), np.uint8), ATTRS),
    "inpainted": (np.zeros((5, 4, 6, 3), np.uint8), {"model": "m", "pretrained": False, "parameters": {}}),
    "features": (np.zeros((3, 10, 8), np.float16),
                 {"extractor": "x", "weights": None, "pretrained": False, "snippet_len": 16, "preprocessing": {}}),
    "flow": (np.zeros((4, 4, 6, 2), np.float16), {"method": "x", "parameters": {}}),
    "masks": (np.zeros((5, 4, 6), bool), {"generator": "x", "parameters": {}}),
}


@pytest.mark.parametrize("kind", sorted(STORES))
def test_every_store_opens_in_xarray_as_a_labelled_dataset(tmp_path, kind):
    data, attrs = STORES[kind]
    data = np.random.default_rng(0).random(data.shape).astype(data.dtype) if data.dtype != np.uint8 else data + 7
    write_store(tmp_path / "s.zarr", kind, data, attrs)
    dataset = xarray.open_zarr(tmp_path / "s.zarr", consolidated=False)
    array = dataset[kind]
    assert array.dims == SCHEMAS[kind].dims
    assert dict(array.sizes) == dict(zip(SCHEMAS[kind].dims, data.shape))
    np.testing.assert_array_equal(array.values, data)
    assert dataset.attrs["kind"] == kind and dataset.attrs["complete"] is True
