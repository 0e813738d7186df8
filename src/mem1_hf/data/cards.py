"""Dataset cards for composed MEM1 datasets: render the template, check the metadata.

The template is package data, ``mem1_hf/templates/dataset_card.md`` (Jinja, rendered by
``huggingface_hub.DatasetCard.from_template``). The YAML metadata carries the sources'
licences (HotpotQA CC BY-SA 4.0, NQ CC BY-SA 3.0, 2WikiMultihopQA Apache-2.0, MuSiQue
CC BY 4.0; from the sources actually used), ``task_categories``, ``source_datasets``,
``size_categories`` and the ``configs`` that point ``load_dataset`` at the parquet files.

``DatasetCard.validate()`` asks the Hub; :func:`validate_card` checks the same metadata
offline and calls the Hub only with ``online=True``.

Example:
    >>> card = render_card(manifest)  # doctest: +SKIP
    >>> validate_card(card).data.license  # doctest: +SKIP
    'cc-by-sa-4.0'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError

#: the template: package data, so `mem1 compose` works from an installed wheel too
TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "dataset_card.md"

#: Hub ``size_categories`` buckets: (exclusive upper bound, label)
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
)


@dataclass(frozen=True)
class SourceLicense:
    """What a card says about one kind of source.

    Args:
        license: the Hub licence id of the underlying dataset.
        hub_id: the dataset's Hub id (listed in ``source_datasets``).
        attribution: one sentence naming the authors, the paper and the licence.
        name: the dataset's name, listed when it has no Hub id.
        license_name: the licence as its publisher names it (``CC BY-SA 4.0``).
        share_alike: whether derivatives must carry the same licence (the CC BY-SA family).
    """

    license: str
    hub_id: str | None
    attribution: str
    name: str | None = None
    license_name: str = "an unknown licence"
    share_alike: bool = False

    @property
    def source_dataset(self) -> str | None:
        """What ``source_datasets`` lists: the Hub id, else the dataset's name."""
        return self.hub_id or self.name


KNOWN_SOURCES: dict[str, SourceLicense] = {
    "hotpotqa": SourceLicense(
        license="cc-by-sa-4.0",
        license_name="CC BY-SA 4.0",
        share_alike=True,
        hub_id="hotpotqa/hotpot_qa",
        attribution=(
            "HotpotQA, Yang et al., *HotpotQA: A Dataset for Diverse, Explainable Multi-hop Question "
            "Answering*, EMNLP 2018 (https://hotpotqa.github.io), CC BY-SA 4.0 (questions, answers "
            "and Wikipedia paragraphs)."
        ),
    ),
    "nq": SourceLicense(
        license="cc-by-sa-3.0",
        license_name="CC BY-SA 3.0",
        share_alike=True,
        hub_id="google-research-datasets/nq_open",
        attribution=(
            "Natural Questions, Kwiatkowski et al., TACL 2019, in its open-domain form NQ-open "
            "(Lee et al., ACL 2019), CC BY-SA 3.0; gold Wikipedia passages (oracle files) as "
            "released by Liu et al., *Lost in the Middle*, TACL 2024."
        ),
    ),
    "2wikimultihopqa": SourceLicense(
        license="apache-2.0",
        license_name="Apache-2.0",
        hub_id=None,
        name="2WikiMultihopQA",
        attribution=(
            "2WikiMultihopQA, Ho et al., *Constructing A Multi-hop QA Dataset for Comprehensive "
            "Evaluation of Reasoning Steps*, COLING 2020 (https://github.com/Alab-NII/2wikimultihop), "
            "Apache-2.0 (the repository's licence); paragraphs from Wikipedia."
        ),
    ),
    "musique": SourceLicense(
        license="cc-by-4.0",
        license_name="CC BY 4.0",
        hub_id=None,
        name="MuSiQue",
        attribution=(
            "MuSiQue, Trivedi et al., *MuSiQue: Multihop Questions via Single-hop Question "
            "Composition*, TACL 2022 (https://github.com/StonyBrookNLP/musique), CC BY 4.0."
        ),
    ),
    "other": SourceLicense(license="unknown", hub_id=None, attribution=""),
}

#: QA formats that name their dataset (format -> kind)
_FORMAT_KINDS = {"nq_oracle": "nq", "2wikimultihopqa": "2wikimultihopqa", "musique": "musique"}


def source_kind(name: str, origin: str, fmt: str | None = None) -> str:
    """Which known dataset a source is (``hotpotqa``, ``nq``) or ``other``, by format then name.

    Example:
        >>> source_kind("nq", "NQ-open.dev.jsonl", "qa_jsonl"), source_kind("x", "hotpot_qa")
        ('nq', 'hotpotqa')
        >>> source_kind("hotpotqa", "musique_ans_v1.0_dev.jsonl", "musique")
        'musique'
    """
    if fmt and fmt.startswith("hotpotqa"):
        return "hotpotqa"
    if fmt in _FORMAT_KINDS:
        return _FORMAT_KINDS[fmt]
    text = f"{name} {Path(origin).name}".lower()
    if "musique" in text:
        return "musique"
    if "2wiki" in text:
        return "2wikimultihopqa"
    if "hotpot" in text:
        return "hotpotqa"
    if "nq" in re.split(r"[^a-z0-9]+", text) or "natural_questions" in text:
        return "nq"
    return "other"


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` label for ``n`` rows.

    Example:
        >>> size_category(120), size_category(5000)
        ('n<1K', '1K<n<10K')
    """
    for bound, label in SIZE_CATEGORIES:
        if n < bound:
            return label
    return "n>1T"


def card_data(manifest: Mapping[str, Any]):
    """The ``DatasetCardData`` (YAML metadata) of a composition manifest."""
    from huggingface_hub import DatasetCardData

    kinds = [KNOWN_SOURCES[s["kind"]] for s in manifest["sources"]]
    licenses = list(dict.fromkeys(k.license for k in kinds))
    hub_ids = list(dict.fromkeys(k.source_dataset for k in kinds if k.source_dataset)) or ["original"]
    splits = list(manifest["counts"])
    return DatasetCardData(
        language=["en"],
        license=licenses[0] if len(licenses) == 1 else licenses,
        task_categories=["question-answering"],
        task_ids=["open-domain-qa"],
        size_categories=[size_category(sum(manifest["counts"].values()))],
        source_datasets=hub_ids,
        pretty_name=pretty_name(manifest),
        tags=["mem1", "multi-objective", "multi-hop", "retrieval-augmented-generation", "agents"],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}.parquet"} for s in splits],
            }
        ],
    )


def license_text(manifest: Mapping[str, Any]) -> str:
    """Each source's licence, named as its publisher names it.

    Example:
        >>> license_text({"sources": [{"name": "hotpotqa", "kind": "hotpotqa"},
        ...                           {"name": "wiki", "kind": "2wikimultihopqa"}]})
        'hotpotqa: CC BY-SA 4.0; wiki: Apache-2.0'
    """
    return "; ".join(f"{s['name']}: {KNOWN_SOURCES[s['kind']].license_name}" for s in manifest["sources"])


def pretty_name(manifest: Mapping[str, Any]) -> str:
    names = " + ".join(s["name"] for s in manifest["sources"])
    return f"MEM1 {manifest['objectives']}-objective QA ({names})"


def render_card(manifest: Mapping[str, Any], template: str | Path | None = None) -> str:
    """Render the dataset card (YAML metadata + Markdown) of a composition manifest.

    ``manifest`` is what :func:`mem1_hf.data.compose.compose` writes to ``compose.json``.

    Example:
        >>> text = render_card(json.load(open("out/compose.json")))  # doctest: +SKIP
    """
    from huggingface_hub import DatasetCard

    from mem1_hf.version import __version__

    template = Path(template) if template is not None else TEMPLATE
    if not template.is_file():
        raise Mem1InputError(f"dataset card template not found: {template}")
    sources = []
    for source in manifest["sources"]:
        info = KNOWN_SOURCES[source["kind"]]
        sources.append({**source, "license": info.license, "attribution": info.attribution})
    attributions = [
        {
            "names": ", ".join(s["name"] for s in sources if s["kind"] == kind),
            "text": KNOWN_SOURCES[kind].attribution,
        }
        for kind in dict.fromkeys(s["kind"] for s in sources)
        if KNOWN_SOURCES[kind].attribution
    ]
    corpus = manifest.get("corpus")
    card = DatasetCard.from_template(
        card_data(manifest),
        template_path=str(template),
        pretty_name=pretty_name(manifest),
        objectives=manifest["objectives"],
        mix=manifest["mix"],
        seed=manifest["seed"],
        splits_text=", ".join(f"{k}={v}" for k, v in manifest["split_fractions"].items()) or "none",
        limit=manifest.get("limit"),
        version=__version__,
        command=manifest["command"],
        counts=manifest["counts"],
        first_split=next(iter(manifest["counts"])),
        sources=sources,
        corpus=(
            {
                "file": corpus["file"],
                "passages": corpus["passages"],
                "sources": ", ".join(corpus["sources"]),
                "missing": ", ".join(corpus["missing"]),
            }
            if corpus
            else None
        ),
        license_text=license_text(manifest),
        share_alike=", ".join(
            dict.fromkeys(
                KNOWN_SOURCES[s["kind"]].license_name
                for s in manifest["sources"]
                if KNOWN_SOURCES[s["kind"]].share_alike
            )
        ),
        attributions=attributions,
    )
    return str(card)


_REQUIRED = ("license", "task_categories", "size_categories", "source_datasets", "pretty_name", "configs")


def validate_card(content: str, online: bool = False):
    """Parse a card with ``huggingface_hub.DatasetCard`` and check its metadata; return the card.

    Offline checks: the required fields are present, ``task_categories`` includes
    ``question-answering``, ``size_categories`` is a Hub bucket, every ``configs`` entry
    names parquet files. ``online=True`` also runs the Hub's own ``DatasetCard.validate()``.

    Example:
        >>> validate_card(open("out/README.md").read()).data.task_categories  # doctest: +SKIP
        ['question-answering']
    """
    from huggingface_hub import DatasetCard

    try:
        card = DatasetCard(content)
    except ValueError as err:
        raise Mem1InputError(f"dataset card: cannot parse the YAML metadata ({err})") from err
    data = card.data.to_dict()
    problems = [f"missing {key!r}" for key in _REQUIRED if not data.get(key)]
    if "question-answering" not in (data.get("task_categories") or []):
        problems.append("task_categories lacks 'question-answering'")
    labels = {label for _, label in SIZE_CATEGORIES} | {"n>1T"}
    if not set(data.get("size_categories") or []) <= labels:
        problems.append(f"size_categories {data.get('size_categories')} is not a Hub bucket")
    for config in data.get("configs") or []:
        files = config.get("data_files") or []
        if not files or not all(str(f.get("path", "")).endswith(".parquet") for f in files):
            problems.append(f"config {config.get('config_name')!r} names no parquet data_files")
    if problems:
        raise Mem1InputError("dataset card: " + "; ".join(problems))
    if online:
        card.validate()
    return card
