"""The real pipeline: real DVC commands in a temp git repo, on real photos of the shared dataset."""

import csv
import json
import math
import re
import sys

import numpy as np
import pytest
import yaml
from PIL import Image
from scipy import stats

from lrstudy.core.outputs import parse_curve
from lrstudy.core.paths import time_file
from lrstudy.core.quiet import LOG_LINE
from lrstudy.study.folds import fold_runs
from lrstudy.study.folds import outcomes as outcomes_of
from tests.helpers.commands import dvc, ran_stages, run
from tests.helpers.sandbox import FAST

pytestmark = pytest.mark.slow  # real DVC pipelines: minutes

ALL_STAGES = "fetch split features baseline train lr_range finetune evaluate report".split()


def test_split_manifests_are_reproducible_and_repro_is_a_no_op(pipeline):
    dvc("repro", "split", cwd=pipeline)
    manifests = {
        split: (pipeline / "data" / "split" / f"{split}.csv").read_bytes()
        for split in ("training", "validation", "test")
    }
    rows = list(csv.DictReader(manifests["training"].decode().splitlines()))
    assert {row["label"] for row in rows} == {"Leopards", "crab", "okapi"}
    assert all((pipeline / "data" / "raw" / row["path"]).is_file() for row in rows)
    split_report = json.loads((pipeline / "metrics" / "split.json").read_text())
    assert split_report["images"] == {"training": 18, "validation": 3, "test": 3}

    again = dvc("repro", "split", cwd=pipeline)
    assert ran_stages(again.stdout) == []
    assert "didn't change" in again.stdout

    dvc("repro", "-f", "split", cwd=pipeline)
    for split, content in manifests.items():
        assert (pipeline / "data" / "split" / f"{split}.csv").read_bytes() == content


def test_repro_then_schedule_experiments_rerun_only_what_depends_on_the_schedule(pipeline):
    first = dvc("repro", cwd=pipeline)
    assert ran_stages(first.stdout) == ALL_STAGES
    # Quiet: none of TensorFlow's C++ log lines among what the stages said.
    said = (first.stdout + first.stderr).encode().splitlines()
    assert not [line for line in said if LOG_LINE.search(line)]
    assert any(line.startswith(b"features: 24 images through") for line in said)
    features = json.loads((pipeline / "data" / "features" / "info.json").read_text())
    assert features["feature_dim"] == 1280 and features["images"] == 24
    # One row per image of data/raw, whatever the split: another split seed reuses them.
    rows = json.loads((pipeline / "data" / "features" / "images.json").read_text())
    assert rows == sorted(rows) and len(rows) == 24

    # Three seeds (FAST's head.repeats): their curves, and the summaries over them.
    repeats = json.loads((pipeline / "metrics" / "train" / "repeats.json").read_text())
    assert repeats["seeds"] == [42, 43, 44]
    finals = [run[-1] for run in repeats["history"]["val_accuracy"]]
    assert len(finals) == 3 and all(len(run) == 4 for run in repeats["history"]["val_loss"])
    metrics = json.loads((pipeline / "metrics" / "train" / "metrics.json").read_text())
    # metrics.json: the final accuracy over seeds, how many diverged, dvclive's step; no more.
    assert set(metrics) == {"final_val_accuracy", "diverged_seeds", "step"}
    assert metrics["diverged_seeds"] == 0 and repeats["diverged"] == [None] * 3
    assert metrics["step"] == FAST["head.epochs"] - 1
    summary = metrics["final_val_accuracy"]
    assert summary["mean"] == pytest.approx(sum(finals) / 3, rel=1e-5)
    assert summary["std"] == pytest.approx(np.std(finals, ddof=1), rel=1e-4, abs=1e-9)
    learning_rates = (
        pipeline / "metrics" / "train" / "plots" / "metrics" / "training" / "learning_rate.tsv"
    ).read_text()
    assert learning_rates.splitlines()[:3] == ["step\tlearning_rate", "0\t0.01", "1\t0.009048374"]
    spread = (
        pipeline / "metrics" / "train" / "plots" / "metrics" / "validation" / "accuracy_std.tsv"
    )
    assert len(spread.read_text().splitlines()) == 1 + FAST["head.epochs"]
    assert "wall_time_s" in json.loads((pipeline / time_file("train")).read_text())
    assert (pipeline / "data" / "models" / "scheduled.keras").is_file()

    # Fine-tuning continues the head's epochs: steps 4 and 5 after the head's 0..3.
    finetune_curve = (
        pipeline / "metrics" / "finetune" / "plots" / "metrics" / "validation" / "accuracy.tsv"
    ).read_text()
    assert [line.split("\t")[0] for line in finetune_curve.splitlines()] == ["step", "4", "5"]
    images = json.loads((pipeline / "metrics" / "split.json").read_text())["images"]
    assert images == {"training": 18, "validation": 3, "test": 3}
    timing = json.loads((pipeline / time_file("finetune")).read_text())
    seen = (images["training"] + images["validation"]) * FAST["finetune.epochs"]
    assert timing["images_per_s"] == pytest.approx(seen / timing["wall_time_s"], rel=0.02)
    # Test accuracies count whole images of the 3; the fine-tuned model's agrees with its
    # confusion matrix, and with the head it started from through McNemar's counts.
    test_scores = json.loads((pipeline / "metrics" / "evaluate" / "metrics.json").read_text())
    models = ("baseline", "scheduled", "finetuned")
    correct = {model: round(3 * test_scores[model]["test_accuracy"]) for model in models}
    for model in models:
        assert test_scores[model]["test_accuracy"] == pytest.approx(correct[model] / 3)
    confusion = json.loads(
        (
            pipeline / "metrics" / "evaluate" / "plots" / "sklearn" / "confusion_matrix.json"
        ).read_text()
    )
    assert len(confusion) == 3
    assert correct["finetuned"] == sum(cell["actual"] == cell["predicted"] for cell in confusion)
    # Each image's prediction, per model: what McNemar's tests between experiments pair.
    predictions = json.loads((pipeline / "metrics" / "evaluate" / "predictions.json").read_text())
    assert set(predictions) == {"labels", *models} and len(predictions["labels"]) == 3
    for model in models:
        hits = zip(predictions["labels"], predictions[model], strict=True)
        assert sum(label == guess for label, guess in hits) == correct[model]
    mcnemar = test_scores["finetuned_vs_scheduled"]
    after, before = mcnemar["only_after_correct"], mcnemar["only_before_correct"]
    assert (
        mcnemar["test_images"] == 3
        and correct["finetuned"] - correct["scheduled"] == after - before
    )
    expected_p = stats.binomtest(after, after + before).pvalue if after + before else 1.0
    assert mcnemar["p_value"] == pytest.approx(expected_p)
    assert set(test_scores["finetuned"]) == {"test_accuracy"}
    finetuned = json.loads((pipeline / "metrics" / "finetune" / "metrics.json").read_text())
    assert finetuned["final_val_accuracy"] <= finetuned["best_val_accuracy"]
    assert finetuned["step"] == FAST["head.epochs"] + FAST["finetune.epochs"] - 1
    per_class = (pipeline / "metrics" / "evaluate" / "per_class.csv").read_text().splitlines()
    assert per_class[0] == "class,precision,recall,f1,support" and len(per_class) == 4

    suggestion = json.loads((pipeline / "metrics" / "lr_range.json").read_text())
    # Both rates are points of the swept grid, the steepest fall before the lowest loss.
    swept = np.geomspace(1e-7, 10, 200)
    for rate in suggestion.values():
        assert np.isclose(swept, rate, rtol=1e-9, atol=0).sum() == 1, rate
    assert suggestion["suggested_lr"] <= suggestion["min_loss_lr"]
    for figure in (
        "accuracy",
        "loss",
        "learning_rate",
        "confusion_matrix",
        "misclassified",
        "lr_range",
    ):
        with Image.open(pipeline / "plots" / f"{figure}.png") as image:
            assert image.format == "PNG" and min(image.size) >= 400
    table = (pipeline / "metrics" / "table.md").read_text().split("\n\n")
    rows = table[0].splitlines()
    assert rows[0].startswith("| model | learning rate | seeds | final val accuracy")
    assert [row.split(" | ")[:3] for row in rows[2:]] == [
        ["| baseline", "fixed: initial_lr 0.001", "3"],
        ["| scheduled", "exp: initial_lr 0.01, k 0.1", "3"],
        ["| finetuned", "fixed: initial_lr 1e-05, top 1 blocks unfrozen", "1"],
    ]
    # The verdicts, written from the tests' numbers.
    assert table[1].startswith(
        "scheduled (exp: initial_lr 0.01, k 0.1) against baseline (fixed: initial_lr 0.001)"
    )
    assert "paired over 3 seeds" in table[1]
    # Three seeds: the sign-flip test's smallest p is 0.25, so no verdict can be reached.
    assert ": not significant at 0.05, nor shown within ±1 point" in table[1]
    assert (
        "inconclusive; this data shows scheduled (exp: initial_lr 0.01, k 0.1) neither" in table[1]
    )
    assert table[1].endswith(
        "With 3 seeds no difference can reach 0.05: the sign-flip test's smallest p is 0.25."
    )
    assert "McNemar's exact test p = " in table[2] and "on the 3 test images" in table[2]
    rendered = json.loads(dvc("plots", "show", "--json", cwd=pipeline).stdout)["data"]
    confusion = rendered["Confusion matrix (fine-tuned, test split)"][0]["content"]["data"][
        "values"
    ]
    assert len(confusion) == 3 and {point["actual"] for point in confusion} <= {
        "Leopards",
        "crab",
        "okapi",
    }

    # The stages' wall times stay out of git: a run leaves no timing file to commit.
    assert (pipeline / "metrics" / "times" / "features.json").exists()
    assert "metrics/times" not in run(["git", "status", "--porcelain", "-uall"], pipeline).stdout
    run(["git", "add", "-A"], pipeline)
    run(["git", "commit", "-qm", "first run"], pipeline)
    baseline_metrics = (pipeline / "metrics" / "baseline" / "metrics.json").read_bytes()

    # The reference reports' best exp-decay setting, as the user types it; 1e-05 comes back as a
    # string.
    exp = dvc(
        "exp",
        "run",
        "-n",
        "exp-best",
        "-S",
        "schedule.name=exp",
        "-S",
        "schedule.initial_lr=0.01",
        "-S",
        "schedule.k=0.3",
        cwd=pipeline,
    )
    assert ran_stages(exp.stdout) == ["train", "finetune", "evaluate", "report"]
    # Naming the stage stops there: the cheap way to compare schedules.
    tiny = dvc(
        "exp", "run", "-n", "tiny-lr", "-S", "schedule.initial_lr=1e-05", "train", cwd=pipeline
    )
    assert ran_stages(tiny.stdout) == ["train"]
    assert "initial_lr: 1e-05" in (pipeline / "params.yaml").read_text()

    shown = json.loads(dvc("exp", "show", "--json", cwd=pipeline).stdout)
    experiments = {
        exp["name"]: exp["revs"][0]["data"]
        for commit in shown
        for exp in (commit.get("experiments") or [])
        if exp.get("name")
    }
    assert set(experiments) == {"exp-best", "tiny-lr"}
    best = experiments["exp-best"]
    assert best["params"]["params.yaml"]["data"]["schedule"]["k"] == 0.3
    assert "final_val_accuracy" in best["metrics"]["metrics/train/metrics.json"]["data"]
    # The workspace holds tiny-lr's outputs; dvc exp run left it at exp-best's params before
    # tiny-lr ran, so tiny-lr ran with k=0.3 too.
    learning_rates = (
        pipeline / "metrics" / "train" / "plots" / "metrics" / "training" / "learning_rate.tsv"
    )
    last_lr = parse_curve(learning_rates.read_text(), "learning_rate")[1][-1]
    assert last_lr == pytest.approx(1e-05 * math.exp(-0.3 * 3), rel=1e-6)
    # A modern schedule from the registry; its warmup must fit in FAST's 4 epochs.
    cosine = dvc(
        "exp",
        "run",
        "-n",
        "cosine",
        "-S",
        "schedule.name=cosine",
        "-S",
        "schedule.initial_lr=0.01",
        "-S",
        "schedule.warmup_epochs=2",
        "train",
        cwd=pipeline,
    )
    assert ran_stages(cosine.stdout) == ["train"]
    curve = pipeline / "metrics" / "train" / "plots" / "metrics" / "training" / "learning_rate.tsv"
    _, rates = parse_curve(curve.read_text(), "learning_rate")
    # 0.01 * 1/2, 0.01, then 0.01 * (1 + cos(pi * f)) / 2 with f = 0 and 1/2
    assert rates == pytest.approx([0.005, 0.01, 0.01, 0.005], rel=1e-6)
    # The baseline does not depend on schedule.*: the same bytes in every experiment.
    assert (pipeline / "metrics" / "baseline" / "metrics.json").read_bytes() == baseline_metrics

    plots = json.loads(dvc("plots", "diff", "exp-best", "tiny-lr", "--json", cwd=pipeline).stdout)[
        "data"
    ]
    figures = ["lr_range", "confusion_matrix", "misclassified", "accuracy", "loss", "learning_rate"]
    assert set(plots) == {
        "Accuracy",
        "Loss",
        "Learning rate",
        "Confusion matrix (fine-tuned, test split)",
        *[f"plots/{figure}.png" for figure in figures],
    }
    assert {entry["type"] for figure in figures for entry in plots[f"plots/{figure}.png"]} == {
        "image"
    }
    points = plots["Learning rate"][0]["content"]["data"]["values"]
    assert {point["rev"] for point in points} == {"exp-best", "tiny-lr"}
    first_lr = {
        point["rev"]: float(point["learning_rate"])
        for point in points
        if point["step"] == "0" and point["filename"].startswith("train/")
    }
    assert first_lr == pytest.approx({"exp-best": 0.01, "tiny-lr": 1e-05})

    # make compare: HEAD and the three experiments against HEAD's baseline, on a 120-column
    # terminal; only exp-best ran fine-tuning.
    lines = run([sys.executable, "-m", "lrstudy.study.compare"], pipeline).stdout.splitlines()
    assert all(len(line) <= 120 for line in lines)
    starts = [match.start() for match in re.finditer(r"-+", lines[1])]
    table = [
        [line[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
        for line in lines[2 : lines.index("")]
    ]
    assert len(starts) <= 12
    by_name = {row[0]: row for row in table}
    assert table[0][0] == "HEAD" and set(by_name) == {
        "HEAD",
        "exp-best",
        "tiny-lr",
        "cosine",
        "HEAD's fixed-lr0.001",
    }
    # HEAD's row is the committed heads' cross-validated test accuracy.
    committed = json.loads(run(["git", "show", "HEAD:metrics/train/folds.json"], pipeline).stdout)
    shape, heads = fold_runs(committed)
    assert table[0][2] == f"{100 * outcomes_of(shape, heads).mean():.2f}"
    assert table[0][6] and by_name["exp-best"] != by_name["tiny-lr"]
    differences = {name: row[1] for name, row in by_name.items()}
    assert differences["exp-best"] == "k0.3" and differences["tiny-lr"] == "lr1e-05 k0.3"
    fine_tuned = {name: row[6] for name, row in by_name.items()}
    assert fine_tuned["exp-best"] and not fine_tuned["tiny-lr"] and not fine_tuned["cosine"]
    outcomes = {"better", "worse", "equivalent", "not resolved"}
    assert all(by_name[name][5] in outcomes for name in ("HEAD", "exp-best", "tiny-lr", "cosine"))
    note = " ".join(lines[lines.index("") + 1 :])
    assert note.startswith("Each experiment against HEAD's fixed-lr0.001 (stage `baseline`)")

    # Another split seed reruns the split and the heads, never the backbone: the features are
    # per image, not per split.
    resplit = dvc("exp", "run", "-n", "split43", "-S", "split.seed=43", "train", cwd=pipeline)
    assert ran_stages(resplit.stdout) == ["split", "train"]

    # `dvc exp show` stays readable: its columns are DVC's own, the params, the metrics and one
    # per dependency path of dvc.yaml (a package folder, not each of its files).
    header = dvc("exp", "show", "--csv", cwd=pipeline).stdout.splitlines()[0].split(",")
    stages = yaml.safe_load((pipeline / "dvc.yaml").read_text())["stages"]
    deps = {d if isinstance(d, str) else next(iter(d)) for s in stages.values() for d in s["deps"]}
    paths = [column for column in header if "/" in column and ":" not in column]
    assert sorted(paths) == sorted(deps)
    assert not [
        column
        for column in header
        if column.startswith(("lrstudy/", "stages/")) and column not in deps
    ]

    # A key typed wrong into params.yaml: the stage's one line, above DVC's own.
    params = (pipeline / "params.yaml").read_text()
    (pipeline / "params.yaml").write_text(params.replace("  k: 0.3", "  kk: 0.3"))
    typo = dvc("exp", "run", "train", cwd=pipeline, check=False)
    assert typo.returncode != 0
    lines = typo.stderr.splitlines()
    line = "error: params.yaml: schedule.kk: unknown key; did you mean schedule.k?"
    assert line in lines and lines.index(line) < next(
        index for index, text in enumerate(lines) if text.startswith("ERROR:")
    )
    assert "Traceback" not in typo.stdout + typo.stderr


def test_optimizers_and_fine_tuning_schedules_as_users_type_them(pipeline):
    dvc("repro", "train", cwd=pipeline)
    run(["git", "add", "-A"], pipeline)
    run(["git", "commit", "-qm", "the heads"], pipeline)

    cosine = dvc(
        "exp",
        "run",
        "-S",
        "finetune.schedule.name=cosine",
        "-S",
        "finetune.epochs=1",
        "finetune",
        cwd=pipeline,
    )
    assert ran_stages(cosine.stdout) == ["finetune"]
    assert "schedule cosine: initial_lr 1e-05, warmup_epochs 0, min_lr 0" in cosine.stdout
    rates = pipeline / "metrics" / "finetune" / "plots" / "metrics" / "training"
    steps, logged = parse_curve((rates / "learning_rate.tsv").read_text(), "learning_rate")
    assert steps == [FAST["head.epochs"]] and logged == pytest.approx([1e-05])
    run(["git", "checkout", "-q", "params.yaml"], pipeline)

    for optimizer, described in [
        ("sgd", "sgd: momentum 0.9"),
        ("adamw", "adamw: weight_decay 0.004"),
        ("schedulefree_adamw", "schedulefree_adamw: weight_decay 0.004"),
    ]:
        trained = dvc("exp", "run", "-S", f"train.optimizer={optimizer}", "train", cwd=pipeline)
        assert ran_stages(trained.stdout) == ["train"]
        assert f"train: {described}, schedule exp" in trained.stdout
        if optimizer == "schedulefree_adamw":
            assert (
                "train: note: schedulefree_adamw averages its steps evenly whatever their rate; "
                "schedule exp only scales them"
            ) in trained.stdout
        repeats = json.loads((pipeline / "metrics" / "train" / "repeats.json").read_text())
        for losses in repeats["history"]["loss"]:  # every seed learns, none diverges
            assert all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0]
        run(["git", "checkout", "-q", "params.yaml"], pipeline)

    refused = dvc(
        "exp", "run", "-S", "train.optimizer=rmsprop2", "train", cwd=pipeline, check=False
    )
    assert refused.returncode != 0
    said = (refused.stdout + refused.stderr).splitlines()
    errors = [line for line in said if line.startswith("error:")]
    assert errors == [
        "error: params.yaml: train.optimizer = 'rmsprop2' is not allowed; expected one of "
        "adam, sgd, adamw, schedulefree_adamw"
    ]
    assert not any("Traceback" in line for line in said)
