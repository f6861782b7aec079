"""What every stage runs inside (lrstudy/core/stage.py): TensorFlow's C++ log lines held back
unless asked for, and a missing input named with the stage that writes it."""

import shutil
import sys

import pytest

from lrstudy.core.quiet import SHOW_LOGS, filtered
from lrstudy.core.stage import missing_inputs, pipeline_stages
from tests.helpers.commands import run
from tests.helpers.sandbox import REPO_ROOT

# What TensorFlow 2.21 and LiteRT wrote on this project's CPUs, verbatim but for the times.
ABSL_LINES = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796432269.491036    2578 port.cc:153] oneDNN custom operations are on.",
    b"I0000 00:00:1796432269.491450    2578 cudart_stub.cc:31] Could not find cuda drivers on "
    b"your machine, GPU will not be used.",
    b"E0000 00:00:1796432273.262885    2578 cuda_platform.cc:52] failed call to cuInit: "
    b"INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    b"TensorFlow with the appropriate compiler flags.",
    b"W0000 00:00:1796432278.713970    2578 tf_tfl_flatbuffer_helpers.cc:364] Ignored "
    b"output_format.",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    b"2026-12-05 00:49:29.123456: I tensorflow/core/platform/cpu_feature_guard.cc:210] This "
    b"TensorFlow binary is optimized",
]


def pass_through(*chunks):
    """What the filter passes on of `chunks`, and what it still waits for."""
    out, pending = b"", b""
    for chunk in chunks:
        passed, pending = filtered(pending, chunk)
        out += passed
    return out, pending


def test_log_lines_are_dropped_and_everything_else_passes_as_it_comes():
    text = b"\n".join([b"features: 24 images", *ABSL_LINES, b"error: something"]) + b"\n"
    assert pass_through(text) == (b"features: 24 images\nerror: something\n", b"")
    # A progress bar's updates (no newline) pass at once; so does the rest of its line.
    assert pass_through(b"\rbar:  50%", b"\rbar: 100%\n") == (b"\rbar:  50%\rbar: 100%\n", b"")
    # A log line split across two reads is still recognised, and one written after a bar's last
    # update is cut off the bar's line.
    assert pass_through(ABSL_LINES[3][:20], ABSL_LINES[3][20:] + b"\n") == (b"", b"")
    assert pass_through(b"\rbar: 100%" + ABSL_LINES[1] + b"\nnext\n") == (b"\rbar: 100%next\n", b"")


@pytest.mark.parametrize("line", ABSL_LINES, ids=lambda line: line[:12].decode())
def test_a_log_line_written_in_pieces_is_dropped_wherever_it_is_cut(line):
    # LiteRT writes its "INFO: " apart from the message (fprintf, then vfprintf): a reader that
    # falls behind sees the pieces as separate reads.
    for cut in range(1, len(line)):
        assert pass_through(line[:cut], line[cut:], b"\n") == (b"", b""), line[:cut]


QUIET_IMPORT = (
    "from lrstudy.core.quiet import quiet_tensorflow\n"
    "import sys\n"
    "with quiet_tensorflow():\n"
    "    import tensorflow as tf\n"
    "    tf.config.list_logical_devices()\n"
    "    print('said on stderr', file=sys.stderr)\n"
)


@pytest.mark.parametrize("show", ["", "1"])
def test_tensorflows_import_says_nothing_unless_asked(tmp_path, show):
    result = run([sys.executable, "-c", QUIET_IMPORT], REPO_ROOT, **{SHOW_LOGS: show})
    lines = result.stderr.splitlines()
    assert "said on stderr" in lines
    if show:
        assert any("All log messages before absl::InitializeLog()" in line for line in lines)
    else:
        assert lines == ["said on stderr"]


def test_missing_inputs_name_the_stage_that_writes_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(REPO_ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    stages = pipeline_stages()

    def missing(stage):
        return {path.as_posix(): writer for path, writer in missing_inputs(stage, stages)}

    assert missing("train") == {"data/split": "split", "data/features": "features"}
    # A folder dep holding other stages' outputs: each of them must be there.
    (tmp_path / "data/models").mkdir(parents=True)
    (tmp_path / "data/models/baseline.keras").touch()
    assert {path: writer for path, writer in missing("evaluate").items() if "models" in path} == {
        "data/models/scheduled.keras": "train",
        "data/models/finetuned.keras": "finetune",
    }
    assert missing("fetch") == {"data/caltech101-animals.tar": None}


def test_a_stage_run_before_its_inputs_exist_says_which_stage_to_run(tmp_path):
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    result = run(
        [sys.executable, "-m", "stages.train"], tmp_path, check=False, PYTHONPATH=str(REPO_ROOT)
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: data/split is missing: run `dvc repro split` first (or `dvc pull`, if it was "
        "pushed)"
    ]
