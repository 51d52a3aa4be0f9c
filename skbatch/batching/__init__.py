"""Batch-size semantics: the per-fit batch plan, sizes, the growth schedule, lr scaling and the max-batch search."""
