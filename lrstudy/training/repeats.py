"""A head trained once per seed (`train.repeats` of them, all in one graph:
lrstudy/training/stacked.py), so that every figure carries its spread: the stages `baseline` and
`train`.

Seeds train.seed, train.seed + 1, ... each give the head its initial weights and batch order.
Runs with the same seed in two experiments share both, so the study compares them in pairs.
"""

import time

from lrstudy.atomic import atomic_output, write_json
from lrstudy.data.features import class_count, load_features
from lrstudy.models.saving import save_model
from lrstudy.paths import metrics_dir, model_file, repeats_file, time_file
from lrstudy.statistics import curve_band, per_seed_results, summarize
from lrstudy.tracking import keep_in_summary, open_live
from lrstudy.training.head import build_head
from lrstudy.training.stacked import fit_heads

HISTORY_DIGITS = 7  # significant: float32 precision, and repeats.json stays small


def repeat_seeds(settings):
    """The seeds of the repeats: train.seed, train.seed + 1, ... (train.repeats of them)."""
    return [settings["seed"] + repeat for repeat in range(settings["repeats"])]


def headline(history):
    """metrics.json's figures over seeds: the final validation accuracy's mean, standard
    deviation and 95 % interval; the best validation accuracy's and final loss's mean and std."""
    results = per_seed_results(history)
    spread = ("mean", "std")
    return {
        "final_val_accuracy": summarize(results["final_val_accuracy"]),
        "best_val_accuracy": {key: summarize(results["best_val_accuracy"])[key] for key in spread},
        "final_val_loss": {key: summarize(results["final_val_loss"])[key] for key in spread},
    }


def log_repeats(name, seeds, history):
    """dvclive logs of the repeats in metrics/<name>/: per-epoch mean curves (and their standard
    deviation over seeds, `<metric>_std`) for `dvc plots`, and in metrics.json the headline
    figures over seeds (and dvclive's `step`), nothing else: what `dvc exp show` lists.
    repeats.json keeps every seed's curves, from which the report and study test differences."""
    means = {key: curve_band(runs) for key, runs in history.items()}
    with open_live(metrics_dir(name)) as live:
        for epoch in range(len(means["loss"][0])):
            for key, (mean, std) in means.items():
                split, metric = ("eval", key[4:]) if key.startswith("val_") else ("train", key)
                live.log_metric(f"{split}/{metric}", mean[epoch])
                if metric != "learning_rate":
                    live.log_metric(f"{split}/{metric}_std", std[epoch])
            live.next_step()
        keep_in_summary(live, headline(history))
    write_json(repeats_file(name), {"seeds": seeds, "history": history})
    return live.summary


def train_repeats(name, schedule, settings):
    """Fit the head once per seed with `schedule(epoch, lr)`; log the repeats to metrics/<name>/
    and save the first seed's model as data/models/<name>.keras (the one `finetune` continues)."""
    train_features, num_classes = load_features("train"), class_count()
    seeds = repeat_seeds(settings)
    started = time.perf_counter()
    heads, curves = fit_heads(
        schedule,
        settings,
        seeds,
        train_features,
        load_features("val"),
        num_classes,
        desc=f"{name}: {len(seeds)} seeds",
    )
    training_s = time.perf_counter() - started
    head = build_head(train_features[0].shape[1], num_classes, settings["dropout"])
    head.get_layer("classifier").set_weights(heads.head_weights(0))
    with atomic_output(model_file(name)) as partial:
        save_model(head, partial)

    history = {
        key: [[float(f"{value:.{HISTORY_DIGITS}g}") for value in run] for run in runs]
        for key, runs in curves.items()
    }
    summary = log_repeats(name, seeds, history)
    writing_s = time.perf_counter() - started - training_s
    write_json(
        time_file(name), {"wall_time_s": round(training_s, 2), "writing_s": round(writing_s, 2)}
    )
    final, best = summary["final_val_accuracy"], summary["best_val_accuracy"]
    print(
        f"{name}: final val accuracy {final['mean']:.4f} (std {final['std'] or 0:.4f}) over "
        f"{len(seeds)} seeds, best {best['mean']:.4f}; trained in {training_s:.1f} s"
    )
