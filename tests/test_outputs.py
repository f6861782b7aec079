"""Whole or not at all (lrstudy/core/outputs.py): an output is its old self or its new self, never
a mixture or a fragment, whether the block writing it ends well, raises, is interrupted or its
process is killed."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from lrstudy.core.outputs import atomic_output, partial_path, previous_path, recover, remove_output
from tests.helpers.sandbox import REPO_ROOT


def folder_files(folder):
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def write_folder(folder, files):
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)


def test_a_finished_file_replaces_the_old_one_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with atomic_output(target) as partial:
        assert partial == tmp_path / ".partial-metrics.json"
        partial.write_text("new")
        assert target.read_text() == "old"  # nothing changes until the block ends
    assert target.read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.json"]


@pytest.mark.parametrize("failure", [ValueError, KeyboardInterrupt])
def test_a_block_that_fails_leaves_the_old_file_and_no_fragment(tmp_path, failure):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(failure):
        with atomic_output(target) as partial:
            partial.write_text("half")
            raise failure
    assert target.read_text() == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.keras"]


def test_a_folder_is_replaced_whole_never_merged(tmp_path):
    target = tmp_path / "features"
    write_folder(target, {"a.npy": b"old a", "only-old.json": b"gone after"})
    with atomic_output(target) as partial:
        write_folder(partial, {"a.npy": b"new a", "b.npy": b"new b"})
    assert folder_files(target) == {"a.npy": b"new a", "b.npy": b"new b"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["features"]


def test_a_folder_whose_block_fails_is_the_old_folder(tmp_path):
    target = tmp_path / "raw"
    write_folder(target, {"fox.jpg": b"old"})
    with pytest.raises(RuntimeError):
        with atomic_output(target) as partial:
            write_folder(partial, {"fox.jpg": b"new", "owl.jpg": b"new"})
            raise RuntimeError("disk gone")
    assert folder_files(target) == {"fox.jpg": b"old"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["raw"]


def test_a_kill_between_the_two_renames_of_a_folder_is_recovered(tmp_path):
    target = tmp_path / "raw"
    write_folder(previous_path(target), {"fox.jpg": b"old"})  # what the kill leaves
    recover(target)
    assert folder_files(target) == {"fox.jpg": b"old"} and not previous_path(target).exists()
    write_folder(previous_path(target), {"fox.jpg": b"older"})
    recover(target)  # the output is there: the older copy is not put back over it
    assert folder_files(target) == {"fox.jpg": b"old"}


def test_a_fragment_left_by_an_earlier_kill_is_not_taken_into_the_next_output(tmp_path):
    target = tmp_path / "data"
    write_folder(partial_path(target), {"stale.npy": b"from a killed run"})
    with atomic_output(target) as partial:
        write_folder(partial, {"fresh.npy": b"this run"})
    assert folder_files(target) == {"fresh.npy": b"this run"}
    remove_output(target)
    write_folder(partial_path(target), {"x": b""})
    write_folder(previous_path(target), {"x": b""})
    remove_output(target)
    assert list(tmp_path.iterdir()) == []


def test_a_private_fragment_carries_its_process(tmp_path):
    assert partial_path(tmp_path / "m.tflite", private=True).name == (
        f".partial-{os.getpid()}-m.tflite"
    )


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from lrstudy.core.outputs import atomic_output

    target = Path(sys.argv[1])
    with atomic_output(target) as partial:
        partial.mkdir()
        for index in range(1000):
            (partial / f"{index}.bin").write_bytes(bytes(1000))
            if index == 10:
                print("writing", flush=True)
                time.sleep(60)
    """
)


def test_a_process_killed_while_writing_leaves_the_old_output_whole(tmp_path):
    target = tmp_path / "features"
    write_folder(target, {"old.npy": b"finished"})
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline() == "writing\n"
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait(timeout=30)
    assert folder_files(target) == {"old.npy": b"finished"}
    assert len(folder_files(partial_path(target))) == 11  # the fragment, under its own name
    with atomic_output(target) as partial:  # the next run starts clean
        write_folder(partial, {"new.npy": b"rerun"})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["features"]
