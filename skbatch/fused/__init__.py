"""Fused training: many networks of one shape trained as one stacked model, and the searches that use it."""
