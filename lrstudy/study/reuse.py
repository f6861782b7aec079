"""Which experiments a study may reuse: a variant that succeeded before is reused only if it ran
what would run now, the code of HEAD (dvc.yaml, lrstudy/, stages/) and HEAD's params.yaml with
the variant's `-S` values. One that ran anything else (params.yaml edited but not committed
when it was queued, an older commit's code, a colleague's changes) is refused with what
differs, never mixed into a table with the others.

What variants run must therefore be committed: the runners refuse uncommitted changes to it,
as the queue would otherwise copy them into every variant it queues.
"""

import shlex

import yaml

from lrstudy.core.errors import UserError
from lrstudy.experiments import run_dvc, try_git
from lrstudy.study.variants import SHARED_STAGE

CODE = ("dvc.yaml", "lrstudy", "stages")  # what a variant runs, besides params.yaml
SHOWN = 3  # differences named per experiment


def refuse_uncommitted(paths, who):
    """A UserError naming the files among `paths` that differ from HEAD (staged or not)."""
    if changed := try_git("diff", "--name-only", "HEAD", "--", *paths):
        files = ", ".join(changed.split()[:SHOWN])
        raise UserError(f"{who} run the commit, not your uncommitted {files}: commit them")


def ready_to_run(who):
    """What a runner on this machine needs before its first variant: params.yaml and the code
    committed (`who` runs the commit), and the shared stages up to date in the project."""
    refuse_uncommitted(("params.yaml", *CODE), who)
    print(f"study: bringing fetch, split, features and {SHARED_STAGE} up to date")
    run_dvc("repro", SHARED_STAGE, capture=False)


def as_number(value):
    """A number written as text (DVC writes 1e-05, which YAML reads as text) as the number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def flat(params, prefix=""):
    """{"group.key": value} of a params.yaml."""
    found = {}
    for key, value in (params or {}).items():
        if isinstance(value, dict):
            found.update(flat(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = as_number(value)
    return found


def intended(run, head_params):
    """The flat params the variant `run` (variants.Run) runs with: HEAD's, then its `-S`."""
    params = flat(head_params)
    for key, _, value in (pair.partition("=") for pair in run.arguments[1::2]):
        params[key] = as_number(yaml.safe_load(value))
    return params


def params_read_by(targets):
    """The params.yaml keys and groups the stages up to `targets` read (dvc.yaml's `params`);
    every stage's when `targets` is empty."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(".") as repo:
        if targets:
            stages = [stage for t in targets for stage in repo.stage.collect(t, with_deps=True)]
        else:
            stages = list(repo.index.stages)
    return {
        key
        for stage in stages
        for dep in stage.deps
        if isinstance(dep, ParamsDependency)
        for key in dep.params
    }


def read_by(key, read):
    return any(key == group or key.startswith(f"{group}.") for group in read)


def difference(run, rev, head_params, read):
    """What experiment `rev` ran that the variant `run` would not run now (text), or None.
    Only the params its stages read (`read`) count."""
    if code := try_git("diff", "--name-only", "HEAD", rev, "--", *CODE):
        return f"other code ({', '.join(code.split()[:SHOWN])})"
    text = try_git("show", f"{rev}:params.yaml")
    if text is None:
        return "no params.yaml"
    ran, now = flat(yaml.safe_load(text)), intended(run, head_params)
    changed = [
        key
        for key in sorted(ran.keys() | now.keys())
        if ran.get(key) != now.get(key) and read_by(key, read)
    ]
    if changed:
        shown = ", ".join(f"{key} {ran.get(key)}, now {now.get(key)}" for key in changed[:SHOWN])
        return f"other params ({shown})"
    return None


def refuse_stale(runs, revs):
    """A UserError when an experiment of `revs` ({name: rev}, those that succeeded) ran other
    code or params than its variant of `runs` would run now, naming each and how to go on."""
    head_params = yaml.safe_load(try_git("show", "HEAD:params.yaml") or "{}")
    reused = [run for run in runs if run.name in revs]
    read = {targets: params_read_by(targets) for targets in {run.targets for run in reused}}
    stale = {
        run.name: found
        for run in reused
        if (found := difference(run, revs[run.name], head_params, read[run.targets]))
    }
    if stale:
        first = next(iter(stale))
        remove = shlex.join(["dvc", "exp", "remove", *stale])
        raise UserError(
            f"{len(stale)} experiments of this grid ran something else than it would run now "
            f"({first}: {stale[first]}): remove them ({remove}) "
            "to rerun them, or check out the commit they ran"
        )
