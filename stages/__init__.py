"""The DVC stage entry points: one thin module per stage of dvc.yaml (logic: lrstudy/).

Each imports only lrstudy.core at the top; its main(config) imports the rest once params.yaml
has been checked (lrstudy/core/stage.py)."""
