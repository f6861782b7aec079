"""The study's runner on this machine: every variant a `dvc exp run` in a checkout of this
project that is kept for the next variants, one checkout per job, its experiment then pushed
into the project (`dvc exp push`). Dask's workers (cluster.py) run variants the same way.

DVC's own queue (`--queue`, queue.py) makes a fresh temporary copy of the project for every
experiment and is polled; bench item 6 measures both. A kept checkout is a git clone of the
project in .dvc/tmp/lrstudy-checkouts/<n> whose DVC cache is the project's: what a variant
writes is in the project's cache at once, the shared stages' outputs are checked out in it
once, and only the experiment's ref is pushed back. A variant is in the project once its ref
is: one interrupted leaves nothing there, and the next study runs it again (the experiment it
left in its checkout removed first).
"""

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from lrstudy.core.paths import time_file
from lrstudy.core.yaml_files import read_yaml
from lrstudy.experiments import (
    dvc_command,
    experiment_rows,
    git,
    run_dvc,
    succeeded,
    succeeded_revs,
    try_git,
    variant_env,
    with_this_python,
)
from lrstudy.study.reuse import ready_to_run, refuse_stale
from lrstudy.study.variants import SHARED_STAGE

CHECKOUTS = Path(".dvc/tmp/lrstudy-checkouts")  # <n>/: a checkout; logs/<variant>.log
STOP_SECONDS = 30  # a variant stopped with SIGINT gets this long before it is killed
LOG_TAIL = 40  # lines of a failed variant's log printed


def lock_outputs(lock):
    """The outputs' paths that the dvc.lock at `lock` names (none if there is none)."""
    try:
        stages = read_yaml(lock).get("stages") or {}
    except FileNotFoundError:
        return []
    return [out["path"] for stage in stages.values() for out in stage.get("outs") or []]


class Checkout:
    """A git clone in which variants run one after the other, each reset to the commit it
    runs."""

    def __init__(self, root):
        self.root = Path(root)

    @classmethod
    def cloned(cls, url, root):
        """The clone of `url` at `root`, made if it is not there yet."""
        if not (Path(root) / ".git").is_dir():
            git("clone", "-q", "--no-checkout", str(url), str(root))
            if not try_git("config", "user.email", cwd=root):  # `dvc exp run` commits
                git("config", "user.name", "lrstudy study", cwd=root)
                git("config", "user.email", f"lrstudy@{socket.gethostname()}", cwd=root)
        return cls(root)

    def reset(self, commit):
        """Tracked files as `commit` has them, untracked ones gone, but for the outputs its
        dvc.lock names (ignored ones, and `cache: false` ones a user has not committed yet)
        and the .gitignore files DVC writes for them: without these, every variant would run
        or check out the shared stages again."""
        if try_git("cat-file", "-e", f"{commit}^{{commit}}", cwd=self.root) is None:
            git("fetch", "-q", "origin", cwd=self.root)
        git("checkout", "-q", "--force", "--detach", commit, cwd=self.root)
        kept = [f"--exclude=/{path}" for path in lock_outputs(self.root / "dvc.lock")]
        git("clean", "-q", "-d", "--force", "--exclude=.gitignore", *kept, cwd=self.root)

    def remove_leftover(self, name, commit, env):
        """Remove the experiment `name` of `commit` that an earlier run left here (its push
        failed, or it was removed from the project since): `dvc exp run -n` refuses a name
        taken."""
        from dvc.repo.experiments.refs import ExpRefInfo

        ref = str(ExpRefInfo(commit, name))
        if try_git("rev-parse", "-q", "--verify", ref, cwd=self.root):
            run_dvc("exp", "remove", name, cwd=self.root, env=env, check=False)

    def run_experiment(self, run, commit, env, output=subprocess.PIPE, started=None):
        """`dvc exp run -n NAME ARGS TARGETS` of `run` (variants.Run) here, its output into
        `output`, in a process group of its own (`started(process)` is told of it): its return
        code."""
        self.remove_leftover(run.name, commit, env)
        process = subprocess.Popen(
            dvc_command("exp", "run", "-n", run.name, *run.arguments, *run.targets),
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        if started:
            started(process)
        process.communicate()
        return process.returncode


class Stopwatch:
    def __init__(self):
        self.laps, self.last = {}, time.monotonic()

    def lap(self, step):
        now = time.monotonic()
        self.laps[step], self.last = now - self.last, now


def step_times(steps):
    """'checkout 0.1 s (at most 2.0 s), run ...' (medians) from each variant's {step: seconds}."""
    return ", ".join(
        f"{step} {statistics.median(times):.1f} s (at most {max(times):.1f} s)"
        for step in steps[0]
        for times in [[laps[step] for laps in steps if step in laps]]
        if times
    )


def training_seconds(root, since):
    """The seconds `train` spent training (its heads and every fold's) in the checkout `root`,
    where it ran after `since` (a time.time()); else None."""
    path = Path(root) / time_file("train")
    try:
        if path.stat().st_mtime < since:
            return None
        times = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return times.get("wall_time_s", 0) + times.get("folds_s", 0)


class KeptCheckouts:
    """Runs variants on this machine, `jobs` at a time, each job in a checkout of its own kept
    in .dvc/tmp/lrstudy-checkouts/ across variants and studies."""

    def __init__(self, jobs, folder=CHECKOUTS):
        self.jobs, self.folder = jobs, Path(folder)
        self.running, self.lock, self.stopping = set(), threading.Lock(), False
        self.steps = []  # per variant of the last run_variants: {step: seconds}

    def __enter__(self):
        ready_to_run("the study's checkouts")
        self.cache = run_dvc("cache", "dir").stdout.strip()
        self.commit = git("rev-parse", "HEAD")
        # dvc.lock as `dvc repro` left it: what each checkout's shared stages are checked out
        # from, committed or not (the queue takes it the same way).
        self.lock_text = Path("dvc.lock").read_bytes()
        self.free = queue.SimpleQueue()
        for number in range(1, self.jobs + 1):
            self.free.put(self.folder / str(number))
        (self.folder / "logs").mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exception):
        return False

    def prepared(self, root):
        """The kept checkout at `root` at this study's commit, with the project's cache and
        dvc.lock, and the shared stages' outputs checked out."""
        project = Path.cwd()
        if (root / ".git").is_dir() and not self.serves(root, project):
            shutil.rmtree(root)
        env, fresh = with_this_python(), not (root / ".git").is_dir()
        checkout = Checkout.cloned(project, root)
        checkout.reset(self.commit)  # its .dvc/ first: DVC would find the project's above it
        (root / "dvc.lock").write_bytes(self.lock_text)
        if fresh:
            run_dvc("cache", "dir", "--local", self.cache, cwd=root, env=env)
            run_dvc("checkout", "--with-deps", SHARED_STAGE, cwd=root, env=env)
        return checkout

    def serves(self, root, project):
        """Whether the checkout at `root` was made for this project at its place and with its
        DVC cache (not before the project moved, or its cache did)."""
        from configobj import ConfigObj

        local = ConfigObj(str(root / ".dvc" / "config.local"))
        origin = try_git("remote", "get-url", "origin", cwd=root)
        return origin == str(project) and local.get("cache", {}).get("dir") == self.cache

    def run_variant(self, run):
        """Run `run` (variants.Run) in a free checkout and push its experiment here: (its
        return code, its log, {step: seconds})."""
        root, clock, env = self.free.get(), Stopwatch(), variant_env(self.at_once)
        log = self.folder / "logs" / f"{run.name}.log"
        try:
            checkout = self.prepared(root)
            clock.lap("checkout")
            since = time.time()
            with open(log, "w") as output:
                code = checkout.run_experiment(run, self.commit, env, output, self.started)
            clock.lap("dvc exp run")
            if code == 0:
                run_dvc("exp", "push", "--no-cache", "origin", run.name, cwd=root, env=env)
                clock.lap("push")
                if (training := training_seconds(root, since)) is not None:
                    clock.laps["training"] = training
            return code, log, clock.laps
        finally:
            self.free.put(root)

    def started(self, process):
        with self.lock:
            self.running.add(process)
            if self.stopping:  # started as the study stopped
                os.killpg(process.pid, signal.SIGKILL)

    def stop_running(self):
        """SIGINT to every running variant's process group (DVC passes it to the stage, which
        stops cleanly), then SIGKILL to those still there after STOP_SECONDS."""
        with self.lock:
            self.stopping = True
            running = [process for process in self.running if process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_SECONDS
        for process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def run_variants(self, label, runs):
        """Run every one of `runs` (variants.Run) that has not succeeded here, `jobs` at a
        time, with a progress bar; print the log's end of each that failed."""
        names, self.steps = [run.name for run in runs], []
        refuse_stale(runs, succeeded_revs(experiment_rows()))
        done = set(succeeded(names))
        to_run = [run for run in runs if run.name not in done]
        print(f"study: {len(runs)} variants in {label}, {len(done)} already run")
        if not to_run:
            return
        started = time.monotonic()
        # A variant alone (a fine-tuning) gets every core; each of two, half of them.
        self.at_once = min(self.jobs, len(to_run))
        pool = ThreadPoolExecutor(self.at_once, thread_name_prefix="variant")
        try:
            futures = {pool.submit(self.run_variant, run): run for run in to_run}
            with tqdm(total=len(futures), desc="variants", unit="exp") as bar:
                for future in as_completed(futures):
                    self.report(futures[future], *future.result(), bar)
                    bar.update()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            self.stop_running()
            raise
        finally:
            pool.shutdown(wait=True)
        if self.steps:
            print(
                f"study: {len(self.steps)} variants ran in {time.monotonic() - started:.0f} s, "
                f"{self.at_once} at a time; each took {step_times(self.steps)}"
            )

    def report(self, run, code, log, laps, bar):
        if code == 0:
            self.steps.append(laps)
            return
        lines = log.read_text(errors="replace").splitlines()
        bar.write(
            f"study: variant {run.name} failed (`dvc exp run` exited with {code}); the end of "
            f"its log, {log}:\n" + "\n".join(lines[-LOG_TAIL:])
        )
