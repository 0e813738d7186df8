"""Compose N-objective MEM1 tasks from single-question QA sources (``mem1 compose``).

Each source's questions are split first (seeded; a question never lands in two splits), then
shuffled and grouped N at a time — within each source, or across all of them with ``mix``.
A task's id hashes its members' ``source:id`` keys, so it does not change with the seed,
the order of other tasks, or other sources. Rows keep MEM1's parquet fields
(``data_source``, ``prompt``, ``ability``, ``reward_model.ground_truth.target``,
``extra_info``) plus clear ones (``task_id``, ``questions``, ``answers``, ``n_objectives``,
``source_ids``, ``sources``, ``gold_titles``).

``write_composed`` writes ``OUT/arrow`` (``save_to_disk``), ``OUT/data/<split>.parquet``,
``OUT/corpus.jsonl`` (the local sources' passages), ``OUT/compose.json`` (the manifest) and
``OUT/README.md`` (the dataset card; ``load_dataset(OUT)`` reads the parquet files).

Example:
    >>> result = compose([("hotpotqa", "hotpotqa_dev_500.ircot.jsonl")], ComposeConfig(objectives=2))  # doctest: +SKIP
    >>> write_composed(result, "out/hotpot_2obj")  # doctest: +SKIP
    >>> load_composed("out/hotpot_2obj", "test")[0]["question"]  # doctest: +SKIP

    $ mem1 compose --source hotpotqa=hotpotqa_dev_500.ircot.jsonl --source nq=NQ-open.dev.jsonl \\
        --objectives 2 --mix --split test=0.1 --seed 0 --out out/mixed_2obj
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mem1_hf.data.documents import Document
from mem1_hf.data.fields import FieldMap, add_field_args, field_map_from_args
from mem1_hf.data.qa_sources import (
    FORMATS_WITH_PASSAGES,
    PASSAGE_FIELDS,
    QARecord,
    detect_qa_format,
    is_local_spec,
    load_source,
)
from mem1_hf.errors import Mem1InputError
from mem1_hf.prompts import DEFAULT_PROFILE, QA_PROFILES, get_profile

#: files and folders ``write_composed`` owns inside the output directory
OUTPUTS = ("README.md", "compose.json", "corpus.jsonl", "data", "arrow")
CORPUS_FILE = "corpus.jsonl"
#: share of each source's questions held out as ``test`` unless told otherwise
DEFAULT_TEST_FRACTION = 0.1


@dataclass(frozen=True)
class ComposeConfig:
    """How to compose tasks.

    Args:
        objectives: questions per task (N); MEM1 trains on 2 and evaluates 1..16.
        mix: group questions across all sources (True) or within each source (False).
        splits: split name -> fraction of each source's questions; the rest is ``train``
            (naming ``train`` too requires the fractions to sum to 1).
        seed: seeds the split and the grouping; the same seed gives the same dataset.
        limit: use only the first N questions of each source (None: all).
        prompt_profile: the prompt of the ``prompt`` field (``mem1-qa`` or ``mem1-paper``).
        ability: the MEM1 / verl ``ability`` field.
        strict: refuse a record without its passages in a file whose layout carries them
            (e.g. another release's records in a 2WikiMultihopQA file); by default such
            records, and their questions, are skipped and counted.
    """

    objectives: int = 2
    mix: bool = False
    splits: Mapping[str, float] = field(default_factory=lambda: {"test": DEFAULT_TEST_FRACTION})
    seed: int = 0
    limit: int | None = None
    prompt_profile: str = DEFAULT_PROFILE
    ability: str = "fact-reasoning"
    strict: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.objectives, bool) or not isinstance(self.objectives, int) or self.objectives < 1:
            raise Mem1InputError(f"objectives must be an integer >= 1, got {self.objectives!r}")
        if self.limit is not None and self.limit < 1:
            raise Mem1InputError(f"limit must be >= 1, got {self.limit}")
        if self.prompt_profile not in QA_PROFILES:
            raise Mem1InputError(
                f"prompt_profile must be one of {', '.join(QA_PROFILES)}, got {self.prompt_profile!r}"
            )
        for name, fraction in self.splits.items():
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                raise Mem1InputError(f"bad split name {name!r}: use letters, digits, '_' or '-'")
            if not 0 < fraction <= 1:
                raise Mem1InputError(f"split {name!r}: the fraction must be in (0, 1], got {fraction}")
        total = sum(self.splits.values())
        if total > 1 + 1e-9:
            raise Mem1InputError(f"split fractions sum to {total:g} > 1")
        if "train" in self.splits and abs(total - 1) > 1e-9:
            raise Mem1InputError(f"when 'train' is named the split fractions must sum to 1, got {total:g}")

    def split_names(self) -> list[str]:
        """The output splits in order: ``train`` (unless the named splits take everything), then the rest."""
        named = list(self.splits)
        rest = "train" not in named and sum(self.splits.values()) < 1 - 1e-9
        return (["train"] if rest else []) + named


@dataclass
class Composition:
    """The result of :func:`compose`.

    Args:
        dataset: the composed tasks, one split per configured split.
        manifest: what was done (config, sources, counts, command), written as ``compose.json``.
        corpus: the deduplicated passages of the local sources (None when none carry passages).
    """

    dataset: Any  # datasets.DatasetDict (imported lazily)
    manifest: dict[str, Any]
    corpus: list[Document] | None = None


def task_id(source_keys: Sequence[str]) -> str:
    """The stable id of a task: ``n<N>-`` and 16 hex digits of the SHA-1 of its members' keys.

    Example:
        >>> task_id(["hotpotqa:5a8c7595554299585d9e36b6", "nq:q-16e1d23474b90566"])
        'n2-2c4136d69622d685'
    """
    digest = hashlib.sha1("\n".join(source_keys).encode("utf-8")).hexdigest()[:16]
    return f"n{len(source_keys)}-{digest}"


def features():
    """The ``datasets.Features`` of a composed row (explicit, so empty lists keep their type)."""
    from datasets import Features, List, Value

    strings = List(Value("string"))
    return Features(
        {
            "task_id": Value("string"),
            "data_source": Value("string"),
            "prompt": List({"role": Value("string"), "content": Value("string")}),
            "ability": Value("string"),
            "reward_model": {"style": Value("string"), "ground_truth": {"target": List(strings)}},
            "extra_info": {"split": Value("string"), "index": Value("int64"), "task_id": Value("string")},
            "question": Value("string"),
            "questions": strings,
            "answers": List(strings),
            "n_objectives": Value("int32"),
            "source_ids": strings,
            "sources": strings,
            "gold_titles": List(strings),
        }
    )


# ----------------------------------------------------------------------------- split and group


def _question_key(question: str) -> str:
    return " ".join(question.lower().split())


def drop_repeated_questions(
    records_by_source: Mapping[str, list[QARecord]],
) -> tuple[dict[str, list[QARecord]], int]:
    """Keep each question once across all sources (the first source wins); return the drop count."""
    seen: set[str] = set()
    kept: dict[str, list[QARecord]] = {}
    dropped = 0
    for source, records in records_by_source.items():
        kept[source] = []
        for record in records:
            key = _question_key(record.question)
            if key in seen:
                dropped += 1
                continue
            seen.add(key)
            kept[source].append(record)
    return kept, dropped


def split_records(
    records: Sequence[QARecord], config: ComposeConfig, source: str
) -> dict[str, list[QARecord]]:
    """Assign one source's questions to splits: a seeded shuffle of the id-sorted records, cut by fraction.

    Sorting by id first makes the split independent of the file's order.
    """
    ordered = sorted(records, key=lambda r: r.id)
    random.Random(f"{config.seed}/split/{source}").shuffle(ordered)
    out: dict[str, list[QARecord]] = {}
    start = 0
    for name, fraction in config.splits.items():
        count = min(round(fraction * len(ordered)), len(ordered) - start)
        out[name] = ordered[start : start + count]
        start += count
    if "train" not in config.splits:
        out["train"] = ordered[start:]
    return out


def group_records(
    records: Sequence[QARecord], objectives: int, rng_key: str
) -> tuple[list[list[QARecord]], int]:
    """Shuffle (seeded by ``rng_key``) and cut into groups of ``objectives``; return groups and leftovers."""
    ordered = list(records)
    random.Random(rng_key).shuffle(ordered)
    n_groups = len(ordered) // objectives
    groups = [ordered[i * objectives : (i + 1) * objectives] for i in range(n_groups)]
    return groups, len(ordered) - n_groups * objectives


def make_row(members: Sequence[QARecord], split: str, index: int, config: ComposeConfig) -> dict[str, Any]:
    """One composed task in MEM1's parquet layout plus our own fields."""
    profile = get_profile(config.prompt_profile)
    questions = [m.question for m in members]
    answers = [list(m.answers) for m in members]
    tid = task_id([m.key for m in members])
    sources = [m.source for m in members]
    return {
        "task_id": tid,
        "data_source": "+".join(sorted(set(sources))),
        "prompt": [{"role": "user", "content": profile.build_prompt(questions)}],
        "ability": config.ability,
        "reward_model": {"style": "rule", "ground_truth": {"target": answers}},
        "extra_info": {"split": split, "index": index, "task_id": tid},
        "question": profile.join_questions(questions),
        "questions": questions,
        "answers": answers,
        "n_objectives": len(members),
        "source_ids": [m.id for m in members],
        "sources": sources,
        "gold_titles": [list(m.gold_titles) for m in members],
    }


def compose_tasks(
    records_by_source: Mapping[str, Sequence[QARecord]], config: ComposeConfig
) -> tuple[Any, dict[str, Any]]:
    """Split, group and build the rows; return ``(DatasetDict, counts)``.

    Example:
        >>> dd, counts = compose_tasks({"nq": records}, ComposeConfig(objectives=2))  # doctest: +SKIP
    """
    from datasets import Dataset, DatasetDict
    from tqdm.auto import tqdm

    per_source = {
        source: split_records(records, config, source) for source, records in records_by_source.items()
    }
    dataset, counts, leftovers = {}, {}, {}
    for split in config.split_names():
        if config.mix:
            pool = [r for source in records_by_source for r in per_source[source][split]]
            groups, leftovers[split] = group_records(
                pool, config.objectives, f"{config.seed}/group/{split}/*"
            )
        else:
            groups, leftovers[split] = [], 0
            for source in records_by_source:
                got, left = group_records(
                    per_source[source][split], config.objectives, f"{config.seed}/group/{split}/{source}"
                )
                groups += got
                leftovers[split] += left
        if not groups:
            n = sum(len(per_source[s][split]) for s in records_by_source)
            raise Mem1InputError(
                f"split {split!r} gets {n} questions, too few for one task of {config.objectives} "
                "(use a larger split fraction, more data, or fewer objectives)"
            )
        rows = [
            make_row(members, split, index, config)
            for index, members in enumerate(
                tqdm(groups, desc=f"composing {split}", unit="task", disable=None)
            )
        ]
        dataset[split] = Dataset.from_list(rows, features=features())
        counts[split] = len(rows)
    return DatasetDict(dataset), {"counts": counts, "leftover_questions": leftovers}


# ----------------------------------------------------------------------------- the whole job


def _strip_title(title: str) -> str:
    return title[1:-1] if len(title) >= 2 and title[0] == title[-1] == '"' else title


def build_sources_corpus(
    local_sources: Sequence[tuple[str, Path]],
    limit: int | None,
    fields: FieldMap | None = None,
    strict: bool = False,
) -> list[Document] | None:
    """The deduplicated passages of local sources that carry them (None if none do).

    Records without passages are refused under ``strict``, else skipped (their questions are
    left out, and counted, when the sources are loaded).
    """
    from mem1_hf.data.corpus import build_corpus, dedup_documents

    skipped: list[str] = []  # counted by compose() from the questions' side
    docs = [
        doc
        for _, path in local_sources
        for doc in build_corpus(path, max_questions=limit, fields=fields, strict=strict, skipped=skipped)
    ]
    if not docs:
        return None
    return dedup_documents((_strip_title(doc.title), doc.text) for doc in docs)


def _origin(spec: str) -> str:
    # a local file is named by its file name only: the card must not carry this machine's paths
    return Path(spec).name if is_local_spec(spec) else spec


def compose(
    sources: Sequence[tuple[str, str | Path]],
    config: ComposeConfig,
    command: str | None = None,
    fields: FieldMap | None = None,
) -> Composition:
    """Load the sources (local files or Hub ids), compose the tasks, build the corpus.

    ``sources`` is a list of ``(name, file path or Hub id)``; names become ``data_source``.
    ``fields`` (``--question-field`` …) applies to every local source: it reads a layout that is
    not detected.

    Example:
        >>> result = compose([("hotpotqa", "hotpotqa_train_100.json"), ("nq", "NQ-open.dev.jsonl")],
        ...                  ComposeConfig(objectives=2, mix=True, limit=100))  # doctest: +SKIP
        >>> result.dataset["train"].num_rows  # doctest: +SKIP
        90
    """
    from tqdm.auto import tqdm

    if not sources:
        raise Mem1InputError("give at least one source (--source NAME=PATH_OR_HUB_ID)")
    names = [name for name, _ in sources]
    if len(set(names)) != len(names):
        raise Mem1InputError(f"source names must be unique, got {', '.join(names)}")
    records_by_source: dict[str, list[QARecord]] = {}
    info: list[dict[str, Any]] = []
    with_passages: list[tuple[str, Path]] = []
    for name, spec in tqdm(sources, desc="loading sources", unit="source", disable=None):
        spec = str(spec)
        local = is_local_spec(spec)
        mapped = local and fields is not None and fields.for_qa
        fmt = ("mapped" if mapped else detect_qa_format(Path(spec).expanduser())) if local else "hub"
        # a record with no passages has no gold paragraph in the corpus: its question goes too
        skipped: list[str] | None = [] if fmt in PASSAGE_FIELDS and not config.strict else None
        records_by_source[name] = load_source(
            name, spec, limit=config.limit, fields=fields, without_passages=skipped
        )
        if fmt in FORMATS_WITH_PASSAGES or (local and fields is not None and fields.for_passages):
            with_passages.append((name, Path(spec).expanduser()))
        entry = {"name": name, "origin": _origin(spec), "format": fmt, "local": local}
        if skipped:
            entry["skipped_without_passages"] = len(skipped)
            entry["first_skipped"] = Path(skipped[0]).name  # file:line, never this machine's path
        info.append(entry)
    records_by_source, repeated = drop_repeated_questions(records_by_source)
    dataset, stats = compose_tasks(records_by_source, config)

    from mem1_hf.data.cards import source_kind

    for entry in info:
        entry["questions"] = len(records_by_source[entry["name"]])
        entry["kind"] = source_kind(entry["name"], entry["origin"], entry["format"])
    corpus = build_sources_corpus(with_passages, config.limit, fields, strict=config.strict)
    manifest = {
        "command": command or command_line(sources, config),
        **{k: v for k, v in asdict(config).items() if k != "splits"},
        "split_fractions": dict(config.splits),
        "sources": info,
        "repeated_questions_dropped": repeated,
        **stats,
        "corpus": (
            {
                "file": CORPUS_FILE,
                "passages": len(corpus),
                "sources": [name for name, _ in with_passages],
                "missing": [e["name"] for e in info if e["name"] not in dict(with_passages)],
            }
            if corpus
            else None
        ),
    }
    return Composition(dataset=dataset, manifest=manifest, corpus=corpus)


def command_line(
    sources: Sequence[tuple[str, str | Path]],
    config: ComposeConfig,
    out: str = "OUT",
    fields: FieldMap | None = None,
) -> str:
    """The ``mem1 compose`` command that reproduces a composition (local files by name only).

    Example:
        >>> command_line([("nq", "/data/NQ-open.dev.jsonl")], ComposeConfig(objectives=4))
        'mem1 compose --source nq=NQ-open.dev.jsonl --objectives 4 --split test=0.1 --seed 0 --out OUT'
    """
    parts = ["mem1 compose"]
    parts += [f"--source {name}={_origin(str(spec))}" for name, spec in sources]
    parts.append(f"--objectives {config.objectives}")
    if config.mix:
        parts.append("--mix")
    parts += [f"--split {name}={fraction:g}" for name, fraction in config.splits.items()]
    parts.append(f"--seed {config.seed}")
    if config.limit is not None:
        parts.append(f"--limit {config.limit}")
    if config.prompt_profile != ComposeConfig.prompt_profile:
        parts.append(f"--prompt-profile {config.prompt_profile}")
    if config.strict:
        parts.append("--strict")
    for name, value in asdict(fields or FieldMap()).items():
        if value:
            parts.append(f"--{name}-field {value}")
    parts.append(f"--out {out}")
    return " ".join(parts)


# ----------------------------------------------------------------------------- write and read


def check_out_dir(out: str | Path, overwrite: bool = False) -> Path:
    """``out`` as a path if a composition may be written there: not a file, and empty unless
    ``overwrite`` (``mem1 compose`` checks it before the slow part, :func:`write_composed` again).

    Example:
        >>> check_out_dir("/etc/passwd")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        mem1_hf.errors.Mem1InputError: --out /etc/passwd is a file; give a directory for the composition
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise Mem1InputError(f"--out {out} is a file; give a directory for the composition")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise Mem1InputError(f"{out} is not empty; pass --overwrite to replace a previous composition")
    return out


def write_composed(result: Composition, out: str | Path, overwrite: bool = False) -> Path:
    """Write the dataset (``save_to_disk`` and parquet), the corpus, the manifest and the card.

    Example:
        >>> write_composed(result, "out/hotpot_2obj")  # doctest: +SKIP
        PosixPath('out/hotpot_2obj')
    """
    from mem1_hf.data.cards import render_card, validate_card
    from mem1_hf.data.corpus import write_corpus

    out = check_out_dir(out, overwrite)
    if out.exists() and any(out.iterdir()):
        for name in OUTPUTS:  # remove only what we wrote before, never the user's other files
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    card = validate_card(render_card(result.manifest))  # fail before writing anything
    out.mkdir(parents=True, exist_ok=True)
    result.dataset.save_to_disk(str(out / "arrow"))
    (out / "data").mkdir(exist_ok=True)
    for split, data in result.dataset.items():
        data.to_parquet(str(out / "data" / f"{split}.parquet"))
    if result.corpus:
        write_corpus(result.corpus, out / CORPUS_FILE)
    (out / "compose.json").write_text(json.dumps(result.manifest, indent=2, ensure_ascii=False) + "\n")
    card.save(str(out / "README.md"))
    return out


def load_composed(dir_or_hub_id: str | Path, split: str | None = None):
    """Load a composed dataset from ``write_composed``'s directory or the Hub.

    Returns a ``DatasetDict``, or one ``Dataset`` when ``split`` is given.

    Example:
        >>> load_composed("out/hotpot_2obj", "test").num_rows  # doctest: +SKIP
        25
    """
    import datasets
    import pyarrow as pa
    from datasets.exceptions import DatasetGenerationError

    from mem1_hf.data.files import check_parquet

    path = Path(dir_or_hub_id).expanduser()
    if path.exists():
        if not path.is_dir():
            raise Mem1InputError(f"{path} is a file; expected a directory written by `mem1 compose`")
        try:
            if (path / "arrow" / "dataset_dict.json").is_file():
                loaded = datasets.load_from_disk(str(path / "arrow"))
            elif (path / "dataset_dict.json").is_file():
                loaded = datasets.load_from_disk(str(path))
            elif sorted((path / "data").glob("*.parquet")):
                files = {f.stem: str(f) for f in sorted((path / "data").glob("*.parquet"))}
                check_parquet(files.values())  # a corrupt file: one line naming it
                loaded = datasets.load_dataset("parquet", data_files=files)
            else:
                raise Mem1InputError(f"{path}: no composed dataset (expected arrow/ or data/*.parquet)")
        except (pa.ArrowException, DatasetGenerationError, OSError) as err:  # damaged beyond the footer
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise Mem1InputError(f"{path}: cannot read the composed dataset ({first})") from err
    elif is_local_spec(str(dir_or_hub_id)):
        raise Mem1InputError(f"not found: {path}")
    else:
        try:
            loaded = datasets.load_dataset(str(dir_or_hub_id))
        except Exception as err:  # the Hub raises many types; the user needs one line
            first = (str(err).strip().splitlines() or [""])[0]
            raise Mem1InputError(
                f"cannot load {dir_or_hub_id!r}: there is no such folder here ({path.resolve()}; "
                f"make one with `mem1 compose --out {dir_or_hub_id}`), and as a Hub id: "
                f"{type(err).__name__}: {first}"
            ) from err
    if split is None:
        return loaded
    if split not in loaded:
        raise Mem1InputError(f"{dir_or_hub_id}: no split {split!r} (has {', '.join(loaded)})")
    return loaded[split]


# ----------------------------------------------------------------------------- the CLI


def parse_source(text: str) -> tuple[str, str]:
    """``NAME=PATH_OR_HUB_ID`` -> ``(name, spec)``.

    Example:
        >>> parse_source("nq=data/NQ-open.dev.jsonl")
        ('nq', 'data/NQ-open.dev.jsonl')
    """
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise Mem1InputError(f"--source {text!r}: expected NAME=PATH_OR_HUB_ID, e.g. hotpotqa=hotpot_qa")
    return name.strip(), spec.strip()


def parse_split(text: str) -> tuple[str, float]:
    """``NAME=FRACTION`` -> ``(name, fraction)``.

    Example:
        >>> parse_split("test=0.1")
        ('test', 0.1)
    """
    name, sep, value = text.partition("=")
    try:
        fraction = float(value)
    except ValueError:
        fraction = None
    if not sep or not name.strip() or fraction is None:
        raise Mem1InputError(f"--split {text!r}: expected NAME=FRACTION, e.g. test=0.1")
    return name.strip(), fraction


def _cmd_compose(args: argparse.Namespace) -> None:
    sources = [parse_source(s) for s in args.source]
    splits = {"splits": dict(parse_split(s) for s in args.split)} if args.split else {}
    # the flags are named after ComposeConfig's fields; its defaults are the flags' defaults
    names = [f.name for f in fields(ComposeConfig) if f.name not in ("splits", "ability")]
    config = ComposeConfig(**{name: getattr(args, name) for name in names}, **splits)
    out = check_out_dir(args.out, args.overwrite)  # fail before the slow part
    field_map = field_map_from_args(args)
    command = command_line(sources, config, out=out.name, fields=field_map)
    result = compose(sources, config, command=command, fields=field_map)
    write_composed(result, out, overwrite=args.overwrite)
    counts = ", ".join(f"{split} {n}" for split, n in result.manifest["counts"].items())
    corpus = result.manifest["corpus"]
    extra = (
        f"; corpus: {corpus['passages']} passages" if corpus else "; no corpus (no local source has passages)"
    )
    skipped = [s for s in result.manifest["sources"] if s.get("skipped_without_passages")]
    if skipped:
        each = ", ".join(f"{s['name']} {s['skipped_without_passages']}" for s in skipped)
        first = skipped[0]["first_skipped"]
        extra += f"; skipped records without passages: {each} (first: {first}; --strict refuses them)"
    print(f"wrote {config.objectives}-objective tasks ({counts}) to {out}{extra}")


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mem1 compose`` to the ``mem1`` command line (see ``mem1_hf.cli.PLUGINS``).

    Example:
        >>> parser = argparse.ArgumentParser(prog="mem1")
        >>> _ = register_cli(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["compose", "--source", "nq=nq.jsonl", "--out", "o"]).objectives
        2
    """
    parser = subparsers.add_parser(
        "compose",
        help="compose N-objective tasks from QA datasets",
        description="Compose N-objective MEM1 tasks from single-question QA datasets "
        "(local HotpotQA, 2WikiMultihopQA, MuSiQue, NQ files, any question+answers JSON/JSONL, any "
        "other layout with the --*-field flags, or Hub ids).",
    )
    parser.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="NAME=PATH_OR_HUB_ID",
        help="a source, e.g. hotpotqa=hotpotqa_dev_500.ircot.jsonl, nq=NQ-open.dev.jsonl, "
        "hotpotqa=hotpot_qa (Hub; ID[:CONFIG][@SPLIT]); repeatable",
    )
    defaults = ComposeConfig()
    parser.add_argument(
        "--objectives",
        type=int,
        default=defaults.objectives,
        help=f"questions per task (default {defaults.objectives})",
    )
    parser.add_argument("--mix", action="store_true", help="group questions across sources")
    parser.add_argument(
        "--split",
        action="append",
        metavar="NAME=FRACTION",
        help="a split and its fraction of each source's questions, the rest is train (repeatable; default "
        + " ".join(f"{name}={fraction:g}" for name, fraction in defaults.splits.items())
        + ")",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--limit", type=int, default=defaults.limit, help="use only the first N questions of each source"
    )
    parser.add_argument("--prompt-profile", choices=QA_PROFILES, default=defaults.prompt_profile)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous composition in --out")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse a record without passages in a layout that carries them (default: skip it and "
        "its question, counted in the summary)",
    )
    add_field_args(parser)
    parser.set_defaults(func=_cmd_compose)
    return parser
