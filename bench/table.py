"""The bench's results as the Markdown table docs/performance.md shows: one group of rows per item,
each value beside what it is compared with, the ratio and the target where there is one."""

import statistics

from bench.measure import BACKBONE

GRID_VARIANTS, GRID_EPOCHS = 18, 50  # study.yaml's reference grid: 18 schedules x 50 epochs


def met(ok):
    return "yes" if ok else "**no**"


def epoch_rows(local):
    """Item 1: a head epoch with the backbone in the loop against one on cached features, and the
    seeds trained in one graph against one by one."""
    reference, stacked, loop = (
        local["reference_epoch_s"],
        local["stacked_s"],
        local["per_seed_loop_s"],
    )
    seeds, epochs = local["head_seeds"], local["head_epochs"]
    cached = stacked / (seeds * epochs)
    grid_cached_s, grid_reference_s = GRID_VARIANTS * stacked, GRID_VARIANTS * epochs * reference
    gflop_per_s = local["head_gflop"] / stacked
    return [
        (
            "1. one head epoch, the reference reports' way (images → backbone → head)",
            f"{reference:.1f} s",
            f"on cached features, per seed ({seeds} in one graph): {cached * 1000:.1f} ms",
            f"{reference / cached:.0f}×",
            "",
            "",
        ),
        (
            f"1. whole reference grid ({GRID_VARIANTS} × {epochs} epochs), extrapolated",
            f"cached, {seeds} seeds each: {grid_cached_s:.0f} s",
            f"the reference reports' way, 1 seed each: {grid_reference_s / 3600:.1f} h",
            f"{grid_reference_s / grid_cached_s:.0f}×",
            "grid on cached features < one epoch the reports' way",
            met(grid_cached_s < reference),
        ),
        (
            f"1. training {seeds} seeds of the head ({epochs} epochs) in one graph",
            f"{stacked:.2f} s",
            f"one by one (a Keras `fit` per seed): {loop:.1f} s",
            f"{loop / stacked:.1f}×",
            "≥ 8×",
            met(loop / stacked >= 8),
        ),
        (
            "1. the head in one graph: arithmetic rate",
            f"{gflop_per_s:.1f} GFLOP/s",
            f"2048² float32 matmul: {local['matmul_gflop_per_s']:.0f} GFLOP/s",
            f"{gflop_per_s / local['matmul_gflop_per_s']:.2f}",
            "≥ 0.25",
            met(gflop_per_s / local["matmul_gflop_per_s"] >= 0.25),
        ),
    ]


def features_rows(local, pipeline, threads):
    """Item 2: the `features` stage on each runtime against the bare Keras forward pass."""
    litert, bare = local["features_litert_images_per_s"], local["bare_forward_images_per_s"]
    keras_rate, stage = (
        local["features_keras_images_per_s"],
        pipeline["features_stage_images_per_s"],
    )
    gflop_per_s = 2 * local["gmac_per_image"] * litert
    return [
        (
            f"2. `features` (read, decode, resize; LiteRT, {threads} one-thread interpreters)",
            f"{litert:.1f} images/s",
            f"bare Keras forward: {bare:.1f} images/s",
            f"{litert / bare:.2f}",
            "≥ 1.8",
            met(litert / bare >= 1.8),
        ),
        (
            "2. the same with `backbone.runtime: keras`",
            f"{keras_rate:.1f} images/s",
            "bare Keras forward (above)",
            f"{keras_rate / bare:.2f}",
            "",
            "",
        ),
        (
            "2. `features` on LiteRT: arithmetic rate",
            f"{gflop_per_s:.1f} GFLOP/s",
            f"2048² float32 matmul: {local['matmul_gflop_per_s']:.0f} GFLOP/s",
            f"{gflop_per_s / local['matmul_gflop_per_s']:.2f}",
            "",
            "",
        ),
        (
            "2. the `features` stage as run by `dvc repro`",
            f"{stage:.1f} images/s",
            "bare Keras forward (above)",
            f"{stage / bare:.2f}",
            "",
            "",
        ),
    ]


def forward_rows(results):
    """Item 3: the Keras forward pass against the CPU's matrix product, and CPU settings."""
    local, tuning = results["in_process"], results["tuning"]
    default = next(
        row
        for row in results["forward"]["defaults"]
        if row["backbone"] == BACKBONE.name and row["batch_size"] == 32
    )
    best_trial = max(tuning, key=lambda label: tuning[label][0]["images_per_s"])
    best_rate = tuning[best_trial][0]["images_per_s"]
    return [
        (
            "3. Lite0 forward, batch 32",
            f"{default['images_per_s']:.1f} images/s, {default['gflop_per_s']:.1f} GFLOP/s",
            f"2048² float32 matmul: {local['matmul_gflop_per_s']:.0f} GFLOP/s",
            f"{default['gflop_per_s'] / local['matmul_gflop_per_s']:.2f}",
            "",
            "",
        ),
        (
            "3. best other CPU setting for it",
            f"{best_trial}: {best_rate:.1f} images/s",
            f"defaults: {default['images_per_s']:.1f} images/s",
            f"{best_rate / default['images_per_s']:.2f}",
            "",
            "",
        ),
    ]


def dvc_rows(pipeline):
    """Item 4: an experiment end to end and its parts, and a no-op `dvc repro`."""
    exp_run, stage, start = pipeline["exp_run_s"], pipeline["train_stage_s"], pipeline["import_s"]
    training, writing = pipeline["train_stage_training_s"], pipeline["train_stage_writing_s"]
    parts = (
        f"DVC {exp_run - stage:.1f} s (the experiment less the stage alone, {stage:.1f} s); "
        f"in the stage, "
        f"process start and imports {start:.1f} s, training "
        f"({pipeline['train_stage_repeats']} seeds) {training:.1f} s, writing (model, dvclive, "
        f"repeats.json) {writing:.1f} s, the study's folds ({pipeline['train_stage_folds']} x "
        f"{pipeline['train_stage_repeats']} seeds, trained and written) "
        f"{pipeline['train_stage_folds_s']:.1f} s"
    )
    return [
        (
            "4. `dvc exp run -S schedule.k=0.3 train`",
            f"{exp_run:.1f} s",
            f"its parts: {parts}",
            "",
            "≤ 15 s",
            met(exp_run <= 15),
        ),
        (
            "4. no-op `dvc repro` (median of 3)",
            f"{pipeline['noop_repro_s']:.2f} s",
            "",
            "",
            "≤ 5 s",
            met(pipeline["noop_repro_s"] <= 5),
        ),
    ]


def finetuning_rows(local):
    """Item 5: fine-tuning's training images/s on each runtime, and on a GPU where there is one."""
    litert, bare = (
        local["finetune_litert_images_per_s"],
        local["finetune_bare_forward_images_per_s"],
    )
    keras_rate, gpu = local["finetune_keras_images_per_s"], local.get("finetune_gpu_images_per_s")
    return [
        (
            "5. fine-tuning training (top 2 blocks, augmented), frozen bottom on LiteRT",
            f"{litert:.1f} images/s",
            f"bare Keras forward: {bare:.1f} images/s",
            f"{litert / bare:.2f}",
            "≥ 0.9",
            met(litert / bare >= 0.9),
        ),
        (
            "5. the same with `backbone.runtime: keras`",
            f"{keras_rate:.1f} images/s",
            "bare Keras forward (above)",
            f"{keras_rate / bare:.2f}",
            "",
            "",
        ),
        (
            "5. fine-tuning on a GPU, Keras, mixed_float16",
            f"{gpu:.1f} images/s" if gpu else "no GPU in this run",
            "LiteRT on the CPU (above)" if gpu else "",
            f"{gpu / litert:.0f}×" if gpu else "",
            "",
            "",
        ),
    ]


def variant_rows(variants, pipeline, matmul_gflop_per_s):
    """Item 6: a variant of a grid on each runner, its wall time per job against the training
    in it (in kept checkouts, measured in the run; on the queue, item 4's: the same heads on
    the same data alone)."""
    alone = pipeline["train_stage_training_s"] + pipeline["train_stage_folds_s"]
    rows = []
    for runner, label in (("queue", "DVC's queue (`--queue`)"), ("checkouts", "kept checkouts")):
        for jobs in (1, 2):
            grid = variants[f"{runner}_jobs_{jobs}"]
            whole = grid["grid_s"] * jobs / grid["variants"]  # per variant, per job
            steps = grid.get("steps")
            training = statistics.median(s["training"] for s in steps) if steps else alone
            parts = (
                "checkout {:.1f} s, push {:.1f} s, in `dvc exp run` DVC and the interpreter "
                "{:.1f} s".format(
                    *(statistics.median(s[key] for s in steps) for key in ("checkout", "push")),
                    statistics.median(s["dvc exp run"] - s["training"] for s in steps),
                )
                if steps
                else "the queue, DVC and the interpreter"
            )
            retried = ", second try: the first lost a task" if grid.get("attempts", 1) > 1 else ""
            rows.append(
                (
                    f"6. a variant of a grid ({grid['variants']} new{retried}), {label}, "
                    f"`--jobs {jobs}`, per job",
                    f"{whole:.1f} s",
                    f"its training (heads on the split's seeds and every fold x seed"
                    f"{'' if steps else ', alone'}): {training:.1f} s; the rest "
                    f"{whole - training:.1f} s ({parts}); host matmul "
                    f"{matmul_gflop_per_s:.0f} GFLOP/s",
                    f"training {training / whole:.0%} of it",
                    "rest ≤ training" if jobs == 2 else "",
                    met(whole - training <= training) if jobs == 2 else "",
                )
            )
    return rows


def scale_rows(results):
    """Item 7: one variant's training at the reference reports' size, and the reference grid
    there on this machine at `--jobs 2`, projected from this run's measurements."""
    local, pipeline = results["in_process"], results["pipeline"]
    grid = results["variants"]["checkouts_jobs_2"]
    alone = pipeline["train_stage_training_s"] + pipeline["train_stage_folds_s"]
    scale = local["scale_training_s"] + local["scale_folds_s"]
    # Two jobs share the cores: each variant's training slows by what item 6 measured.
    in_run = statistics.median(s["training"] for s in grid["steps"])
    shared, rest = in_run / alone, grid["grid_s"] * 2 / grid["variants"] - in_run
    variants = results["reference_grid_variants"]
    features_s = local["scale_images"] / pipeline["features_stage_images_per_s"]
    variants_s = variants * (scale * shared + rest) / 2
    finetune_s = 10 * local["scale_training_images"] / local["finetune_litert_images_per_s"]
    size = f"{local['scale_images']:,} images, {local['scale_classes']} classes"
    return [
        (
            f"7. one variant's training at the reference reports' size ({size}; random "
            "features), alone",
            f"{scale:.1f} s",
            f"at the default data (item 4): {alone:.1f} s",
            f"{scale / alone:.1f}×",
            "",
            "",
        ),
        (
            f"7. the `reference` grid at that size, `--jobs 2`, projected: features, "
            f"{variants} variants, fine-tuning (10 epochs)",
            f"{(features_s + variants_s + finetune_s) / 60:.0f} min",
            f"features {features_s / 60:.1f} min (item 2's rate), variants {variants_s / 60:.0f} "
            f"min (training × {shared:.2f} shared, + item 6's rest {rest:.1f} s each), "
            f"fine-tuning {finetune_s / 60:.0f} min (item 5's rate, validation aside)",
            "",
            "",
            "",
        ),
    ]


def forward_table(results):
    lines = [
        "Backbone forward pass (a fresh process per configuration; GFLOP/s = 2 × MACs × images/s;",
        "EfficientNet-B0 with random weights, which change nothing in the arithmetic):",
        "",
        "| configuration | backbone | batch | images/s | GMAC/image | GFLOP/s |",
        "|---|---|---|---|---|---|",
    ]
    for label, rows in {**results["forward"], **results["tuning"]}.items():
        for row in rows:
            lines.append(
                f"| {label} | {row['backbone']} | {row['batch_size']} | {row['images_per_s']:.1f} "
                f"| {row['gmac_per_image']:.3f} | {row['gflop_per_s']:.1f} |"
            )
    return lines


def markdown(results, threads):
    info, local, pipeline = results["machine"], results["in_process"], results["pipeline"]
    rows = [
        *epoch_rows(local),
        *features_rows(local, pipeline, threads),
        *forward_rows(results),
        *dvc_rows(pipeline),
        *finetuning_rows(local),
        *variant_rows(results["variants"], pipeline, local["matmul_gflop_per_s"]),
        *scale_rows(results),
    ]
    lines = [
        f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores), "
        f"TensorFlow {info['tensorflow']}, Python {info['python']}, "
        f"{results['dataset_images']} images of `{results['dataset']}`, "
        f"backbone {BACKBONE.name} at 224 px, batch 32; bench total {results['bench_s']:.0f} s.",
        "",
        "| measurement | value | compared with | ratio | target | met |",
        "|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        *forward_table(results),
        "",
        f"Whole pipeline `dvc repro` (fine-tuning 1 epoch): {pipeline['repro_s']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"
