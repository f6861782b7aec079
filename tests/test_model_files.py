"""A saved .keras model holds no clock: equal weights give equal bytes, and Keras reads it back."""

import json
import time
import zipfile

import keras
import numpy as np

from lrstudy.core.outputs import renumber_shared_objects, save_model


def small_model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.ones((4, 8)), np.array([0, 1, 2, 0]), verbose=0)
    return model


def test_two_saves_of_one_model_at_different_times_are_byte_identical(tmp_path):
    model = small_model()
    save_model(model, tmp_path / "first.keras")
    time.sleep(1.1)  # Keras stamps the second it saved at
    save_model(model, tmp_path / "second.keras")
    model.save(tmp_path / "plain.keras")

    assert (tmp_path / "first.keras").read_bytes() == (tmp_path / "second.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "plain.keras") as plain:
        assert "date_saved" in json.loads(plain.read("metadata.json"))
    with zipfile.ZipFile(tmp_path / "first.keras") as saved:
        assert json.loads(saved.read("metadata.json")) == {"keras_version": keras.__version__}
        assert {info.date_time for info in saved.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    loaded = keras.models.load_model(tmp_path / "first.keras")
    assert all(
        np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True)
    )
    probe = np.linspace(0, 1, 16, dtype=np.float32).reshape(2, 8)
    np.testing.assert_array_equal(loaded.predict(probe, verbose=0), model.predict(probe, verbose=0))


def test_shared_object_ids_become_their_order_of_appearance():
    config = {
        "layers": [
            {"dtype": {"name": "float32", "shared_object_id": 139840420519440}},
            {"dtype": {"name": "float32", "shared_object_id": 139840420519440}},
            {"dtype": {"name": "mixed", "shared_object_id": 7}, "other": [1, "x"]},
        ]
    }
    assert renumber_shared_objects(config) == {
        "layers": [
            {"dtype": {"name": "float32", "shared_object_id": 1}},
            {"dtype": {"name": "float32", "shared_object_id": 1}},
            {"dtype": {"name": "mixed", "shared_object_id": 2}, "other": [1, "x"]},
        ]
    }


def shared_object_ids(config):
    if isinstance(config, list):
        return [i for item in config for i in shared_object_ids(item)]
    if not isinstance(config, dict):
        return []
    own = [config["shared_object_id"]] if "shared_object_id" in config else []
    return own + [i for value in config.values() for i in shared_object_ids(value)]


def test_a_saved_model_numbers_its_shared_objects_instead_of_their_addresses(tmp_path):
    inputs = keras.Input((8,), name="pixels")
    shared = keras.layers.Dense(4, name="shared")
    added = keras.layers.Add(name="add")([shared(inputs), shared(inputs)])
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(added), name="net")
    save_model(model, tmp_path / "net.keras")

    with zipfile.ZipFile(tmp_path / "net.keras") as saved:
        ids = shared_object_ids(json.loads(saved.read("config.json")))
    assert ids and set(ids) == set(range(1, len(set(ids)) + 1))  # not memory addresses
    reloaded = keras.models.load_model(tmp_path / "net.keras")
    probe = np.ones((2, 8), np.float32)
    np.testing.assert_allclose(reloaded.predict(probe, verbose=0), model.predict(probe, verbose=0))
