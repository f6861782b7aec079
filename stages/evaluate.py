"""Stage `evaluate`: the three models on the held-out test split, and where the best one errs.

- metrics/evaluate/metrics.json: test accuracy of baseline, scheduled head and fine-tuned model,
  and McNemar's exact test of the fine-tuned model against the head it started from;
- the fine-tuned model's confusion matrix, as dvclive data for `dvc plots` and as
  plots/confusion_matrix.png, its per-class precision/recall/F1 (metrics/evaluate/per_class.*),
  and plots/misclassified.png, the test images it got most confidently wrong.
"""

import keras
import numpy as np

from lrstudy.data.features import load_features
from lrstudy.data.images import image_dataset
from lrstudy.data.manifests import read_classes, read_manifest
from lrstudy.models.backbones import backbone_settings
from lrstudy.models.runtime import FROZEN, choose_runtime
from lrstudy.params import load_params, number, stage_main
from lrstudy.paths import CONFUSION_MATRIX_PLOT, MISTAKES_PLOT, PER_CLASS_TABLE, model_file
from lrstudy.reporting.evaluate import (
    GRID_SIZE,
    evaluation_scores,
    log_test_results,
    per_class_rows,
    plot_confusion_matrix,
    plot_mistakes,
    worst_mistakes,
)
from lrstudy.reporting.tables import write_table
from lrstudy.statistics import mcnemar_exact


@stage_main
def main():
    params = load_params()
    _, _, image_size = backbone_settings(params)
    batch_size = number(params, "finetune.batch_size", minimum=1, integer=True)
    classes = read_classes()
    features, labels = load_features("test")

    scores, head_predictions = {}, {}
    for name in ("baseline", "train"):
        head = keras.models.load_model(model_file(name))
        head_probabilities = head.predict(features, verbose=0)
        scores[name] = evaluation_scores(head_probabilities, labels)
        head_predictions[name] = np.argmax(head_probabilities, axis=1)
    paths, _ = read_manifest("test")
    finetuned = keras.models.load_model(model_file("finetune"))
    forward = choose_runtime(params, replicas=1)(finetuned.get_layer(FROZEN))
    images = image_dataset(paths, image_size, batch_size)
    probabilities = forward.probabilities(finetuned, images, len(paths), batch_size)
    scores["finetune"] = evaluation_scores(probabilities, labels)
    predicted = np.argmax(probabilities, axis=1)
    # Did fine-tuning change anything? The head it started from against it, image by image.
    test = {
        "test_images": len(labels),
        **mcnemar_exact(head_predictions["train"] == labels, predicted == labels),
    }

    log_test_results(scores, test, labels, predicted, classes)
    write_table(PER_CLASS_TABLE, per_class_rows(labels, predicted, classes))
    plot_confusion_matrix(labels, predicted, classes, CONFUSION_MATRIX_PLOT)
    mistakes = worst_mistakes(probabilities, labels, GRID_SIZE * GRID_SIZE)
    plot_mistakes(mistakes, paths, probabilities, labels, classes, MISTAKES_PLOT)
    for name in ("baseline", "train", "finetune"):
        print(
            f"evaluate: {name}: test accuracy {scores[name]['test_accuracy']:.4f}, "
            f"loss {scores[name]['test_loss']:.4f}"
        )
    print(
        f"evaluate: fine-tuned against the head it started from, on {test['test_images']} test "
        f"images: {test['only_after_correct']} right only after, "
        f"{test['only_before_correct']} only before, McNemar p = {test['p_value']:.3g}"
    )


if __name__ == "__main__":
    main()
