"""Retrieval corpora: read, validate, write, and build them from QA datasets.

The corpus format is Search-R1 / FlashRAG / MEM1 JSONL, one passage per line:
``{"id": "0", "contents": "\\"Title\\"\\ntext"}`` (the first line of ``contents`` is the
title in double quotes, as in wiki-18). Builders turn the context paragraphs of a QA dataset
into such a corpus: ids are ``"0"``, ``"1"``, ... in order of first appearance (stable for the
same input), and a passage that occurs in several questions is kept once.

Example:
    >>> from mem1_hf.data.corpus import build_corpus, write_corpus, read_corpus
    >>> docs = build_corpus("hotpotqa_dev_500.ircot.jsonl")  # doctest: +SKIP
    >>> write_corpus(docs, "hotpot_corpus.jsonl")  # doctest: +SKIP
    >>> read_corpus("hotpot_corpus.jsonl")[0].title  # doctest: +SKIP
    '"Meet Corliss Archer"'
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mem1_hf.data.documents import Document
from mem1_hf.data.fields import FieldMap, get_field, layouts_message
from mem1_hf.data.files import first_line, iter_jsonl, load_json
from mem1_hf.data.qa_sources import PASSAGE_FIELDS
from mem1_hf.errors import Mem1InputError

#: format names returned by :func:`detect_format`
FORMATS = (
    "corpus",
    "passages",
    "hotpotqa",
    "2wikimultihopqa",
    "hotpotqa_ircot",
    "hotpotqa_titles",
    "musique",
    "nq_oracle",
)

# IRCoT joined HotpotQA sentences with " " although each sentence after the first already
# starts with its own space, leaving two spaces at sentence boundaries. Folding exactly that
# gap gives back the original paragraph text (checked on HotpotQA: 974 of 994 paragraphs
# identical, the rest differ by one space), so the same paragraph dedups across formats.
_IRCOT_SENTENCE_GAP = re.compile(r"(?<=\S)  (?=\S)")


def format_contents(title: str, text: str) -> str:
    """Return the corpus ``contents`` field: the title in double quotes, a newline, the text.

    Example:
        >>> format_contents("Paris", "Paris is the capital of France.")
        '"Paris"\\nParis is the capital of France.'
    """
    return f'"{title.strip()}"\n{text.strip()}'


# ----------------------------------------------------------------------------- corpus JSONL


def _record_to_document(path: str | Path, lineno: int, record: dict[str, Any]) -> Document:
    doc_id = record.get("id")
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)) or str(doc_id) == "":
        raise Mem1InputError(f'{path}:{lineno}: field "id" must be a non-empty string or integer')
    contents = record.get("contents")
    if contents is None and isinstance(record.get("text"), str):
        # DPR-style rows ({"id", "title", "text"}) carry the same information
        contents = format_contents(str(record.get("title", "")), record["text"])
    if not isinstance(contents, str) or not contents.strip():
        raise Mem1InputError(f'{path}:{lineno}: field "contents" must be a non-empty string')
    return Document(id=str(doc_id), contents=contents)


def read_corpus(path: str | Path) -> list[Document]:
    """Read a corpus JSONL file (plain or gzip) and validate every line.

    Raises :class:`~mem1_hf.errors.Mem1InputError` naming the file and the 1-based line for
    malformed JSON, a missing or invalid ``id`` / ``contents``, or a duplicate id.

    Example:
        >>> docs = read_corpus("nq_gold_passages.corpus.jsonl")  # doctest: +SKIP
        >>> docs[0].id, docs[0].title  # doctest: +SKIP
        ('0', '"List of Nobel laureates in Physics"')
    """
    docs: list[Document] = []
    first_line: dict[str, int] = {}
    for lineno, record in iter_jsonl(path):
        doc = _record_to_document(path, lineno, record)
        if doc.id in first_line:
            raise Mem1InputError(
                f"{path}:{lineno}: duplicate id {doc.id!r} (first seen on line {first_line[doc.id]})"
            )
        first_line[doc.id] = lineno
        docs.append(doc)
    if not docs:
        raise Mem1InputError(f"{path}: the corpus is empty (expected one JSON object per line)")
    return docs


def write_corpus(docs: Iterable[Document], path: str | Path) -> Path:
    """Write documents as corpus JSONL (gzip-compressed if ``path`` ends in ``.gz``).

    Example:
        >>> write_corpus([Document("0", '"Paris"\\nCapital of France.')], "c.jsonl")  # doctest: +SKIP
        PosixPath('c.jsonl')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps({"id": doc.id, "contents": doc.contents}, ensure_ascii=False) + "\n")
    return path


def dedup_documents(passages: Iterable[tuple[str, str]]) -> list[Document]:
    """Turn ``(title, text)`` pairs into documents with ids ``"0"..`` in first-seen order.

    Empty texts are skipped; a passage seen again (same title and text) is kept once.

    Example:
        >>> [d.id for d in dedup_documents([("A", "x"), ("B", "y"), ("A", "x")])]
        ['0', '1']
    """
    seen: dict[str, None] = {}
    for title, text in passages:
        if text.strip():
            seen.setdefault(format_contents(title, text))
    return [Document(id=str(i), contents=contents) for i, contents in enumerate(seen)]


# ----------------------------------------------------------------------------- HotpotQA


def _hotpot_context(record: dict[str, Any], separator: str = "") -> Iterator[tuple[str, str]]:
    """Paragraphs of one HotpotQA question, original (list or HF ``datasets``) layout."""
    context = record["context"]
    if isinstance(context, dict):  # HF `hotpot_qa`: {"title": [...], "sentences": [[...]]}
        context = zip(context["title"], context["sentences"], strict=True)
    for title, sentences in context:
        if separator:
            yield str(title), separator.join(s.strip() for s in sentences if s.strip())
        else:  # HotpotQA: each sentence after the first carries its own leading space
            yield str(title), "".join(sentences)


def _2wiki_context(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    # 2WikiMultihopQA's sentences carry no leading space ("...in 1950.", "He was..."): join with one
    return _hotpot_context(record, separator=" ")


def _ircot_context(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for paragraph in record["contexts"]:
        yield str(paragraph["title"]), _IRCOT_SENTENCE_GAP.sub(" ", paragraph["paragraph_text"])


def _numbered_records(path: str | Path, data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(where, record)``: ``file:line`` for JSON lines (``data`` None), a record number otherwise."""
    if data is None:
        for lineno, record in iter_jsonl(path):
            yield f"{path}:{lineno}", record
        return
    for number, record in enumerate(data, start=1):
        where = f"{path}: record {number}"
        if not isinstance(record, dict):
            raise Mem1InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
        yield where, record


def _musique_context(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for paragraph in record["paragraphs"]:
        yield str(paragraph["title"]), paragraph["paragraph_text"]


_EXTRACTORS = {
    "hotpotqa": _hotpot_context,
    "2wikimultihopqa": _2wiki_context,
    "hotpotqa_ircot": _ircot_context,
    "musique": _musique_context,
}
#: the field holding each QA format's paragraphs, named when a record lacks it
_CONTEXT_FIELD = PASSAGE_FIELDS


def _skip_or_refuse(where: str, key: str, strict: bool, skipped: list[str]) -> None:
    """A record without its passages: the error under ``strict``, else noted and skipped."""
    if strict:
        raise Mem1InputError(f'{where}: the record has no "{key}" (its paragraphs), so no passages to index')
    skipped.append(where)


def _report_skipped(path: str | Path, fmt: str, skipped: list[str], collect: list[str] | None) -> None:
    if collect is not None:
        collect.extend(skipped)
    elif skipped:  # nobody collects them: say so rather than drop records silently
        print(
            f'note: {path}: skipped {len(skipped)} record(s) without "{PASSAGE_FIELDS[fmt]}" (no '
            f"passages; first: {skipped[0]}); strict=True refuses them",
            file=sys.stderr,
        )


def _hotpot_passages(
    path: str | Path,
    fmt: str,
    data: Any,
    max_questions: int | None,
    strict: bool = True,
    skipped: list[str] | None = None,
) -> Iterator[tuple[str, str]]:
    if fmt == "hotpotqa_titles":
        try:
            yield from ((str(title), "".join(sentences)) for title, sentences in data.items())
        except TypeError as err:
            raise Mem1InputError(f"{path}: expected {{title: [sentences]}} ({err})") from err
        return
    extract = _EXTRACTORS[fmt]
    key = _CONTEXT_FIELD[fmt]
    for count, (where, record) in enumerate(_numbered_records(path, data)):
        if max_questions is not None and count >= max_questions:
            return
        if key not in record:  # e.g. another release's records, mixed into one file
            _skip_or_refuse(where, key, strict, skipped if skipped is not None else [])
            continue
        try:
            yield from extract(record)
        except (KeyError, TypeError, ValueError) as err:
            raise Mem1InputError(f'{where}: malformed "{key}" ({type(err).__name__}: {err})') from err


def corpus_from_hotpotqa(path: str | Path, max_questions: int | None = None) -> list[Document]:
    """Build a corpus from the context paragraphs of a HotpotQA file.

    Accepts the original JSON list or JSON lines (``context: [[title, [sentences]]]``, also HF's
    ``{"title", "sentences"}`` layout; 2WikiMultihopQA uses the same), IRCoT's JSONL
    (``contexts: [{title, paragraph_text}]``) and a ``{title: [sentences]}`` corpus JSON
    (``max_questions`` does not apply to the latter). Sentences are joined as the paragraph reads.

    Example:
        >>> docs = corpus_from_hotpotqa("hotpotqa_train_100.json")  # doctest: +SKIP
        >>> len(docs)  # doctest: +SKIP
        994
    """
    fmt, data = _detect(path)
    if fmt not in ("hotpotqa", "2wikimultihopqa", "hotpotqa_ircot", "hotpotqa_titles"):
        raise Mem1InputError(f"{path}: not a HotpotQA file (detected format {fmt!r})")
    return dedup_documents(_hotpot_passages(path, fmt, data, max_questions))


# ----------------------------------------------------------------------------- NQ


def corpus_from_nq_oracle(
    path: str | Path,
    max_questions: int | None = None,
    *,
    strict: bool = True,
    skipped: list[str] | None = None,
) -> list[Document]:
    """Build a corpus from the gold passages of an NQ-open oracle file (gzip or plain JSONL).

    Each line is ``{"question", "answers", "ctxs": [{title, text, isgold, ...}]}`` (the
    lost-in-the-middle / DPR layout); passages with ``isgold`` false are left out. A record
    with no ``ctxs`` is an error under ``strict``, else its ``file:line`` goes to ``skipped``.

    Example:
        >>> docs = corpus_from_nq_oracle("nq_open_oracle_2000.jsonl.gz")  # doctest: +SKIP
        >>> len(docs)  # doctest: +SKIP
        1967
    """

    def passages() -> Iterator[tuple[str, str]]:
        for count, (lineno, record) in enumerate(iter_jsonl(path)):
            if max_questions is not None and count >= max_questions:
                return
            if "ctxs" not in record:
                _skip_or_refuse(f"{path}:{lineno}", "ctxs", strict, skipped if skipped is not None else [])
                continue
            ctxs = record["ctxs"]
            if not isinstance(ctxs, list):
                raise Mem1InputError(f'{path}:{lineno}: expected a "ctxs" list of passages')
            for ctx in ctxs:
                if not isinstance(ctx, dict) or not isinstance(ctx.get("text"), str):
                    raise Mem1InputError(f'{path}:{lineno}: each ctx needs "title" and "text" strings')
                if ctx.get("isgold", True):
                    yield str(ctx.get("title", "")), ctx["text"]

    return dedup_documents(passages())


# ----------------------------------------------------------------------------- field mapping


def _text(value: Any) -> str:
    if isinstance(value, list):  # sentences
        return "".join(str(v) for v in value)
    return "" if value is None else str(value)


def _mapped_passages(
    path: str | Path, data: Any, fields: FieldMap, max_questions: int | None
) -> Iterator[tuple[str, str]]:
    """Passages of a user-described layout: a list per record (``passages``) or one per record."""
    title_key, text_key = fields.title or "title", fields.text
    for count, (where, record) in enumerate(_numbered_records(path, data)):
        if fields.passages is None:  # one passage per record
            text = get_field(record, text_key) if text_key else None
            if text is None:
                raise Mem1InputError(f'{where}: no field "{text_key}" (--text-field)')
            yield _text(get_field(record, title_key)), _text(text)
            continue
        if max_questions is not None and count >= max_questions:
            return
        items = get_field(record, fields.passages)
        if not isinstance(items, list):
            raise Mem1InputError(f'{where}: field "{fields.passages}" (--passages-field) is not a list')
        for item in items:
            if isinstance(item, (list, tuple)) and len(item) == 2:  # HotpotQA-style [title, sentences]
                yield _text(item[0]), _text(item[1])
            elif isinstance(item, dict):
                keys = [text_key] if text_key else ["text", "paragraph_text", "contents", "sentences"]
                text = next((get_field(item, k) for k in keys if get_field(item, k) is not None), None)
                if text is None:
                    raise Mem1InputError(
                        f"{where}: a passage has no text field ({', '.join(keys)}; --text-field)"
                    )
                yield _text(get_field(item, title_key)), _text(text)
            else:
                raise Mem1InputError(f"{where}: a passage is neither an object nor a [title, text] pair")


# ----------------------------------------------------------------------------- detection


def _record_format(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    for key, fmt in (
        ("contents", "corpus"),
        ("contexts", "hotpotqa_ircot"),
        ("ctxs", "nq_oracle"),
        ("paragraphs", "musique"),
        ("evidences", "2wikimultihopqa"),
        ("context", "hotpotqa"),
        ("supporting_facts", "hotpotqa"),
    ):
        if key in record:
            return fmt
    if "text" in record and "question" not in record:
        return "passages"  # {id, title, text} lines or [{title, text}]
    return None


def _unknown_format(path: str | Path) -> Mem1InputError:
    return Mem1InputError(f"{path}: unknown layout; {layouts_message()}")


def _detect(path: str | Path) -> tuple[str, Any]:
    """Return ``(format, whole JSON document, or None for JSON lines)``."""
    first = first_line(path)
    try:
        head = json.loads(first)
    except json.JSONDecodeError:
        head = None  # a pretty-printed JSON document, or a broken first line
    fmt = _record_format(head)
    if fmt is not None:
        return fmt, None  # JSON lines
    if first[:1] not in "[{":
        raise _unknown_format(path)
    try:
        data = load_json(path)
    except Mem1InputError:
        if head is not None:  # JSON lines of an unknown kind, not a broken JSON document
            raise _unknown_format(path) from None
        raise
    if isinstance(data, list) and data:
        fmt = _record_format(data[0])
        if fmt is not None and fmt != "corpus":
            return fmt, data
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        return "hotpotqa_titles", data
    raise _unknown_format(path)


def detect_format(path: str | Path) -> str:
    """Name the format of a corpus or QA file by its content: one of :data:`FORMATS`.

    Example:
        >>> detect_format("nq_open_oracle_2000.jsonl.gz")  # doctest: +SKIP
        'nq_oracle'
    """
    return _detect(path)[0]


def _whole_or_lines(path: str | Path) -> Any:
    """A JSON list document, or ``None`` for JSON lines (for mapped layouts)."""
    first = first_line(path)
    if first.startswith("["):
        data = load_json(path)
        if isinstance(data, list):
            return data
    return None


def build_corpus(
    path: str | Path,
    max_questions: int | None = None,
    fields: FieldMap | None = None,
    *,
    strict: bool = False,
    skipped: list[str] | None = None,
) -> list[Document]:
    """Build (or read) a corpus from any supported file, detecting its format by content.

    ``fields`` (``--passages-field`` / ``--title-field`` / ``--text-field``) reads a layout
    that is not detected. Corpus JSONL keeps its ids; other layouts get ids ``"0"..``.

    A QA record without its passage field (``context``, ``contexts``, ``paragraphs``,
    ``ctxs``; e.g. another release's records mixed into a 2WikiMultihopQA file) is skipped:
    its ``file:line`` is appended to ``skipped``, or, when no list is given, one note on stderr
    counts them. ``strict=True`` refuses such a record instead (one error naming it).

    Example:
        >>> docs = build_corpus("nq_open_oracle_2000.jsonl.gz", max_questions=100)  # doctest: +SKIP
    """
    if max_questions is not None and max_questions < 1:
        raise Mem1InputError(f"max_questions must be >= 1, got {max_questions}")
    if fields is not None and fields.for_passages:
        docs = dedup_documents(_mapped_passages(path, _whole_or_lines(path), fields, max_questions))
    else:
        fmt, data = _detect(path)
        if fmt == "corpus" or (fmt == "passages" and data is None and "id" in json.loads(first_line(path))):
            return read_corpus(path)  # keeps the file's ids
        missing: list[str] = []
        if fmt == "nq_oracle":
            docs = corpus_from_nq_oracle(path, max_questions, strict=strict, skipped=missing)
        elif fmt == "passages":
            docs = dedup_documents(_mapped_passages(path, data, FieldMap(text="text"), None))
        else:
            docs = dedup_documents(_hotpot_passages(path, fmt, data, max_questions, strict, missing))
        if fmt in PASSAGE_FIELDS:
            _report_skipped(path, fmt, missing, skipped)
    if not docs:
        raise Mem1InputError(f"{path}: no passages with text")
    return docs
