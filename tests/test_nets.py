"""Batched per-agent networks equal a loop of independent nn.Linear stacks; target-network helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from marlbench.nets import (
    ACTIVATIONS,
    BatchedCNN,
    BatchedMLP,
    LoopMLP,
    clip_grad_norm_per_member_,
    hard_update_,
    make_member_mlp,
    mlp,
    numpy_forward,
    numpy_layers,
    soft_update_,
)


def _independent_copies(net: BatchedMLP) -> list[nn.Sequential]:
    """Separate nn.Linear stacks holding the same numbers as each member of ``net`` (built by hand)."""
    copies = []
    for m in range(net.n_members):
        seq = mlp(net.in_dim, net.hidden, net.out_dim, net.activation)
        linears = [layer for layer in seq if isinstance(layer, nn.Linear)]
        with torch.no_grad():
            for lin, layer in zip(linears, net.layers, strict=True):
                lin.weight.copy_(layer.weight[m].T)
                lin.bias.copy_(layer.bias[m, 0])
        copies.append(seq)
    return copies


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_batched_mlp_equals_loop_of_linear_stacks_forward_and_gradients(activation: str) -> None:
    torch.manual_seed(0)
    net = BatchedMLP(4, 7, (16, 16), 3, activation)
    copies = _independent_copies(net)
    x = torch.randn(4, 11, 7)
    target = torch.randn(4, 11, 3)
    out = net(x)
    ref = torch.stack([copies[m](x[m]) for m in range(4)])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    ((out - target) ** 2).sum().backward()
    ((ref - target) ** 2).sum().backward()
    for layer_idx, layer in enumerate(net.layers):
        for m in range(4):
            lin = [mod for mod in copies[m] if isinstance(mod, nn.Linear)][layer_idx]
            torch.testing.assert_close(layer.weight.grad[m], lin.weight.grad.T, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(layer.bias.grad[m, 0], lin.bias.grad, rtol=1e-4, atol=1e-5)


def test_members_do_not_share_gradients() -> None:
    torch.manual_seed(1)
    net = BatchedMLP(3, 5, (8,), 2)
    x = torch.randn(3, 4, 5)
    net(x)[1].sum().backward()  # a loss of member 1 only
    for layer in net.layers:
        assert layer.weight.grad[0].abs().sum() == 0 and layer.weight.grad[2].abs().sum() == 0
        assert layer.weight.grad[1].abs().sum() > 0


def test_size_one_input_is_broadcast_to_every_member() -> None:
    torch.manual_seed(2)
    net = BatchedMLP(3, 5, (8,), 2)
    x = torch.randn(1, 6, 5)
    torch.testing.assert_close(net(x), net(x.expand(3, 6, 5).contiguous()))
    loop = LoopMLP(3, 5, (8,), 2)
    assert loop(x).shape == (3, 6, 2)


def test_member_export_matches_batched_output() -> None:
    torch.manual_seed(3)
    net = BatchedMLP(2, 4, (8, 8), 3)
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(net.member(1)(x[1]), net(x)[1])


def test_seeded_initialisation_is_reproducible_and_nn_linear_scaled() -> None:
    a = BatchedMLP(2, 100, (64,), 1, generator=torch.Generator().manual_seed(7))
    b = BatchedMLP(2, 100, (64,), 1, generator=torch.Generator().manual_seed(7))
    c = BatchedMLP(2, 100, (64,), 1, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(a.layers[0].weight, b.layers[0].weight)
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)
    assert a.layers[0].weight.abs().max() <= 0.1  # 1 / sqrt(100), like nn.Linear
    assert a.layers[1].weight.abs().max() <= 1 / 8


def test_loop_mlp_has_the_same_interface() -> None:
    torch.manual_seed(4)
    loop = make_member_mlp(3, 5, (8,), 2, batched=False, generator=torch.Generator().manual_seed(0))
    assert isinstance(loop, LoopMLP)
    x = torch.randn(3, 4, 5)
    out = loop(x)
    torch.testing.assert_close(out[2], loop.member(2)(x[2]))
    assert isinstance(make_member_mlp(3, 5, (8,), 2), BatchedMLP)


@pytest.mark.parametrize("batched", [True, False])
def test_per_member_grad_clipping_equals_clipping_each_agent_alone(batched: bool) -> None:
    torch.manual_seed(5)
    net = make_member_mlp(3, 5, (8,), 2, batched=batched)
    head = make_member_mlp(3, 2, (), 1, batched=batched)
    x = torch.randn(3, 16, 5)
    scale = torch.tensor([100.0, 0.001, 10.0]).view(3, 1, 1)  # member 1 stays under the limit
    (head(net(x)) * scale).sum().backward()
    per_member = [
        [p.grad.clone() for p in _member_params(net, m) + _member_params(head, m)] for m in range(3)
    ]
    norms = clip_grad_norm_per_member_([net, head], max_norm=0.5)
    for m in range(3):
        before = torch.sqrt(sum((g**2).sum() for g in per_member[m]))
        torch.testing.assert_close(norms[m], before, rtol=1e-5, atol=1e-7)
        after = [p.grad for p in _member_params(net, m) + _member_params(head, m)]
        expected = min(1.0, 0.5 / (before.item() + 1e-6))
        for g0, g1 in zip(per_member[m], after, strict=True):
            torch.testing.assert_close(g1, g0 * expected, rtol=1e-5, atol=1e-8)
    assert norms[1] < 0.5 < norms[0]


def _member_params(net, m: int) -> list[torch.Tensor]:
    """Views of member ``m``'s parameters (with their gradients) for either network kind."""
    if isinstance(net, BatchedMLP):
        out = []
        for p in net.parameters():
            view = p[m].detach()
            view.grad = p.grad[m]
            out.append(view)
        return out
    return list(net.member(m).parameters())


def test_soft_update_moves_targets_by_exactly_tau() -> None:
    torch.manual_seed(6)
    source, target = BatchedMLP(2, 3, (4,), 1), BatchedMLP(2, 3, (4,), 1)
    before = [p.clone() for p in target.parameters()]
    soft_update_(target, source, tau=0.01)
    for t0, t1, s in zip(before, target.parameters(), source.parameters(), strict=True):
        torch.testing.assert_close(t1, t0 + 0.01 * (s - t0), rtol=0, atol=1e-7)
        torch.testing.assert_close(t1, 0.99 * t0 + 0.01 * s, rtol=0, atol=1e-7)
    hard_update_(target, source)
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        assert torch.equal(t, s)


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("activation", ["relu", "tanh", "elu"])
def test_numpy_forward_matches_torch_and_follows_parameter_updates(batched: bool, activation: str) -> None:
    torch.manual_seed(7)
    net = make_member_mlp(3, 6, (16, 16), 4, activation, batched=batched)
    x = torch.randn(3, 5, 6)
    with torch.no_grad():
        np.testing.assert_allclose(numpy_forward(net, x.numpy()), net(x).numpy(), rtol=1e-5, atol=1e-6)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    net(x).sum().backward()
    opt.step()  # in-place update: the cached numpy weights must be refreshed
    with torch.no_grad():
        np.testing.assert_allclose(numpy_forward(net, x.numpy()), net(x).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            numpy_forward(net, x[:1].numpy()), net(x[:1]).numpy(), rtol=1e-5, atol=1e-6
        )  # broadcast of a single input to every member


def test_numpy_layers_broadcasts_a_shared_input_and_matches_torch() -> None:
    gen = torch.Generator().manual_seed(5)
    net = BatchedMLP(3, 4, (8,), 2, "tanh", generator=gen)
    x = torch.rand(1, 6, 4, generator=gen)
    out = numpy_layers(net.numpy_params(), x.numpy(), "tanh")
    np.testing.assert_allclose(out, net(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    relu = numpy_layers(net.numpy_params(), x.numpy(), "relu")  # the activation name is used
    assert not np.allclose(relu, out)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_table_forms_agree(name: str) -> None:
    entry = ACTIVATIONS[name]
    x = torch.linspace(-3, 3, 13)
    expected = entry.module()(x)
    torch.testing.assert_close(entry.torch(x), expected)
    torch.testing.assert_close(entry.inplace(x.clone()), expected)
    np.testing.assert_allclose(entry.numpy(x.numpy().copy()), expected.numpy(), rtol=1e-6, atol=1e-7)


# -- the batched CNN --------------------------------------------------------------------------------


@pytest.mark.parametrize("head_hidden", [0, 16])
def test_batched_cnn_equals_separate_cnns(head_hidden: int) -> None:
    gen = torch.Generator().manual_seed(0)
    net = BatchedCNN(4, (3, 7, 7), 5, (32, 64, 64), 2, 1, head_hidden, generator=gen)
    singles = [net.single(i) for i in range(4)]
    x = torch.rand(4, 6, 3, 7, 7, generator=gen) * 3
    out = net(x)
    assert out.shape == (4, 6, 5)
    coeff = torch.randn(4, 6, 5, generator=gen)
    (out * coeff).sum().backward()
    batched_grads = [p.grad for p in net.layer_parameters()]
    for i, single in enumerate(singles):
        ref = single(x[i])
        torch.testing.assert_close(out[i], ref, rtol=1e-5, atol=1e-5)
        (ref * coeff[i]).sum().backward()
        for batched, p in zip(batched_grads, single.parameters(), strict=True):
            torch.testing.assert_close(batched[i], p.grad, rtol=1e-4, atol=1e-5)
    shared = torch.rand(6, 3, 7, 7, generator=gen)
    torch.testing.assert_close(net.forward_shared(shared), net(shared.expand(4, *shared.shape)))


def test_networks_start_different_and_clip_separately() -> None:
    gen = torch.Generator().manual_seed(1)
    net = BatchedCNN(3, (2, 5, 5), 3, (8, 8), generator=gen)
    assert not torch.equal(net.conv_weight[0][0], net.conv_weight[0][1])
    singles = [net.single(i) for i in range(3)]
    x = torch.rand(3, 4, 2, 5, 5, generator=gen)
    scale = torch.tensor([1.0, 100.0, 1e-3])[:, None, None]
    (net(x) * scale).sum().backward()
    clip_grad_norm_per_member_([net], 0.5)
    for i, single in enumerate(singles):
        (single(x[i]) * scale[i]).sum().backward()
        torch.nn.utils.clip_grad_norm_(single.parameters(), 0.5)
        for batched, p in zip(net.layer_parameters(), single.parameters(), strict=True):
            torch.testing.assert_close(batched.grad[i], p.grad, rtol=1e-4, atol=1e-7)
