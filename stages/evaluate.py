"""Stage `evaluate`: the three models on the held-out test split, and where the best one errs.

- metrics/evaluate/metrics.json: test accuracy of the baseline, scheduled and fine-tuned
  models, and McNemar's exact test of the fine-tuned model against the head it started from;
- metrics/evaluate/predictions.json: each test image's label and each model's predicted
  class, in the split's order (McNemar's tests between
  experiments read them: the study's fine-tuning grids);
- the fine-tuned model's confusion matrix, as dvclive data for `dvc plots` and as
  plots/confusion_matrix.png, its per-class precision/recall/F1 (metrics/evaluate/per_class.*),
  and plots/misclassified.png, the test images it got most confidently wrong.
"""

from lrstudy.core.datasets import read_classes, read_split, split_features
from lrstudy.core.outputs import write_table
from lrstudy.core.paths import CONFUSION_MATRIX_PLOT, MISTAKES_PLOT, PER_CLASS_TABLE, model_file
from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    import keras
    import numpy as np

    from lrstudy.backbone.build import FROZEN
    from lrstudy.backbone.runtime import choose_runtime, image_dataset
    from lrstudy.reporting.evaluate import (
        GRID_SIZE,
        evaluation_scores,
        log_test_results,
        per_class_rows,
        plot_confusion_matrix,
        plot_mistakes,
        score_heads,
        worst_mistakes,
    )
    from lrstudy.statistics import mcnemar_exact

    classes = read_classes()
    features, labels = split_features("test")
    scores, head_predictions = score_heads(features, labels)
    paths, _ = read_split("test")
    batch_size, image_size = config.finetune.batch_size, config.backbone.image_size
    finetuned = keras.models.load_model(model_file("finetuned"))
    forward = choose_runtime(config.backbone.runtime, replicas=1)(finetuned.get_layer(FROZEN))
    images = image_dataset(paths, image_size, batch_size)
    probabilities = forward.probabilities(finetuned, images, len(paths), batch_size)
    scores["finetuned"] = evaluation_scores(probabilities, labels)
    predicted = np.argmax(probabilities, axis=1)
    # Did fine-tuning change anything? The head it started from against it, image by image.
    test = {
        "test_images": len(labels),
        **mcnemar_exact(head_predictions["scheduled"] == labels, predicted == labels),
    }

    log_test_results(scores, test, labels, {**head_predictions, "finetuned": predicted}, classes)
    write_table(PER_CLASS_TABLE, per_class_rows(labels, predicted, classes))
    plot_confusion_matrix(labels, predicted, classes, CONFUSION_MATRIX_PLOT)
    mistakes = worst_mistakes(probabilities, labels, GRID_SIZE * GRID_SIZE)
    plot_mistakes(mistakes, paths, probabilities, labels, classes, MISTAKES_PLOT)
    for name, score in scores.items():
        print(
            f"evaluate: {name}: test accuracy {score['test_accuracy']:.4f}, "
            f"loss {score['test_loss']:.4f}"
        )
    print(
        f"evaluate: fine-tuned against the head it started from, on {test['test_images']} test "
        f"images: {test['only_after_correct']} right only after, "
        f"{test['only_before_correct']} only before, McNemar p = {test['p_value']:.3g}"
    )


if __name__ == "__main__":
    main()
