"""The built-in modules' layers: what nn.Linear makes, drawn from the fit's own generator."""

import torch
from torch import nn

from skbatch.training.modules import MLPModule, _empty_linear


def test_an_empty_linear_is_what_nn_linear_makes():
    ours, theirs = _empty_linear(3, 4), nn.Linear(3, 4)
    assert type(ours) is nn.Linear
    # Every attribute nn.Linear.__init__ sets, and no other: a torch that adds one fails here.
    assert vars(ours).keys() == vars(theirs).keys()
    assert {name: p.shape for name, p in ours.named_parameters()} == {name: p.shape for name, p in theirs.named_parameters()}
    assert all(p.requires_grad and p.dtype == torch.float32 for p in ours.parameters())
    assert repr(ours) == repr(theirs)
    ours.load_state_dict(theirs.state_dict())
    X = torch.randn(5, 3)
    torch.testing.assert_close(ours(X), theirs(X), rtol=0, atol=0)


def test_mlp_layers_draw_what_skip_init_layers_drew_and_leave_the_global_generator_alone():
    before = torch.get_rng_state()
    module = MLPModule(6, 3, hidden_layer_sizes=(5,), generator=torch.Generator().manual_seed(7))
    assert torch.equal(before, torch.get_rng_state())
    # The same draws, in the same order, into layers skip_init made.
    generator = torch.Generator().manual_seed(7)
    for layer, (fan_in, fan_out) in zip(module.layers[::2], [(6, 5), (5, 3)]):
        expected = nn.utils.skip_init(nn.Linear, fan_in, fan_out)
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        nn.init.uniform_(expected.weight, -bound, bound, generator=generator)
        nn.init.uniform_(expected.bias, -bound, bound, generator=generator)
        assert torch.equal(layer.weight, expected.weight)
        assert torch.equal(layer.bias, expected.bias)
