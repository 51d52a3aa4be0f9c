"""The row bookkeeping that every stacked kernel call goes through (skbatch.fused.rows)."""

import torch

from skbatch.fused.rows import join_rows, kept_runs, rows_of, rows_of_each, runs


def test_runs_are_the_stretches_of_equal_consecutive_values():
    assert runs(["adam", "adam", "sgd", "adam"]) == [("adam", 0, 2), ("sgd", 2, 3), ("adam", 3, 4)]
    assert runs([]) == []


def test_rows_of_each_are_views_so_an_update_in_place_reaches_the_stack():
    # The fused optimizer kernels update the rows rows_of_each hands them in
    # place; a copy would leave the stack's own tensors untrained.
    weights, biases = torch.zeros(4, 3, 2), torch.zeros(4, 2)
    stack = [weights, biases]
    assert rows_of_each(stack, 0, 4) is stack
    for tensor in rows_of_each(stack, 1, 3):
        tensor.add_(1.0)
    assert weights[1:3].eq(1).all() and weights[[0, 3]].eq(0).all()
    assert biases[1:3].eq(1).all() and biases[[0, 3]].eq(0).all()


def test_rows_of_slices_per_model_tensors_and_passes_shared_values():
    column = torch.arange(5.0)
    assert rows_of(column, 1, 3).tolist() == [1.0, 2.0]
    assert rows_of(0.5, 1, 3) == 0.5
    shared = torch.tensor(2.0)
    assert rows_of(shared, 1, 3) is shared


def test_kept_runs_renumbers_the_runs_that_keep_rows():
    # Rows 0-1 (run 0), 2-4 (run 1) and 5 (run 2); rows 1, 2 and 5 leave.
    index = torch.tensor([0, 3, 4])
    assert [(position, local.tolist(), start, stop) for position, local, start, stop in kept_runs(index, [(0, 2), (2, 5), (5, 6)])] == [
        (0, [0], 0, 1),
        (1, [1, 2], 1, 3),
    ]


def test_join_rows_fills_each_run_and_stays_a_float_when_nothing_is_added():
    assert join_rows([(0, 2, 0.0), (2, 3, 0.0)], 3, "cpu") == 0.0
    total = join_rows([(0, 2, 0.0), (2, 4, torch.tensor([1.0, 2.0]))], 4, "cpu")
    assert total.tolist() == [0.0, 0.0, 1.0, 2.0]
