"""The DVC stage entry points: one thin module per stage of dvc.yaml (logic: lrstudy/)."""
