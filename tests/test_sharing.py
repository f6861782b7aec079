"""Sharing results instead of recomputing them, all real git and DVC: a bare repository stands
in for the git server, a folder for the DVC remote, clones in temporary folders for machines.

Machine A ran the pipeline and a tiny study, and pushed both (`make push`'s commands). A clone
that pulls is up to date at once and trains only the head for its first experiment; a clone
that pulls A's experiments rebuilds A's study table training nothing; two machines that each
ran half the grid (`--shard`) give, pulled together, A's table byte for byte; and so do two Dask
workers on 127.0.0.1, one of them killed mid-variant.
"""

import json
import subprocess
import sys

import dvc.api as dvc_api
import pytest

from lrstudy.experiments import experiment_states
from lrstudy.study.variants import Run
from tests.helpers.commands import dvc, ran_stages, run, stage_env
from tests.helpers.dask_cluster import kill_session, local_cluster, wait_until_running
from tests.helpers.images import copy_sample
from tests.helpers.sandbox import FAST, make_project

pytestmark = pytest.mark.slow  # real DVC pipelines: minutes

TINY_GRID = """
tiny:
  fixed:
    - {initial_lr: 0.001}
  exp:
    - {initial_lr: 0.01, k: 0.3}
  step:
    - {initial_lr: 0.01, drop: 0.5, epochs_drop: 2}
"""
STUDY = [sys.executable, "-m", "lrstudy.study", "--grid", "tiny"]
TABLES = ("metrics/study-tiny.md", "metrics/study-tiny.csv")


def git(*args, cwd):
    return run(["git", *args], cwd)


def clone(base, name, source="origin.git"):
    """A machine: a clone of the git server, with the DVC remote its .dvc/config names."""
    root = base / name
    subprocess.run(["git", "clone", "-q", str(base / source), str(root)], check=True)
    git("config", "user.name", name, cwd=root)
    git("config", "user.email", f"{name}@localhost", cwd=root)
    return root


def started(command, cwd):
    """A command running in the background, its output (stdout and stderr) in one pipe."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=stage_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def tables(root):
    return {name: (root / name).read_bytes() for name in TABLES}


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    """(base folder, machine A's study tables): A ran `dvc repro` and the tiny study, then
    pushed its commit, its DVC cache with the run cache, and its experiments."""
    base = tmp_path_factory.mktemp("sharing")
    sample = copy_sample(base / "sample")
    a = make_project(base / "a", {"data.source": str(sample), **FAST, "finetune.epochs": 1})
    (a / "study.yaml").write_text(TINY_GRID)
    subprocess.run(["git", "init", "-q", "--bare", str(base / "origin.git")], check=True)
    dvc("remote", "add", "-d", "shared", str(base / "dvc-remote"), cwd=a)
    dvc("repro", cwd=a)
    git("add", "-A", cwd=a)
    git("commit", "-qm", "the pipeline run, a shared DVC remote", cwd=a)
    git("remote", "add", "origin", str(base / "origin.git"), cwd=a)
    git("push", "-q", "-u", "origin", "HEAD", cwd=a)
    dvc("push", "--run-cache", cwd=a)
    run(STUDY, a)
    dvc("exp", "push", "--run-cache", "origin", cwd=a)
    return base, tables(a)


def test_a_clone_that_pulls_is_up_to_date_and_its_first_experiment_trains_only_the_head(machines):
    base, _ = machines
    b = clone(base, "b")
    dvc("pull", "--run-cache", cwd=b)
    assert json.loads(dvc("status", "--json", cwd=b).stdout) == {}
    assert ran_stages(dvc("repro", cwd=b).stdout) == []
    first = dvc("exp", "run", "-S", "schedule.k=0.3", "train", cwd=b)
    assert ran_stages(first.stdout) == ["train"]


def test_a_clone_that_pulls_a_finished_study_trains_nothing_and_rebuilds_its_table(machines):
    base, table = machines
    later = clone(base, "later")
    dvc("pull", "--run-cache", cwd=later)
    dvc("exp", "pull", "--run-cache", "origin", cwd=later)
    study = run(STUDY, later)
    assert "3 variants in tiny, 3 already run" in study.stdout
    assert "Running stage" not in study.stdout
    assert tables(later) == table


def test_a_grid_sharded_over_two_machines_gives_the_one_machine_table(machines):
    base, table = machines
    # Their own git server: A's experiments, pushed to origin, must not be what is pulled.
    subprocess.run(["git", "init", "-q", "--bare", str(base / "shards.git")], check=True)
    git("push", "-q", str(base / "shards.git"), "HEAD", cwd=base / "a")
    shards = str(base / "shards.git")
    running = {}
    for index in (1, 2):  # the two machines at once
        machine = clone(base, f"shard{index}", "shards.git")
        dvc("pull", "--run-cache", cwd=machine)
        running[index, machine] = started([*STUDY, "--shard", f"{index}/2"], machine)
    for (index, machine), shard in running.items():
        output, _ = shard.communicate(timeout=600)
        assert shard.returncode == 0, output
        share = 2 if index == 1 else 1  # three variants dealt round-robin
        assert f"{share} variants in tiny, shard {index}/2, 0 already run" in output
        assert f"shard {index}/2 done (its {share} variants succeeded)" in output
        assert not (machine / TABLES[0]).exists()  # a shard builds no table
        dvc("exp", "push", "--run-cache", shards, cwd=machine)

    merged = clone(base, "merged", "shards.git")
    dvc("pull", "--run-cache", cwd=merged)
    dvc("exp", "pull", "--run-cache", shards, cwd=merged)
    study = run(STUDY, merged)
    assert "3 variants in tiny, 3 already run" in study.stdout
    assert tables(merged) == table


def test_a_grid_on_two_dask_workers_gives_the_one_machine_table_though_one_is_killed(machines):
    base, table = machines
    # A git server with A's commit and none of its experiments: the workers must push theirs.
    subprocess.run(["git", "init", "-q", "--bare", str(base / "cluster.git")], check=True)
    git("push", "-q", str(base / "cluster.git"), "HEAD", cwd=base / "a")
    driver = clone(base, "driver", "cluster.git")
    with local_cluster(base / "dask") as (address, workers):
        study = started([*STUDY, "--scheduler", address], driver)
        killed_mid_variant = wait_until_running(workers[1], ["exp", "run"], timeout=120)
        kill_session(workers[1])
        output, _ = study.communicate(timeout=600)
        pushed = git("ls-remote", str(base / "cluster.git"), "refs/exps/*", cwd=driver).stdout
        again = run([*STUDY, "--scheduler", address], clone(base, "again", "cluster.git"))
        one_fails = run_two_variants_one_broken(address, base / "again")
        refused, rerun = rerun_after_a_refused_push(address, base / "again", base / "cluster.git")
    assert killed_mid_variant
    assert study.returncode == 0, output
    assert "3 variants in tiny, 0 already run (here or on origin); 3 to Dask's workers" in output
    assert tables(driver) == table
    names = {line.rsplit("/", 1)[1] for line in pushed.splitlines()}
    variants = {"fixed-lr0.001", "exp-lr0.01-k0.3", "step-lr0.01-drop0.5-every2"}
    assert names == variants | {"fixed-lr0.001-finetuned"}
    # A study run again, from another clone, finds every variant on the remote.
    assert "3 variants in tiny, 3 already run (here or on origin); 0 to" in again.stdout
    assert tables(base / "again") == table
    assert "study: variant broken failed: `dvc exp run` exited with" in one_fails
    assert "schedule.initial_lr = -1.0 is not allowed" in one_fails  # its log
    pulled = experiment_states(dvc_api.exp_show(repo=str(base / "again")))
    assert pulled.get("exp-lr0.01-k0.1") == "Success"
    # A push the git remote refused leaves the experiment in the worker's kept checkout; the
    # variant's next run there starts afresh instead of conflicting with it.
    assert "study: variant exp-lr0.01-k0.2 failed: `dvc exp push --no-cache" in refused
    assert "study: variant exp-lr0.01-k0.2 failed" not in rerun
    assert pulled.get("exp-lr0.01-k0.2") == "Success"


def run_two_variants_one_broken(address, root):
    """What the driver prints when it runs, on the cluster, a variant that fails beside one
    that does not."""
    runs = [
        Run("broken", ("-S", "schedule.initial_lr=-1.0"), ("train",)),
        Run("exp-lr0.01-k0.1", ("-S", "schedule.name=exp", "-S", "schedule.k=0.1"), ("train",)),
    ]
    code = (
        "from lrstudy.study.cluster import Cluster; from lrstudy.study.variants import Run; "
        f"cluster = Cluster({address!r}, 'origin')\n"
        f"with cluster: cluster.run_variants('a broken variant', {runs!r})"
    )
    return run([sys.executable, "-c", code], root).stdout


def rerun_after_a_refused_push(address, root, server):
    """What the driver prints when the git remote cannot take a variant's ref (a folder stands
    where the ref goes), then when the same variant runs again once it can."""
    name = "exp-lr0.01-k0.2"
    commit = git("rev-parse", "HEAD", cwd=root).stdout.strip()
    blocker = server / "refs" / "exps" / commit[:2] / commit[2:] / name
    blocker.mkdir(parents=True)
    runs = [Run(name, ("-S", "schedule.name=exp", "-S", "schedule.k=0.2"), ("train",))]
    code = (
        "from lrstudy.study.cluster import Cluster; from lrstudy.study.variants import Run; "
        f"cluster = Cluster({address!r}, 'origin')\n"
        f"with cluster: cluster.run_variants('one variant', {runs!r})"
    )
    refused = run([sys.executable, "-c", code], root).stdout
    blocker.rmdir()
    return refused, run([sys.executable, "-c", code], root).stdout


def test_the_fine_tuned_model_is_an_artifact_that_dvc_gets_by_name(machines):
    base, _ = machines
    c = clone(base, "c")
    listed = dvc("ls", "--json", ".", "data/models", cwd=c)
    assert "finetuned.keras" in {entry["path"] for entry in json.loads(listed.stdout)}
    # A version, in GTO's tag convention, pushed to the git server.
    git("tag", "-a", "finetuned-classifier@v1.0.0", "-m", "first fine-tuned model", cwd=c)
    git("push", "-q", "origin", "finetuned-classifier@v1.0.0", cwd=c)

    target = base / "downloaded" / "model.keras"
    target.parent.mkdir()
    origin = str(base / "origin.git")
    dvc("artifacts", "get", origin, "finetuned-classifier", "-o", str(target), cwd=target.parent)
    import keras

    model = keras.models.load_model(target)
    assert model.output_shape == (None, 3)  # the sample's three classes
