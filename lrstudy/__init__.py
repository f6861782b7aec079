"""The library behind the learning-rate study's DVC stages (stages/ holds only their entry points):
data sources, images, backbones, head training, schedules, fine-tuning, evaluation, the study."""
