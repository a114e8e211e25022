"""The student network itself (classifiers/student.py), on a tiny random embedding: no model directory needed."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from classifiers.student import EMBEDDING_KEY, STUDENT_FILE, build_student, load_student  # noqa: E402

VOCAB, DIM, HIDDEN, PAD = 50, 16, 8, 1


def _net(attention: int):
    torch.manual_seed(0)
    net = build_student(torch.randn(VOCAB, DIM), hidden=HIDDEN, layers=4, pad_id=PAD, attention=attention)
    with torch.no_grad():  # non-zero biases everywhere, so a misplaced bias would show
        for p in net.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    return net.eval()


@pytest.mark.parametrize("attention", [0, 4])
def test_padding_does_not_change_scores(attention: int) -> None:
    """A text scores the same alone (no padding: the unmasked path) and in a batch padded to a longer text,
    including texts shorter than the widest dilation (8)."""
    net = _net(attention)
    long = torch.randint(5, VOCAB, (1, 20))
    for n in (3, 9, 17):
        short = torch.randint(5, VOCAB, (1, n))
        batch = torch.full((2, 20), PAD)
        batch[0], batch[1, :n] = long[0], short[0]
        mask = (torch.arange(20) < torch.tensor([[20], [n]])).long()
        with torch.no_grad():
            together = net(batch, mask)
            alone = net(short, torch.ones_like(short))
        assert torch.allclose(together[1], alone[0], atol=1e-5), n
        assert torch.allclose(together[0], net(long, torch.ones_like(long))[0], atol=1e-5)


def _cat_conv_forward(net, state, ids):
    """The first student's forward (2026-11-23): Linear(3H → H) over [x(t−d), x(t), x(t+d)] concatenated."""
    h = net.proj(net.ln0(net.emb(ids)))
    n = h.shape[1]
    for i, ln in enumerate(net.lns):
        d = 2**i
        x = ln(h)
        xp = F.pad(x, (0, 0, d, d))
        cat = torch.cat([xp[:, :n], x, xp[:, 2 * d :]], -1)
        h = h + F.gelu(F.linear(cat, state[f"convs.{i}.weight"], state[f"convs.{i}.bias"]))
    return net.head(torch.cat([h.mean(1), h.amax(1)], 1))


def test_student_saved_in_the_first_layout_loads_and_scores_the_same(tmp_path: Path) -> None:
    torch.manual_seed(1)
    emb = torch.randn(VOCAB, DIM)
    old = build_student(emb, hidden=HIDDEN, layers=4, pad_id=PAD).eval()
    state = {k: v for k, v in old.state_dict().items() if not k.startswith("emb.")}
    for i in range(4):  # the first layout's weights: H × 3H
        state[f"convs.{i}.weight"] = torch.randn(HIDDEN, 3 * HIDDEN) * 0.3
        state[f"convs.{i}.bias"] = torch.randn(HIDDEN) * 0.1
    save_file({EMBEDDING_KEY: emb}, str(tmp_path / "model.safetensors"))
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / STUDENT_FILE))
    net = load_student(tmp_path, {"hidden": HIDDEN, "layers": 4, "labels": 3}, pad_id=PAD)
    ids = torch.randint(5, VOCAB, (3, 12))
    with torch.no_grad():
        expected = _cat_conv_forward(net, state, ids)
        got = net(ids, torch.ones_like(ids))
    assert torch.allclose(got, expected, atol=1e-5)


def test_student_with_wrong_weights_is_refused(tmp_path: Path) -> None:
    emb = torch.randn(VOCAB, DIM)
    net = build_student(emb, hidden=HIDDEN, layers=4, pad_id=PAD, attention=4)
    save_file({EMBEDDING_KEY: emb}, str(tmp_path / "model.safetensors"))
    own = {k: v.contiguous() for k, v in net.state_dict().items() if not k.startswith("emb.")}
    save_file(own, str(tmp_path / STUDENT_FILE))
    with pytest.raises(ValueError, match="权重与结构不符"):  # config says no attention: extra weights
        load_student(tmp_path, {"hidden": HIDDEN, "layers": 4, "labels": 3}, pad_id=PAD)
    assert load_student(tmp_path, {"hidden": HIDDEN, "layers": 4, "labels": 3, "attention": 4}, pad_id=PAD)


def _padded_batch() -> tuple:
    """Three windows of 1, 3 and 12 tokens (shorter than the widest dilation, 8, and longer), right-padded."""
    torch.manual_seed(2)
    ids = torch.full((3, 12), PAD, dtype=torch.long)
    mask = torch.zeros(3, 12, dtype=torch.long)
    for row, n in enumerate((1, 3, 12)):
        ids[row, :n] = torch.randint(5, VOCAB, (n,))
        mask[row, :n] = 1
    return ids, mask


def _save(tmp_path: Path, net) -> None:
    save_file({EMBEDDING_KEY: net.emb.weight.detach().contiguous()}, str(tmp_path / "model.safetensors"))
    own = {k: v.contiguous() for k, v in net.state_dict().items() if not k.startswith("emb.")}
    save_file(own, str(tmp_path / STUDENT_FILE))


@pytest.mark.parametrize("attention", [0, 4])
def test_exported_graph_scores_as_the_network(tmp_path: Path, attention: int) -> None:
    """The ONNX graph the product runs computes the torch network: exactly at float32 (any batch, any length,
    windows shorter than a dilation included), closely at int8."""
    pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    from classifiers.student import export_onnx
    from classifiers.student_onnx import OnnxStudent

    net = _net(attention)
    _save(tmp_path, net)
    ids, mask = _padded_batch()
    with torch.no_grad():
        expected = net(ids, mask).numpy()
    graph = OnnxStudent(tmp_path, export_onnx(tmp_path, net, "float32", log=lambda _: None), threads=1)
    got = graph(ids.numpy(), mask.numpy())
    assert got.shape == (3, 3)
    assert np.abs(got - expected).max() < 1e-5
    one = graph(ids[2:].numpy(), mask[2:].numpy())  # batch size and length are free
    assert np.abs(one - expected[2:]).max() < 1e-5
    # int8: the products torch's dynamic quantisation takes (proj, the convolutions, qkv and att_out; not the
    # head, not attention's q·k and a·v) run as integer products. Its scores on the real model are held by the
    # evaluation gates (tests/test_eval_gate.py); on this toy's 8 dims int8 is too coarse to compare.
    import onnx

    int8 = OnnxStudent(tmp_path, export_onnx(tmp_path, net, "int8", log=lambda _: None), threads=1)
    nodes = onnx.load(str(tmp_path / "student.onnx")).graph.node
    assert [n.op_type for n in nodes].count("MatMulInteger") == 1 + 4 + (2 if attention else 0)
    assert [n.op_type for n in nodes if n.name.startswith("/head/")] in (["Gemm"], ["MatMul", "Add"])
    scores = int8(ids.numpy(), mask.numpy())
    assert scores.shape == (3, 3) and np.isfinite(scores).all()


def test_graph_of_other_weights_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from classifiers.student import export_onnx
    from classifiers.student_onnx import OnnxStudent, StaleGraph

    net = _net(4)
    _save(tmp_path, net)
    entry = export_onnx(tmp_path, net, "int8", log=lambda _: None)
    with torch.no_grad():
        net.head.bias.add_(1.0)  # retrained weights, graph not exported again
    _save(tmp_path, net)
    with pytest.raises(StaleGraph, match="重新导出"):
        OnnxStudent(tmp_path, entry)
