"""Split the real-web corpus (``all.jsonl``) into train / dev / test by source site, deterministically.

No site (registrable domain) appears in two splits, so a model is never scored on a site whose wording it
saw in training. Sites are taken rarest label first and then in the order of a SHA-256 digest of the site
name; each goes to the split furthest below its target share (60 / 15 / 25 of items) on the labels the site
carries. The same ``all.jsonl`` always gives the same three files.

Items carry the ``batch`` in which they were gathered (1, 2, …). Sites are placed batch by batch: a later
batch never moves a site of an earlier one, so adding a batch keeps every earlier item in its split (the
pinned test split only grows). A site first seen in batch *b* is placed with batch *b*, continuing from the
counts the earlier batches left; later items of an already placed site follow it.

    python -m classifiers.training_data.real.split            # (re)write train/dev/test.jsonl
    python -m classifiers.training_data.real.split --check    # exit 1 if the files on disk differ
    python -m classifiers.training_data.real.split --stats    # counts per label and kind per split (markdown)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALL = HERE / "all.jsonl"
SPLITS: tuple[str, ...] = ("train", "dev", "test")
TARGETS: dict[str, float] = {"train": 0.60, "dev": 0.15, "test": 0.25}
SALT = "yijian-real-corpus-v1"
# labels from the rarest to the most common (``none``: no label); sites with rarer labels are placed first
STRATUM_ORDER: tuple[str, ...] = ("unapproved_service", "exaggerated_efficacy", "negative_sentiment", "none")
FIELDS: tuple[str, ...] = ("id", "text", "labels", "kind", "site", "url", "reason", "batch")


def read_items(path: Path | None = None) -> list[dict]:
    path = path or ALL
    items = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: 不是合法的 JSON: {exc}") from exc
    return items


def profile(site_items: list[dict]) -> dict[str, int]:
    """Items of a site per label (``none`` for items without one) plus the item count."""
    counts: Counter[str] = Counter(items=len(site_items))
    for item in site_items:
        counts.update(item["labels"] or ["none"])
    return dict(counts)


def site_key(site: str) -> str:
    return hashlib.sha256(f"{SALT}:{site}".encode()).hexdigest()


def assign(items: list[dict]) -> dict[str, list[dict]]:
    """Items per split; every item of a site lands in the same split.

    Batch by batch, sites new in the batch are taken rarest label first (then by digest); each goes to the
    split that is furthest below its target share on the labels the site carries, so every label, not only
    the item count, is split about 60 / 15 / 25. Counts carry over from one batch to the next; a site placed
    in an earlier batch keeps its split, and its later items are counted there before the batch's new sites
    are placed.
    """
    batches = sorted({int(item["batch"]) for item in items})
    dims = (*STRATUM_ORDER, "items")
    done = {s: dict.fromkeys(dims, 0) for s in SPLITS}
    totals = dict.fromkeys(dims, 0)
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    placed: dict[str, str] = {}

    for batch in batches:
        by_site: dict[str, list[dict]] = defaultdict(list)
        for item in items:
            if int(item["batch"]) == batch:
                by_site[item["site"]].append(item)
        profiles = {site: profile(rows) for site, rows in by_site.items()}

        # later items of sites an earlier batch placed: they follow their site and count there
        for site in sorted(s for s in by_site if s in placed):
            vec = profiles[site]
            for d in dims:
                totals[d] += vec.get(d, 0)
                done[placed[site]][d] += vec.get(d, 0)
            out[placed[site]].extend(by_site[site])

        def order(site: str, profiles: dict[str, dict[str, int]] = profiles) -> tuple[int, str]:
            present = [i for i, name in enumerate(STRATUM_ORDER) if profiles[site].get(name)]
            return (min(present), site_key(site))

        for site in sorted((s for s in by_site if s not in placed), key=order):
            vec = profiles[site]
            for d in dims:
                totals[d] += vec.get(d, 0)

            def deficit(s: str, vec: dict[str, int] = vec) -> tuple[float, float]:
                return (sum(vec.get(d, 0) * (TARGETS[s] * totals[d] - done[s][d]) for d in dims), TARGETS[s])

            best = max(SPLITS, key=deficit)
            for d in dims:
                done[best][d] += vec.get(d, 0)
            placed[site] = best
            out[best].extend(by_site[site])
    for split in SPLITS:
        out[split].sort(key=lambda r: r["id"])
    return out


def render(rows: list[dict]) -> str:
    return "".join(json.dumps({k: r[k] for k in FIELDS}, ensure_ascii=False) + "\n" for r in rows)


def stats(splits: dict[str, list[dict]]) -> str:
    labels = ("exaggerated_efficacy", "unapproved_service", "negative_sentiment")
    lines = [
        "| split | items | sites | " + " | ".join(labels) + " | none |",
        "|---" * (len(labels) + 4) + "|",
    ]
    for s in SPLITS:
        rows = splits[s]
        c = Counter(lab for r in rows for lab in r["labels"])
        none = sum(1 for r in rows if not r["labels"])
        sites = len({r["site"] for r in rows})
        lines.append(
            f"| {s} | {len(rows)} | {sites} | " + " | ".join(str(c[lab]) for lab in labels) + f" | {none} |"
        )
    kinds = sorted({r["kind"] for rows in splits.values() for r in rows})
    lines += ["", "| kind | " + " | ".join(SPLITS) + " | all |", "|---" * (len(SPLITS) + 2) + "|"]
    for k in kinds:
        per = [sum(1 for r in splits[s] if r["kind"] == k) for s in SPLITS]
        lines.append(f"| {k} | " + " | ".join(map(str, per)) + f" | {sum(per)} |")
    batches = sorted({int(r["batch"]) for rows in splits.values() for r in rows})
    lines += ["", "| batch | " + " | ".join(SPLITS) + " | all |", "|---" * (len(SPLITS) + 2) + "|"]
    for b in batches:
        per = [sum(1 for r in splits[s] if int(r["batch"]) == b) for s in SPLITS]
        lines.append(f"| {b} | " + " | ".join(map(str, per)) + f" | {sum(per)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="只检查磁盘上的划分文件是否与 all.jsonl 一致")
    ap.add_argument("--stats", action="store_true", help="打印各划分的标签与类型计数（Markdown）")
    args = ap.parse_args(argv)
    splits = assign(read_items())
    if args.stats:
        print(stats(splits))
        return 0
    stale = [s for s in SPLITS if not (HERE / f"{s}.jsonl").is_file()
             or (HERE / f"{s}.jsonl").read_text(encoding="utf-8") != render(splits[s])]  # fmt: skip
    if args.check:
        if stale:
            print(
                f"划分文件与 all.jsonl 不一致：{', '.join(stale)}；请运行 split.py 重新生成", file=sys.stderr
            )
            return 1
        return 0
    for s in SPLITS:
        (HERE / f"{s}.jsonl").write_text(render(splits[s]), encoding="utf-8")
    print(" ".join(f"{s}={len(splits[s])}" for s in SPLITS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
