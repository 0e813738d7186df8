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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mem1_hf.data.documents import Document
from mem1_hf.data.files import first_line, iter_jsonl, load_json
from mem1_hf.errors import Mem1InputError

#: format names returned by :func:`detect_format`
FORMATS = ("corpus", "hotpotqa", "hotpotqa_ircot", "hotpotqa_titles", "nq_oracle")

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


def _hotpot_context(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Paragraphs of one HotpotQA question, original (list or HF ``datasets``) layout."""
    context = record["context"]
    if isinstance(context, dict):  # HF `hotpot_qa`: {"title": [...], "sentences": [[...]]}
        context = zip(context["title"], context["sentences"], strict=True)
    for title, sentences in context:
        # each sentence after the first carries its own leading space: join without a separator
        yield str(title), "".join(sentences)


def _ircot_context(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for paragraph in record["contexts"]:
        yield str(paragraph["title"]), _IRCOT_SENTENCE_GAP.sub(" ", paragraph["paragraph_text"])


def _numbered_records(path: str | Path, fmt: str, data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(where, record)``; ``where`` is ``file:line`` for JSONL, a record number otherwise."""
    if fmt == "hotpotqa_ircot":
        for lineno, record in iter_jsonl(path):
            yield f"{path}:{lineno}", record
    else:
        for number, record in enumerate(data, start=1):
            yield f"{path}: record {number}", record


def _hotpot_passages(
    path: str | Path, fmt: str, data: Any, max_questions: int | None
) -> Iterator[tuple[str, str]]:
    if fmt == "hotpotqa_titles":
        try:
            yield from ((str(title), "".join(sentences)) for title, sentences in data.items())
        except TypeError as err:
            raise Mem1InputError(f"{path}: expected {{title: [sentences]}} ({err})") from err
        return
    extract = _ircot_context if fmt == "hotpotqa_ircot" else _hotpot_context
    for count, (where, record) in enumerate(_numbered_records(path, fmt, data)):
        if max_questions is not None and count >= max_questions:
            return
        try:
            yield from extract(record)
        except (KeyError, TypeError, ValueError) as err:
            raise Mem1InputError(
                f"{where}: malformed HotpotQA context ({type(err).__name__}: {err})"
            ) from err


def corpus_from_hotpotqa(path: str | Path, max_questions: int | None = None) -> list[Document]:
    """Build a corpus from the context paragraphs of a HotpotQA file.

    Accepts the original JSON list (``context: [[title, [sentences]]]``, also HF's
    ``{"title", "sentences"}`` layout), IRCoT's JSONL (``contexts: [{title,
    paragraph_text}]``) and a ``{title: [sentences]}`` corpus JSON (``max_questions`` does not
    apply to the latter). Sentences are joined as the paragraph reads.

    Example:
        >>> docs = corpus_from_hotpotqa("hotpotqa_train_100.json")  # doctest: +SKIP
        >>> len(docs)  # doctest: +SKIP
        994
    """
    fmt, data = _detect(path)
    if fmt not in ("hotpotqa", "hotpotqa_ircot", "hotpotqa_titles"):
        raise Mem1InputError(f"{path}: not a HotpotQA file (detected format {fmt!r})")
    return dedup_documents(_hotpot_passages(path, fmt, data, max_questions))


# ----------------------------------------------------------------------------- NQ


def corpus_from_nq_oracle(path: str | Path, max_questions: int | None = None) -> list[Document]:
    """Build a corpus from the gold passages of an NQ-open oracle file (gzip or plain JSONL).

    Each line is ``{"question", "answers", "ctxs": [{title, text, isgold, ...}]}`` (the
    lost-in-the-middle / DPR layout); passages with ``isgold`` false are left out.

    Example:
        >>> docs = corpus_from_nq_oracle("nq_open_oracle_2000.jsonl.gz")  # doctest: +SKIP
        >>> len(docs)  # doctest: +SKIP
        1967
    """

    def passages() -> Iterator[tuple[str, str]]:
        for count, (lineno, record) in enumerate(iter_jsonl(path)):
            if max_questions is not None and count >= max_questions:
                return
            ctxs = record.get("ctxs")
            if not isinstance(ctxs, list):
                raise Mem1InputError(f'{path}:{lineno}: expected a "ctxs" list of passages')
            for ctx in ctxs:
                if not isinstance(ctx, dict) or not isinstance(ctx.get("text"), str):
                    raise Mem1InputError(f'{path}:{lineno}: each ctx needs "title" and "text" strings')
                if ctx.get("isgold", True):
                    yield str(ctx.get("title", "")), ctx["text"]

    return dedup_documents(passages())


# ----------------------------------------------------------------------------- detection


def _record_format(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    for key, fmt in (("contents", "corpus"), ("contexts", "hotpotqa_ircot"), ("ctxs", "nq_oracle")):
        if key in record:
            return fmt
    return "hotpotqa" if "context" in record else None


def _unknown_format(path: str | Path) -> Mem1InputError:
    return Mem1InputError(
        f"{path}: unknown format (expected corpus JSONL, HotpotQA JSON or IRCoT JSONL, "
        "a {title: [sentences]} JSON object, or NQ-open oracle JSONL)"
    )


def _detect(path: str | Path) -> tuple[str, Any]:
    """Return ``(format, whole JSON document or None)`` so callers need not load it twice."""
    first = first_line(path)
    try:
        head = json.loads(first)
    except json.JSONDecodeError:
        head = None  # a pretty-printed JSON document, or a broken first line
    fmt = _record_format(head)
    if fmt in ("corpus", "hotpotqa_ircot", "nq_oracle"):
        return fmt, None
    if first[:1] not in "[{":
        raise _unknown_format(path)
    try:
        data = load_json(path)
    except Mem1InputError:
        if head is not None:  # JSON lines of an unknown kind, not a broken JSON document
            raise _unknown_format(path) from None
        raise
    if isinstance(data, list) and data and _record_format(data[0]) == "hotpotqa":
        return "hotpotqa", data
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


def build_corpus(path: str | Path, max_questions: int | None = None) -> list[Document]:
    """Build (or read) a corpus from any supported file, detecting its format by content.

    Example:
        >>> docs = build_corpus("nq_open_oracle_2000.jsonl.gz", max_questions=100)  # doctest: +SKIP
    """
    fmt, data = _detect(path)
    if fmt == "corpus":
        return read_corpus(path)
    if fmt == "nq_oracle":
        return corpus_from_nq_oracle(path, max_questions)
    return dedup_documents(_hotpot_passages(path, fmt, data, max_questions))
