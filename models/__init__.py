"""Torch networks, the embedder wrapper, training, and committed weights with their manifest."""
