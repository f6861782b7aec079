"""The library behind the learning-rate study's DVC stages (stages/ holds their entry points).

data/ -> models/ -> training/ -> reporting/ -> study/, each importing only those before it,
with leaf modules every one may use: params, errors, paths, atomic, statistics, tracking.
"""
