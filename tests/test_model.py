"""The LSTM network: weight drop keeps nn.LSTM, packed variable-length input, zero head."""

from __future__ import annotations

import pytest
import torch

from lstmtune.model import LSTMNet, build_model


def test_weight_drop_samples_a_mask_in_training_and_none_in_eval() -> None:
    torch.manual_seed(0)
    net = LSTMNet(3, 2, units=16, num_layers=2, recurrent_dropout=0.5, bidirectional=True)
    assert isinstance(net.lstm, torch.nn.LSTM)  # the fused module, not an LSTMCell loop
    names = {n for n, _ in net.named_parameters()}
    assert {
        "weight_hh_l0_raw",
        "weight_hh_l1_raw",
        "weight_hh_l0_reverse_raw",
        "weight_hh_l1_reverse_raw",
    } <= names
    assert not any(n.startswith("lstm.weight_hh") for n in names)
    x = torch.randn(4, 7, 3)
    net.train()
    a, b = net(x), net(x)
    assert not torch.allclose(a, b), "two training passes must sample different DropConnect masks"
    net.eval()
    assert torch.allclose(net(x), net(x))


def test_weight_drop_gradients_reach_the_raw_recurrent_weights() -> None:
    net = LSTMNet(2, 1, units=8, recurrent_dropout=0.3)
    net.train()
    net(torch.randn(5, 6, 2)).sum().backward()
    grad = net.weight_hh_l0_raw.grad
    assert grad is not None and grad.abs().sum() > 0


def test_state_dict_round_trip_matches_outputs() -> None:
    params = {
        "units": 8,
        "num_layers": 2,
        "dropout": 0.1,
        "recurrent_dropout": 0.2,
        "bidirectional": True,
    }
    a = build_model(3, 2, params, zero_head=False).eval()
    b = build_model(3, 2, params, zero_head=False).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 5, 3)
    assert torch.allclose(a(x), b(x))


def test_packed_sequences_ignore_padding() -> None:
    torch.manual_seed(1)
    net = LSTMNet(2, 3, units=8, bidirectional=True).eval()
    short = torch.randn(1, 4, 2)
    padded = torch.cat([short, torch.full((1, 6, 2), 99.0)], dim=1)
    out_short = net(short, torch.tensor([4]))
    out_padded = net(padded, torch.tensor([4]))
    assert torch.allclose(out_short, out_padded, atol=1e-6)


def test_zero_head_starts_at_zero() -> None:
    net = LSTMNet(2, 3, units=8, zero_head=True).eval()
    assert torch.count_nonzero(net(torch.randn(5, 4, 2))) == 0


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("head", ["last", "mean", "attention"])
def test_cells_and_heads_ignore_padding_and_round_trip(cell: str, head: str) -> None:
    torch.manual_seed(2)
    params = {
        "units": 8,
        "num_layers": 2,
        "recurrent_dropout": 0.2,
        "bidirectional": True,
        "cell": cell,
        "head": head,
    }
    net = build_model(2, 3, params, zero_head=False).eval()
    assert isinstance(net.lstm, torch.nn.GRU if cell == "gru" else torch.nn.LSTM)
    short = torch.randn(1, 4, 2)
    padded = torch.cat([short, torch.full((1, 5, 2), 50.0)], dim=1)
    assert torch.allclose(net(short, torch.tensor([4])), net(padded, torch.tensor([4])), atol=1e-5)
    other = build_model(2, 3, params, zero_head=False).eval()
    other.load_state_dict(net.state_dict())
    x = torch.randn(3, 6, 2)
    assert torch.allclose(net(x), other(x))
    net.train()
    net(x).sum().backward()
    assert net.weight_hh_l1_reverse_raw.grad is not None


def test_unknown_cell_or_head_is_refused() -> None:
    with pytest.raises(ValueError, match="cell"):
        LSTMNet(2, 1, units=4, cell="transformer")
    with pytest.raises(ValueError, match="head"):
        LSTMNet(2, 1, units=4, head="max")
