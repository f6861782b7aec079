"""A study's variants as Dask tasks (`--scheduler tcp://HOST:PORT`, docs/sharing.md).

The driver checks that the workers can start from what it has: its commit on the git remote,
a default DVC remote in the committed `.dvc/config`, the shared stages' outputs on that remote.
Each task then runs on a worker in a checkout of its own (one per task running at once there,
kept across tasks), reset to the driver's commit: it pulls the shared stages' outputs, runs
`dvc exp run -n <variant> -S ...`, pushes the experiment's outputs to the DVC remote and only
then its ref to the git remote, so that a ref on the remote always has its outputs. A worker
killed mid-variant pushed no ref, and Dask runs the task again elsewhere; a variant already on
the remote is not run again. The driver pulls the experiments (`dvc exp pull`), and the study
reads them as it reads a one-machine run's.
"""

import json
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from lrstudy.core.errors import UserError, import_extra, redacted
from lrstudy.experiments import (
    experiment_rows,
    git,
    run_dvc,
    succeeded,
    succeeded_revs,
    try_git,
    variant_env,
)
from lrstudy.study.checkouts import Checkout, Stopwatch, step_times
from lrstudy.study.reuse import refuse_stale, refuse_uncommitted
from lrstudy.study.variants import SHARED_STAGE, Run

# What the workers take from the commit rather than from the driver's workspace.
WHAT_WORKERS_RUN = ("dvc.yaml", "dvc.lock", "params.yaml", ".dvc/config", "lrstudy", "stages")
CONNECT_TIMEOUT = "20s"


@dataclass(frozen=True)
class Origin:
    """Where a worker's checkout comes from: the git remote's URL and the driver's commit."""

    url: str
    commit: str


def experiments_on(url, commit):
    """The names of the experiments of `commit` that the git remote `url` holds."""
    from dvc.repo.experiments.refs import ExpRefInfo

    listed = git("ls-remote", url, f"{ExpRefInfo(commit)}/*")
    return {ExpRefInfo.from_ref(line.split()[1]).name for line in listed.splitlines()}


def remote_experiments(origin):
    """experiments_on the driver's side: an unreachable git remote is one line."""
    try:
        return experiments_on(origin.url, origin.commit)
    except RuntimeError as error:
        raise UserError(
            f"cannot reach the git remote {origin.url}: {str(error).partition(': ')[2]}; the "
            "variants pushed so far are kept: run the study again once it is back"
        ) from None


def check_remote_folder(root="."):
    """The default DVC remote, where it is a folder, exists: DVC would create a missing one
    (an unmounted share) and push there, and a clone's `dvc exp pull` would then find the
    experiments' refs without their outputs."""
    from dvc.repo import Repo

    with Repo(root) as repo:
        name = repo.config["core"].get("remote")
        url = repo.config["remote"].get(name, {}).get("url", "") if name else ""
    scheme, _, path = url.rpartition("://")
    if url and scheme in ("", "file") and not Path(path).is_dir():
        raise UserError(
            f"the DVC remote {name!r} is the folder {path}, which does not exist: mount it, or "
            "create it if it is new"
        )


# The driver


def check_ready(git_remote):
    """The Origin of this clone's HEAD at the git remote named `git_remote`, once the workers
    can start from it; otherwise a UserError saying what to do."""
    url = try_git("remote", "get-url", git_remote)
    if url is None:
        raise UserError(f"no git remote {git_remote!r}: add one (git remote add) or name yours")
    if Path(url).exists():  # a folder: the workers see it from elsewhere
        url = str(Path(url).resolve())
    refuse_uncommitted(WHAT_WORKERS_RUN, "the workers")
    try_git("fetch", "-q", git_remote)
    if not try_git("for-each-ref", "--contains", "HEAD", f"refs/remotes/{git_remote}/"):
        raise UserError(f"HEAD is not on {git_remote}: push it (git push {git_remote} HEAD)")
    remote = run_dvc("config", "--project", "core.remote", check=False).stdout.strip()
    if not remote:
        raise UserError(
            "the committed .dvc/config names no default DVC remote (a --local one does not "
            "reach the workers): dvc remote add -d NAME URL, then commit and push .dvc/config"
        )
    check_remote_folder()
    status = run_dvc("status", "--cloud", "--with-deps", SHARED_STAGE, "--json").stdout
    # "deleted": on the remote only; "new": in this cache only; "missing": in neither
    states = json.loads(status or "{}")
    if missing := [path for path, state in states.items() if state in ("new", "missing")]:
        raise UserError(
            f"{len(missing)} outputs of {SHARED_STAGE} and its upstream stages are not on the DVC "
            f"remote {remote!r} (e.g. {missing[0]}): dvc repro {SHARED_STAGE}, dvc push, then again"
        )
    return Origin(url, git("rev-parse", "HEAD"))


def connect(address, timeout=CONNECT_TIMEOUT):
    distributed = import_extra("distributed", "cluster", "--scheduler")
    try:
        client = distributed.Client(address, timeout=timeout)
    except OSError as error:
        raise UserError(
            f"cannot reach the Dask scheduler at {address}: {error}; start one (docs/sharing.md)"
        ) from None
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    threads = sum(worker["nthreads"] for worker in workers)
    waiting = "" if workers else " (the tasks wait for one to join)"
    print(f"study: Dask scheduler {address}: {len(workers)} workers, {threads} threads{waiting}")
    return client


class Cluster:
    """Runs variants as Dask tasks from the commit the driver checked (check_ready): the runner
    of `--scheduler`, used as the local queue is (queue.py)."""

    def __init__(self, address, git_remote):
        self.address, self.git_remote = address, git_remote

    def __enter__(self):
        self.origin = check_ready(self.git_remote)
        self.client = connect(self.address)
        return self

    def __exit__(self, *exception):
        self.client.close()
        return False

    def run_variants(self, label, runs):
        """Run every one of `runs` (variants.Run) that is neither here nor on the git remote;
        pull them all."""
        from distributed import as_completed

        names = [run.name for run in runs]
        refuse_stale(runs, succeeded_revs(experiment_rows()))
        here = set(succeeded(names))
        remote = remote_experiments(self.origin)
        to_run = [run for run in runs if run.name not in here | remote]
        print(
            f"study: {len(runs)} variants in {label}, {len(runs) - len(to_run)} already "
            f"run (here or on {self.git_remote}); {len(to_run)} to Dask's workers"
        )
        futures = [
            self.client.submit(
                run_variant,
                self.origin,
                run.name,
                run.arguments,
                run.targets,
                key=f"{run.name}@{self.origin.commit[:12]}",
            )
            for run in to_run
        ]
        steps, started = [], time.monotonic()
        with tqdm(total=len(futures), desc="variants", unit="exp") as bar:
            for future in as_completed(futures):
                if future.status == "error":
                    name = future.key.partition("@")[0]
                    bar.write(redacted(f"study: variant {name} failed: {future.exception()}"))
                elif laps := future.result():
                    steps.append(laps)
                bar.update()
        if steps:
            print(
                f"study: {len(steps)} variants ran in {time.monotonic() - started:.0f} s; on its "
                f"worker each took {step_times(steps)}"
            )
        missing = [name for name in names if name not in here]
        if pulled := sorted(set(missing) & remote_experiments(self.origin)):
            run_dvc("exp", "pull", self.git_remote, *pulled)
            refuse_stale(runs, succeeded_revs(experiment_rows()))  # a colleague's, maybe


# A worker


class Checkouts:
    """This worker's checkouts of each git remote, one per task running at once, kept for the
    next tasks (a clone and a pull of the shared stages are paid once per checkout)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.free, self.count = {}, 0

    def take(self, url):
        from distributed import get_worker

        with self.lock:
            if self.free.get(url):
                return self.free[url].pop()
            self.count += 1
            root = Path(get_worker().local_directory) / "lrstudy-checkouts" / str(self.count)
        return Checkout.cloned(url, root)

    def give_back(self, url, checkout):
        with self.lock:
            self.free.setdefault(url, []).append(checkout)


CHECKOUTS = Checkouts()


def run_variant(origin, name, arguments, targets):
    """A Dask task: run the variant `name` at `origin`'s commit and push it. {step: seconds}
    of checkout, pull, run and push (none when the remote had it already)."""
    clock = Stopwatch()
    checkout = CHECKOUTS.take(origin.url)
    root = checkout.root
    try:
        if name in experiments_on(origin.url, origin.commit):
            return {}
        from distributed import get_worker

        env = variant_env(get_worker().state.nthreads)
        checkout.reset(origin.commit)
        clock.lap("checkout")
        run_dvc("pull", "--with-deps", SHARED_STAGE, cwd=root, env=env)
        clock.lap("pull")
        run = Run(name, arguments, targets)
        with tempfile.TemporaryFile("w+") as output:
            code = checkout.run_experiment(run, origin.commit, env, output)
            if code != 0:
                output.seek(0)
                raise RuntimeError(
                    f"`dvc exp run` exited with {code} on {socket.gethostname()}; its "
                    f"log:\n{output.read()}"
                )
        clock.lap("run")
        check_remote_folder(root)
        run_dvc("push", *(("--with-deps", *targets) if targets else ()), cwd=root, env=env)
        run_dvc("exp", "push", "--no-cache", "origin", name, cwd=root, env=env)
        clock.lap("push")
        return clock.laps
    finally:
        CHECKOUTS.give_back(origin.url, checkout)
