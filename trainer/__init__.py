"""Thresher's trainer: distributed pretraining and fine-tuning on the pipeline's token shards.

``thresher train CONFIG.yaml`` runs one process; ``torchrun --nproc_per_node N -m trainer CONFIG.yaml``
runs N. See docs/trainer.md.
"""
