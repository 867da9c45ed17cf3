"""``thresher ablate``: which data makes the better model, decided with proxy models, seeds and intervals."""
