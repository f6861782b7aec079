"""When the machine fails a stage rather than the data or the params: a cache it cannot write,
a full disk, a damaged weights file. A warning where the stage can go on, one line where not."""

import keras
import numpy as np
import pytest

from lrstudy.backbone.build import efficientnet_b0
from lrstudy.backbone.litert import LiteRTModel
from lrstudy.core.errors import UserError, import_extra
from lrstudy.core.outputs import write_json


def test_a_full_disk_while_writing_an_output_is_one_line_and_leaves_no_partial(small_disk):
    with pytest.raises(UserError, match=r"^no space left on disk writing .*big.json: free space"):
        write_json(small_disk / "big.json", {"values": list(range(400_000))})
    assert list(small_disk.iterdir()) == []


def test_a_litert_cache_it_cannot_write_is_a_warning_and_the_conversion_is_used(
    read_only_disk, monkeypatch, capsys
):
    monkeypatch.setenv("LRSTUDY_CACHE", str(read_only_disk))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="tiny")
    outputs = LiteRTModel(model, interpreters=1)(np.ones((3, 4), np.float32))
    np.testing.assert_allclose(outputs, model.predict(np.ones((3, 4)), verbose=0), rtol=1e-5)
    said = capsys.readouterr().out
    assert f"litert: warning: cannot keep the conversion in {read_only_disk}" in said
    assert "(Read-only file system); the next run converts again" in said


@pytest.mark.parametrize("suffix", [".h5", ".pth"])
def test_a_damaged_b0_weights_file_is_one_line(tmp_path, suffix):
    weights = tmp_path / f"efficientnetb0_notop{suffix}"
    weights.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))  # an HDF5 signature, then nothing
    with pytest.raises(
        UserError, match=r"^backbone.weights: .* is not EfficientNet-B0's weights \(Keras: "
    ):
        efficientnet_b0(str(weights), (64, 64, 3), "avg")


def test_a_missing_extra_is_one_line_naming_what_installs_it():
    with pytest.raises(UserError) as raised:
        import_extra("no_such_dask", "cluster", "--scheduler")
    assert str(raised.value) == (
        "--scheduler needs no_such_dask, which is not installed: pip install 'lrstudy[cluster]' "
        "(`make setup` installs every extra)"
    )
