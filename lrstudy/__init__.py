"""The library behind the learning-rate study's DVC stages (stages/ holds their entry points).

core -> data, backbone -> heads -> finetuning -> reporting -> study: each imports only those
before it (and statistics, a leaf), so that dvc.yaml's code deps are a few folders per stage.
"""
