"""The study's own inputs are input, not trust: a runs file is checked against its kind's record
before anything reads it, and a page's blocks are found only where their markers stand alone."""

import copy
import json
import os
import shutil

import pytest

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import inert_html, write_table
from lrstudy.pages import replace_marked_block, update_blocks
from lrstudy.study.cli import main as study
from lrstudy.study.cli import one_study_at_a_time, run_shard
from lrstudy.study.kinds import read_kind_results
from lrstudy.study.queue import failure_log
from lrstudy.study.results import runs_file
from lrstudy.study.reuse import CODE, refuse_stale, refuse_uncommitted
from lrstudy.study.variants import Run
from tests.helpers.commands import run
from tests.helpers.sandbox import REPO_ROOT, set_params

COMMITTED = {
    grid: json.loads((REPO_ROOT / runs_file(grid)).read_text())
    for grid in ("reference", "finetuning")
}


def first_variant(results):
    return next(iter(results["runs"]))


def nan_accuracy(results):
    results["runs"][first_variant(results)]["final_val_loss"][0] = float("nan")


def no_fine_tuning(results):
    del results["fine_tuning"]


def shorter_curve(results):
    results["runs"][first_variant(results)]["val_right"][3].pop()


def fewer_seeds(results):
    runs = results["runs"][first_variant(results)]
    for key in ("test_right", "val_right", "final_val_loss"):
        runs[key].pop()


def script_name(results):
    results["fine_tuning"]["experiment"] = "<img src=x onerror=alert(1)>"


def markup_key(results):
    name = first_variant(results)
    results["runs"]["<script>x</script>"] = results["runs"].pop(name)


def string_split_key(results):
    results["folds"]["images"]["test"][0] = "315"


def fewer_images(results):
    results["runs"][first_variant(results)]["test_right"][0] = "ff"


def path_as_grid(results):
    results["grid"] = "../../../../outside/pwn"


def other_grid(results):
    results["grid"] = "modern"


# What was wrong with the runs file -> the line the study prints (after "error: <file> ").
BROKEN_RUNS = {
    nan_accuracy: "is not valid JSON: NaN is not a number a runs file holds",
    no_fine_tuning: "is not a runs file the study wrote: ['fine_tuning']: Field required",
    shorter_curve: "every head's curve has as many epochs as every other's",
    fewer_seeds: "fixed-lr0.1: one run per fold and seed (50)",
    script_name: "['fine_tuning']['experiment']: String should match pattern",
    markup_key: "['runs']['<script>x</script>'] (the key): String should match pattern",
    string_split_key: "['folds']['images']['test'][0]: Input should be a valid integer",
    fewer_images: "fixed-lr0.1: head 0 is right or wrong on 315 images",
    path_as_grid: "['grid']: String should match pattern",
    other_grid: "holds the runs of the grid 'modern', not of 'reference': restore it (git checkout",
}


@pytest.fixture
def committed_runs(tmp_path, monkeypatch):
    """A folder with the project's params, grids and the reference grid's committed runs."""
    for name in ("params.yaml", "study.yaml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "metrics").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_runs(grid, results, raw=None):
    text = raw if raw is not None else json.dumps(results)
    runs_file(grid).write_bytes(text.encode("utf-8") if isinstance(text, str) else text)


@pytest.mark.parametrize(
    "damage, line", BROKEN_RUNS.items(), ids=lambda v: getattr(v, "__name__", "")
)
def test_a_damaged_runs_file_is_one_line_and_writes_nothing(committed_runs, capsys, damage, line):
    results = copy.deepcopy(COMMITTED["reference"])
    damage(results)
    write_runs("reference", results)
    with pytest.raises(SystemExit) as exit:
        study(["--grid", "reference", "--reanalyse"])
    error = capsys.readouterr().err
    assert exit.value.code == 1 and error.count("\n") == 1
    assert error.startswith("error: metrics/study-reference-runs.json ") and line in error
    assert sorted(path.name for path in committed_runs.rglob("*")) == [
        "metrics",
        "params.yaml",
        "study-reference-runs.json",
        "study.yaml",
    ]


@pytest.mark.parametrize(
    "text, line",
    [
        (b'{"kind": "plain", "grid": "reference\xff"}', "is not UTF-8 text (byte 36)"),
        (b"[1, 2]", "is not a runs file the study wrote: not a JSON object"),
        (b'{"kind": [1]}', "records the kind of grid other; expected one of"),
        (b'{"kind": "plain"}', "['grid']: Field required"),
    ],
)
def test_a_runs_file_that_is_no_object_or_no_text_is_one_line(committed_runs, capsys, text, line):
    write_runs("reference", None, text)
    with pytest.raises(SystemExit):
        study(["--grid", "reference", "--reanalyse"])
    assert line in capsys.readouterr().err


def test_a_fine_tuning_runs_file_whose_runs_disagree_is_refused(committed_runs):
    results = copy.deepcopy(COMMITTED["finetuning"])
    first = next(iter(results["runs"].values()))
    first["predicted"].pop()
    write_runs("finetuning", results)
    with pytest.raises(UserError, match="every run predicts the same test images"):
        read_kind_results("finetuning")


def test_every_committed_runs_file_is_one_its_kind_accepts():
    for grid in ("reference", "modern", "tuned", "optimizers", "finetuning"):
        kind, results = read_kind_results(grid, REPO_ROOT)
        assert kind.name == results["kind"]


def test_markup_in_generated_text_shows_as_text():
    assert inert_html("<script>x</script> and <img src=x>") == (
        "&lt;script>x&lt;/script> and &lt;img src=x>"
    )
    assert inert_html("p < 0.05, 3<4, <!-- c -->") == "p < 0.05, 3<4, &lt;!-- c -->"


def test_a_written_table_shows_markup_in_its_cells_and_notes_as_text(tmp_path):
    rows = [{"family <b>": "<img src=x>", "p": "< 0.001"}]
    markdown = write_table(tmp_path / "table", rows, ["a note <script>"])
    assert "<b>" not in markdown and "<img" not in markdown and "<script" not in markdown
    assert "| &lt;img src=x> | < 0.001 |" in markdown and markdown.endswith("&lt;script>\n")
    assert (tmp_path / "table.md").read_text() == markdown


PAGE = """# Page
Mention `<!-- study-g:start -->` inline, then prose to keep.

<!-- study-g:start -->
old table
<!-- study-g:end -->
tail
"""


def test_a_block_is_only_where_its_markers_stand_alone_and_in_order(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    assert update_blocks(page, {"study-g": "new table\n"}) == ["study-g"]
    assert page.read_text() == PAGE.replace("old table", "new table")
    page.write_text("Mention `<!-- study-g:start -->` and `<!-- study-g:end -->` inline only.\n")
    with pytest.raises(UserError) as missing:
        replace_marked_block(page, "study-g", "t\n")
    assert str(missing.value) == (
        f"{page} has no `<!-- study-g:start -->` ... `<!-- study-g:end -->` block (each on a "
        "line of its own)"
    )
    page.write_text("<!-- study-g:end -->\nx\n<!-- study-g:start -->\n")
    with pytest.raises(UserError, match="`<!-- study-g:end -->` comes before `<!-- study-g:start"):
        update_blocks(page, {"study-g": "t\n"})
    page.write_bytes(b"<!-- study-g:start -->\n\xff\n<!-- study-g:end -->\n")
    with pytest.raises(UserError, match="page.md is not UTF-8 text"):
        update_blocks(page, {"study-g": "t\n"})


def test_a_page_behind_a_symlink_is_written_in_place_with_its_mode(tmp_path):
    target = tmp_path / "docs" / "real.md"
    target.parent.mkdir()
    target.write_text(PAGE)
    os.chmod(target, 0o600)
    link = tmp_path / "page.md"
    link.symlink_to(target)
    update_blocks(link, {"study-g": "new table\n"})
    assert link.is_symlink() and "new table" in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o600


EXP = Run(
    "exp-lr0.01-k0.3",
    ("-S", "schedule.name=exp", "-S", "schedule.initial_lr=0.01", "-S", "schedule.k=0.3"),
    ("train",),
)


def experiment_commit(root, params, code=None):
    """A commit beside HEAD as `dvc exp run` makes one: the variant's params set (and some code
    changed); HEAD stays checked out."""
    run(["git", "checkout", "-q", "--detach"], root)
    set_params(root / "params.yaml", params)
    if code:
        (root / code).write_text((root / code).read_text() + "\n# changed\n")
    run(["git", "commit", "-qam", "experiment"], root)
    rev = run(["git", "rev-parse", "--short", "HEAD"], root).stdout.strip()
    run(["git", "checkout", "-q", "-"], root)
    return rev


def test_an_experiment_is_reused_only_if_it_ran_what_would_run_now(project, monkeypatch):
    root = project()
    monkeypatch.chdir(root)
    variant = {"schedule.name": "exp", "schedule.initial_lr": 1.0e-2, "schedule.k": 0.3}
    same = experiment_commit(root, variant)
    unread = experiment_commit(root, {**variant, "finetune.epochs": 9, "verdicts.margin": 2})
    dropout = experiment_commit(root, {**variant, "head.dropout": 0.5})
    code = experiment_commit(root, variant, code="lrstudy/heads/training.py")
    for rev in (same, unread):  # what train and its upstream stages read is the same
        refuse_stale([EXP], {EXP.name: rev})
    with pytest.raises(UserError) as refused:
        refuse_stale([EXP], {EXP.name: dropout})
    assert str(refused.value) == (
        "1 experiments of this grid ran something else than it would run now (exp-lr0.01-k0.3: "
        "other params (head.dropout 0.5, now 0.0)): remove them (dvc exp remove exp-lr0.01-k0.3) "
        "to rerun them, or check out the commit they ran"
    )
    with pytest.raises(UserError, match=r"other code \(lrstudy/heads/training.py\)"):
        refuse_stale([EXP], {EXP.name: code})
    set_params(root / "params.yaml", {"head.dropout": 0.5})
    with pytest.raises(UserError) as refused:
        refuse_uncommitted(("params.yaml", *CODE), "queued variants")
    assert str(refused.value) == (
        "queued variants run the commit, not your uncommitted params.yaml: commit them"
    )


class RunsNothing:
    """A runner whose variants all fail: none of them leaves an experiment."""

    def run_variants(self, label, runs):
        pass


def test_a_shard_whose_variants_failed_is_an_error_and_their_logs_are_printed(project, monkeypatch):
    monkeypatch.chdir(project())
    with pytest.raises(UserError) as failed:
        run_shard("g", RunsNothing(), [EXP], (1, 2))
    assert str(failed.value) == (
        "shard 1/2: 1 of its 1 variants failed (exp-lr0.01-k0.3; their logs are above): run the "
        "shard again"
    )
    # DVC says why a task has no log on stderr: printed, not dropped.
    assert failure_log(EXP.name) == "ERROR: 'exp-lr0.01-k0.3' is not a valid queued experiment name"


def test_a_second_study_in_one_clone_is_refused_while_the_first_runs(tmp_path):
    lock = tmp_path / ".dvc" / "tmp" / "lrstudy-study.lock"
    with one_study_at_a_time("reference", lock):
        with pytest.raises(UserError) as refused:
            with one_study_at_a_time("modern", lock):
                pass
        assert str(refused.value) == (
            f"another study runs in this clone (pid {os.getpid()}, --grid reference): wait for "
            "it to end, or run this one from another clone"
        )
    with one_study_at_a_time("modern", lock):  # once the first ended
        pass
