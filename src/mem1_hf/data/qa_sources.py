"""Single-question QA sources: one loader per file format, one record type (:class:`QARecord`).

Local formats (detected by content, plain or gzip):

* ``hotpotqa`` — HotpotQA's original JSON list (``_id``, ``question``, ``answer``,
  ``supporting_facts``, ``context``); also one such record per line.
* ``2wikimultihopqa`` — 2WikiMultihopQA: HotpotQA's layout plus ``type`` and ``evidences``,
  as a JSON list or one record per line.
* ``musique`` — MuSiQue JSONL (``id``, ``question``, ``answer``, ``answer_aliases`` — kept as
  gold answers too —, ``paragraphs[].is_supporting``, ``answerable``; unanswerable records
  of MuSiQue-Full are skipped: they have no gold answer to score).
* ``hotpotqa_ircot`` — IRCoT JSONL (``question_id``, ``question_text``, answers in
  ``answers_objects[].spans``, ``contexts[].is_supporting``).
* ``nq_oracle`` — NQ-open with gold passages (``question``, ``answers``, ``ctxs[].isgold``).
* ``qa_jsonl`` / ``qa_json`` — any JSONL (or JSON list) with ``question`` and ``answers`` /
  ``golden_answers`` / ``answer`` (a string or a list), e.g. NQ-open's ``NQ-open.dev.jsonl``.
* any other JSON / JSONL layout with a :class:`~mem1_hf.data.fields.FieldMap`
  (``--question-field``, ``--answers-field``, ``--id-field``).

A source spec that is not a local path is a Hub dataset, loaded with ``datasets.load_dataset``:
``ID[:CONFIG][@SPLIT]``, e.g. ``hotpot_qa`` (the ``distractor`` config, ``train`` split) or
``nq_open@validation``.

Records without an id get a stable one from their question text, so composed task ids do not
depend on file order.

Example:
    >>> records = load_source("hotpotqa", "hotpotqa_train_100.json", limit=2)  # doctest: +SKIP
    >>> records[0].question, records[0].answers  # doctest: +SKIP
    ('If Gallu is a demon Lilu is what?', ['a spirit'])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from mem1_hf.data.fields import FieldMap, get_field, layouts_message
from mem1_hf.data.files import first_line, iter_jsonl, load_json
from mem1_hf.errors import Mem1InputError

#: local QA file formats recognised by :func:`detect_qa_format`
QA_FORMATS = ("hotpotqa", "2wikimultihopqa", "hotpotqa_ircot", "musique", "nq_oracle", "qa_jsonl", "qa_json")

#: formats whose records carry their passages, so a retrieval corpus can be built from the file
FORMATS_WITH_PASSAGES = ("hotpotqa", "2wikimultihopqa", "hotpotqa_ircot", "musique", "nq_oracle")

#: the field holding a record's passages, per format with passages
PASSAGE_FIELDS = {
    "hotpotqa": "context",
    "2wikimultihopqa": "context",
    "hotpotqa_ircot": "contexts",
    "musique": "paragraphs",
    "nq_oracle": "ctxs",
}

# Hub datasets with a known default config and split (any other id works with ID[:CONFIG][@SPLIT])
HUB_DEFAULTS: dict[str, tuple[str | None, str]] = {
    "hotpot_qa": ("distractor", "train"),
    "hotpotqa/hotpot_qa": ("distractor", "train"),
    "nq_open": (None, "train"),
    "google-research-datasets/nq_open": (None, "train"),
}

_LOCAL_SUFFIXES = (".json", ".jsonl", ".gz")
_ID_KEYS = ("id", "_id", "question_id", "qid", "example_id")
_ANSWER_KEYS = ("answers", "golden_answers", "answer")


@dataclass
class QARecord:
    """One question of a single-question QA dataset.

    Args:
        source: the source's name (``hotpotqa``, ``nq``, … as given on the command line).
        id: the question's id in its dataset (or ``q-<hash of the question>`` when it has none).
        question: the question text.
        answers: the acceptable gold answers (at least one).
        gold_titles: titles of the gold (supporting) paragraphs, when the format names them.
    """

    source: str
    id: str
    question: str
    answers: list[str]
    gold_titles: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """``source:id``, unique across the sources of one composition."""
        return f"{self.source}:{self.id}"


def question_id(question: str) -> str:
    """A stable id for a question that has none: ``q-`` and 16 hex digits of its SHA-1.

    Example:
        >>> question_id("who wrote hamlet")
        'q-cbe6166488de689e'
    """
    return "q-" + hashlib.sha1(" ".join(question.split()).encode("utf-8")).hexdigest()[:16]


# ----------------------------------------------------------------------------- fields


def _question(record: dict[str, Any], key: str, where: str) -> str:
    question = record.get(key)
    if not isinstance(question, str) or not question.strip():
        raise Mem1InputError(f'{where}: field "{key}" must be a non-empty string')
    return " ".join(question.split())


def _answer_list(value: Any, where: str, key: str) -> list[str]:
    if isinstance(value, dict) and "text" in value:  # SQuAD-style {"text": [...], ...}
        value = value["text"]
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in value
    ):
        raise Mem1InputError(f'{where}: field "{key}" must be a string or a list of strings')
    answers = [str(a).strip() for a in value if str(a).strip()]
    if not answers:
        raise Mem1InputError(f'{where}: field "{key}" has no non-empty gold answer')
    return list(dict.fromkeys(answers))  # keep order, drop repeats


def _record_id(record: dict[str, Any], question: str) -> str:
    for key in _ID_KEYS:
        value = record.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return question_id(question)


def _titles(titles: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(t) for t in titles))


# ----------------------------------------------------------------------------- one converter per format


def hotpotqa_record(record: dict[str, Any], source: str, where: str) -> QARecord:
    """Convert one HotpotQA record (original or Hub ``hotpot_qa`` layout)."""
    question = _question(record, "question", where)
    facts = record.get("supporting_facts", [])
    try:
        if isinstance(facts, dict):  # Hub layout: {"title": [...], "sent_id": [...]}
            titles = _titles(facts["title"])
        else:
            titles = _titles(title for title, _ in facts)
    except (KeyError, TypeError, ValueError) as err:
        raise Mem1InputError(f'{where}: malformed "supporting_facts" ({type(err).__name__})') from err
    return QARecord(
        source=source,
        id=_record_id(record, question),
        question=question,
        answers=_answer_list(record.get("answer"), where, "answer"),
        gold_titles=titles,
    )


def hotpotqa_ircot_record(record: dict[str, Any], source: str, where: str) -> QARecord:
    """Convert one IRCoT record: the answers are the ``spans`` of ``answers_objects``."""
    question = _question(record, "question_text", where)
    objects = record.get("answers_objects")
    if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
        raise Mem1InputError(f'{where}: field "answers_objects" must be a list of objects')
    answers: list[Any] = []
    for obj in objects:
        spans = obj.get("spans") or []
        if spans:
            answers.extend(spans)
        elif str(obj.get("number", "")).strip():
            answers.append(obj["number"])
        else:  # DROP-style date answers: keep the non-empty parts in day month year order
            date = obj.get("date") or {}
            text = " ".join(str(date.get(k, "")).strip() for k in ("day", "month", "year")).strip()
            if text:
                answers.append(" ".join(text.split()))
    contexts = record.get("contexts") or []
    titles = _titles(c.get("title", "") for c in contexts if isinstance(c, dict) and c.get("is_supporting"))
    return QARecord(
        source=source,
        id=_record_id(record, question),
        question=question,
        answers=_answer_list(answers, where, "answers_objects"),
        gold_titles=titles,
    )


def qa_record(record: dict[str, Any], source: str, where: str) -> QARecord:
    """Convert a generic ``{question, answers|golden_answers|answer}`` record (NQ-open, oracle, …)."""
    question = _question(record, "question", where)
    key = next((k for k in _ANSWER_KEYS if k in record), None)
    if key is None:
        raise Mem1InputError(
            f'{where}: no gold answers (expected a field "answers", "golden_answers" or "answer")'
        )
    ctxs = record.get("ctxs") or []
    titles = _titles(c.get("title", "") for c in ctxs if isinstance(c, dict) and c.get("isgold"))
    return QARecord(
        source=source,
        id=_record_id(record, question),
        question=question,
        answers=_answer_list(record[key], where, key),
        gold_titles=titles,
    )


def musique_record(record: dict[str, Any], source: str, where: str) -> QARecord | None:
    """Convert one MuSiQue record: ``answer`` plus ``answer_aliases``; None when unanswerable."""
    if record.get("answerable") is False:
        return None
    question = _question(record, "question", where)
    aliases = record.get("answer_aliases") or []
    if not isinstance(aliases, list):
        raise Mem1InputError(f'{where}: field "answer_aliases" must be a list of strings')
    answer = record.get("answer")
    if not isinstance(answer, str):
        raise Mem1InputError(f'{where}: field "answer" must be a string')
    paragraphs = record.get("paragraphs") or []
    titles = _titles(p.get("title", "") for p in paragraphs if isinstance(p, dict) and p.get("is_supporting"))
    return QARecord(
        source=source,
        id=_record_id(record, question),
        question=question,
        answers=_answer_list([answer, *aliases], where, "answer"),
        gold_titles=titles,
    )


def mapped_record(fields: FieldMap) -> Callable[[dict[str, Any], str, str], QARecord]:
    """A converter for a user-described layout (``--question-field``, ``--answers-field``, ...)."""
    question_key = fields.question or "question"

    def convert(record: dict[str, Any], source: str, where: str) -> QARecord:
        value = get_field(record, question_key)
        if not isinstance(value, str) or not value.strip():
            raise Mem1InputError(
                f'{where}: field "{question_key}" must be a non-empty string (--question-field)'
            )
        question = " ".join(value.split())
        keys = [fields.answers] if fields.answers else list(_ANSWER_KEYS)
        key = next((k for k in keys if get_field(record, k) is not None), None)
        if key is None:
            raise Mem1InputError(f"{where}: no gold answers in field {' / '.join(keys)} (--answers-field)")
        record_id = get_field(record, fields.id) if fields.id else None
        if fields.id and (record_id is None or not str(record_id).strip()):
            raise Mem1InputError(f'{where}: no id in field "{fields.id}" (--id-field)')
        return QARecord(
            source=source,
            id=str(record_id).strip() if fields.id else _record_id(record, question),
            question=question,
            answers=_answer_list(get_field(record, key), where, key),
        )

    return convert


_CONVERTERS: dict[str, Callable[[dict[str, Any], str, str], QARecord | None]] = {
    "hotpotqa": hotpotqa_record,
    "2wikimultihopqa": hotpotqa_record,
    "hotpotqa_ircot": hotpotqa_ircot_record,
    "musique": musique_record,
    "nq_oracle": qa_record,
    "qa_jsonl": qa_record,
    "qa_json": qa_record,
}


# ----------------------------------------------------------------------------- local files


def _record_qa_format(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    if "question_text" in record and "answers_objects" in record:
        return "hotpotqa_ircot"
    if "ctxs" in record and "question" in record:
        return "nq_oracle"
    if "paragraphs" in record and "question" in record:
        return "musique"
    if "evidences" in record and "question" in record:
        return "2wikimultihopqa"
    if ("context" in record or "supporting_facts" in record) and "question" in record:
        return "hotpotqa"
    if "question" in record:
        return "qa_jsonl"
    return None


def _unknown(path: str | Path) -> Mem1InputError:
    return Mem1InputError(f"{path}: unknown QA layout; {layouts_message()}")


def detect_qa_format(path: str | Path) -> str:
    """Name the QA format of a local file by its content: one of :data:`QA_FORMATS`.

    Example:
        >>> detect_qa_format("NQ-open.dev.jsonl")  # doctest: +SKIP
        'qa_jsonl'
    """
    first = first_line(path)
    try:
        fmt = _record_qa_format(json.loads(first))
    except json.JSONDecodeError:
        fmt = None  # a pretty-printed JSON document (or a broken first line)
    if fmt is not None:
        return fmt
    if not first.startswith("["):
        raise _unknown(path)
    data = load_json(path)
    head = data[0] if isinstance(data, list) and data else None
    fmt = _record_qa_format(head)
    if fmt is None:
        raise _unknown(path)
    return "qa_json" if fmt == "qa_jsonl" else fmt


def _numbered(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, record)`` pairs: ``file:line`` for JSON lines, ``file: record k`` for a JSON list."""
    first = first_line(path)
    if first.startswith("["):
        data = load_json(path)
        for number, record in enumerate(data, start=1):
            where = f"{path}: record {number}"
            if not isinstance(record, dict):
                raise Mem1InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
            yield where, record
    else:
        for lineno, record in iter_jsonl(path):
            yield f"{path}:{lineno}", record


def _load(
    path: str | Path,
    fmt: str,
    source: str | None,
    limit: int | None,
    fields: FieldMap | None = None,
    without_passages: list[str] | None = None,
) -> list[QARecord]:
    convert = mapped_record(fields) if fields is not None and fields.for_qa else _CONVERTERS[fmt]
    name = source or default_source_name(path, fmt)
    # the first `limit` records, counted before any is skipped: the corpus reads the same ones
    rows = islice(_numbered(path), limit)
    key = PASSAGE_FIELDS.get(fmt) if without_passages is not None else None
    if key is not None:
        rows = _with_passages(rows, key, without_passages)
    converted = (convert(record, name, where) for where, record in rows)
    return dedup_records(r for r in converted if r is not None)


def _with_passages(
    rows: Iterable[tuple[str, dict[str, Any]]], key: str, skipped: list[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, record in rows:
        if key in record:
            yield where, record
        else:
            skipped.append(where)


def load_hotpotqa(path: str | Path, source: str = "hotpotqa", limit: int | None = None) -> list[QARecord]:
    """Load HotpotQA's original JSON list (or JSON lines of such records).

    Example:
        >>> load_hotpotqa("hotpotqa_train_100.json")[0].gold_titles  # doctest: +SKIP
        ['Alû', 'Lilu (mythology)']
    """
    return _load(path, "hotpotqa", source, limit)


def load_hotpotqa_ircot(
    path: str | Path, source: str = "hotpotqa", limit: int | None = None
) -> list[QARecord]:
    """Load IRCoT's HotpotQA JSONL (answers from ``answers_objects[].spans``).

    Example:
        >>> load_hotpotqa_ircot("hotpotqa_dev_500.ircot.jsonl")[0].answers  # doctest: +SKIP
        ['Chief of Protocol']
    """
    return _load(path, "hotpotqa_ircot", source, limit)


def load_nq_oracle(path: str | Path, source: str = "nq", limit: int | None = None) -> list[QARecord]:
    """Load NQ-open with gold passages (``answers``, ``ctxs[].isgold``; gzip or plain).

    Example:
        >>> load_nq_oracle("nq_open_oracle_2000.jsonl.gz")[0].gold_titles  # doctest: +SKIP
        ['List of Nobel laureates in Physics']
    """
    return _load(path, "nq_oracle", source, limit)


def load_qa_jsonl(path: str | Path, source: str | None = None, limit: int | None = None) -> list[QARecord]:
    """Load JSON lines (or a JSON list) with ``question`` and ``answers``/``golden_answers``/``answer``.

    Example:
        >>> load_qa_jsonl("NQ-open.dev.jsonl", source="nq")[0].answers  # doctest: +SKIP
        ['14 December 1972 UTC', 'December 1972']
    """
    return _load(path, "qa_jsonl", source, limit)


def default_source_name(path: str | Path, fmt: str) -> str:
    """A source name for a file given without one: by format, else the file's stem."""
    if fmt.startswith("hotpotqa"):
        return "hotpotqa"
    if fmt == "nq_oracle":
        return "nq"
    if fmt in ("2wikimultihopqa", "musique"):
        return fmt
    return Path(path).name.split(".")[0]


def read_qa_file(
    path: str | Path,
    source: str | None = None,
    limit: int | None = None,
    fields: FieldMap | None = None,
    *,
    without_passages: list[str] | None = None,
) -> list[QARecord]:
    """Load any supported local QA file, detecting its format by content.

    ``limit`` keeps the first N records of the file (before duplicates are dropped), the same
    questions whose passages :func:`mem1_hf.data.build_corpus` reads with ``max_questions=N``.
    ``fields`` (question / answers / id) reads a layout that is not detected. Given a list
    ``without_passages``, records of a format with passages that lack them (:data:`PASSAGE_FIELDS`)
    are left out and their ``file:line`` appended, as :func:`~mem1_hf.data.build_corpus` skips them.

    Example:
        >>> len(read_qa_file("hotpotqa_dev_500.ircot.jsonl", limit=10))  # doctest: +SKIP
        10
    """
    if limit is not None and limit < 1:
        raise Mem1InputError(f"limit must be >= 1, got {limit}")
    if fields is not None and fields.for_qa:
        first_line(path)  # a missing or empty file is one clear error
        return _load(path, "mapped", source, limit, fields)
    return _load(path, detect_qa_format(path), source, limit, without_passages=without_passages)


def dedup_records(records: Iterable[QARecord]) -> list[QARecord]:
    """Drop repeated records (same id and question); two questions under one id are an error."""
    seen: dict[str, QARecord] = {}
    for record in records:
        first = seen.setdefault(record.id, record)
        if first is not record and first.question != record.question:
            raise Mem1InputError(
                f"source {record.source!r}: id {record.id!r} is used by two different questions"
            )
    return list(seen.values())


# ----------------------------------------------------------------------------- the Hub


def is_local_spec(spec: str | Path) -> bool:
    """Whether a source spec names a local file (it exists or looks like a file path).

    Example:
        >>> is_local_spec("hotpot_qa"), is_local_spec("data/train.jsonl")
        (False, True)
    """
    text = str(spec)
    return (
        Path(text).expanduser().exists() or text.endswith(_LOCAL_SUFFIXES) or text.startswith((".", "/", "~"))
    )


def parse_hub_spec(spec: str) -> tuple[str, str | None, str]:
    """Split ``ID[:CONFIG][@SPLIT]`` into ``(id, config, split)`` with known defaults.

    Example:
        >>> parse_hub_spec("hotpot_qa")
        ('hotpot_qa', 'distractor', 'train')
        >>> parse_hub_spec("nq_open@validation")
        ('nq_open', None, 'validation')
    """
    rest, _, split = spec.partition("@")
    hub_id, _, config = rest.partition(":")
    default_config, default_split = HUB_DEFAULTS.get(hub_id, (None, "train"))
    if not hub_id:
        raise Mem1InputError(f"bad Hub source {spec!r}: expected ID[:CONFIG][@SPLIT]")
    return hub_id, config or default_config, split or default_split


def load_hub(spec: str, source: str, limit: int | None = None) -> list[QARecord]:
    """Load a Hub dataset (``ID[:CONFIG][@SPLIT]``) with ``datasets.load_dataset``.

    Rows in HotpotQA's layout (``supporting_facts``) or with ``question`` + answers work.

    Example:
        >>> records = load_hub("hotpot_qa@validation", source="hotpotqa", limit=100)  # doctest: +SKIP
    """
    import datasets

    hub_id, config, split = parse_hub_spec(spec)
    if limit is not None:
        split = f"{split}[:{limit}]"
    try:
        rows = datasets.load_dataset(hub_id, config, split=split)
    except Exception as err:  # the Hub raises many types; the user needs one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise Mem1InputError(f"cannot load Hub dataset {spec!r}: {type(err).__name__}: {first}") from err
    records = []
    for number, row in enumerate(rows, start=1):
        where = f"{hub_id}[{split}] row {number}"
        convert = hotpotqa_record if "supporting_facts" in row else qa_record
        records.append(convert(row, source, where))
    return dedup_records(records)


def load_source(
    source: str,
    spec: str | Path,
    limit: int | None = None,
    fields: FieldMap | None = None,
    *,
    without_passages: list[str] | None = None,
) -> list[QARecord]:
    """Load a named source from a local file or, when ``spec`` is not a local path, the Hub.

    ``without_passages``: see :func:`read_qa_file` (local files only).

    Example:
        >>> load_source("nq", "NQ-open.dev.jsonl", limit=3)[2].answers  # doctest: +SKIP
        ['one', 'one season']
        >>> load_source("hotpotqa", "hotpot_qa", limit=1000)  # from the Hub  # doctest: +SKIP
    """
    if not source or any(ch in source for ch in "=:;/ "):
        raise Mem1InputError(f"bad source name {source!r}: use letters, digits, '_', '-' or '.'")
    if limit is not None and limit < 1:
        raise Mem1InputError(f"limit must be >= 1, got {limit}")
    if is_local_spec(spec):
        return read_qa_file(
            Path(spec).expanduser(),
            source=source,
            limit=limit,
            fields=fields,
            without_passages=without_passages,
        )
    return load_hub(str(spec), source=source, limit=limit)
