"""Corpus reading, validation, writing and building, on the real data in ../shared/data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA as DATA  # next to the repo; MEM1_SHARED_DATA overrides

from mem1_hf.data import (
    build_corpus,
    corpus_from_hotpotqa,
    corpus_from_nq_oracle,
    dedup_documents,
    detect_format,
    format_contents,
    read_corpus,
    write_corpus,
)
from mem1_hf.envs import Document, render_docs
from mem1_hf.errors import Mem1InputError

HOTPOT_IRCOT = DATA / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl"
HOTPOT_TRAIN = DATA / "hotpotqa" / "hotpotqa_train_100.json"
HOTPOT_TITLES = DATA / "hotpotqa" / "hotpotqa_train_100_corpus.json"
NQ_ORACLE = DATA / "nq" / "nq_open_oracle_2000.jsonl.gz"
NQ_GOLD = DATA / "nq" / "nq_gold_passages.corpus.jsonl"
NQ_QUESTIONS = DATA / "nq" / "NQ-open.dev.jsonl"
SEARCHR1 = DATA / "nq" / "searchr1_example_corpus.jsonl"


def _jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _error(func, *args) -> str:
    with pytest.raises(Mem1InputError) as info:
        func(*args)
    message = str(info.value)
    assert "\n" not in message, "user errors are one line"
    return message


# ----------------------------------------------------------------------------- reading


def test_read_real_corpora():
    docs = read_corpus(NQ_GOLD)
    assert len(docs) == 2600
    assert [d.id for d in docs[:3]] == ["0", "1", "2"]
    assert docs[0].title == '"List of Nobel laureates in Physics"'
    assert docs[0].text.startswith("The first Nobel Prize in Physics was awarded in 1901")

    example = read_corpus(SEARCHR1)
    assert len(example) == 10
    assert example[0].title == '"Evan Morris"'
    # MEM1's observation format
    assert (
        render_docs(example[:2]).splitlines()[0].startswith('Doc 1(Title: "Evan Morris") Evan Morris Evan L.')
    )
    assert render_docs(example[:2]).splitlines()[1].startswith('Doc 2(Title: "Horatio Hale") consisted of')


def test_read_corpus_missing_and_empty(tmp_path):
    assert "file not found" in _error(read_corpus, tmp_path / "nope.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "empty" in _error(read_corpus, empty)
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n")
    assert "empty" in _error(read_corpus, blank)
    assert "directory" in _error(read_corpus, tmp_path)


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ('{"id": "x", "contents": "\\"T\\"\\ntext"', "invalid JSON"),
        ('["not", "an", "object"]', "expected a JSON object"),
        ('{"id": "x"}', 'field "contents"'),
        ('{"id": "x", "contents": ""}', 'field "contents"'),
        ('{"contents": "\\"T\\"\\ntext"}', 'field "id"'),
        ('{"id": [1], "contents": "\\"T\\"\\ntext"}', 'field "id"'),
        ('{"id": "1", "contents": "\\"T\\"\\ntext"}', "duplicate id '1' (first seen on line 3)"),
    ],
)
def test_read_corpus_reports_file_and_line(tmp_path, bad_line, expected):
    real = SEARCHR1.read_text(encoding="utf-8").splitlines()[:2]
    path = tmp_path / "corpus.jsonl"
    # a blank line first: line numbers count every line of the file
    path.write_text("\n" + "\n".join(real) + "\n" + bad_line + "\n" + real[0].replace('"0"', '"9"') + "\n")
    message = _error(read_corpus, path)
    assert message.startswith(f"{path}:4: ")
    assert expected in message


def test_write_read_round_trip(tmp_path):
    docs = read_corpus(NQ_GOLD)[:50]
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        path = write_corpus(docs, tmp_path / name)
        assert read_corpus(path) == docs
    assert gzip.open(tmp_path / "corpus.jsonl.gz", "rt").readline().startswith('{"id": "0", "contents": "\\"')


def test_dpr_style_rows_are_accepted(tmp_path):
    path = tmp_path / "dpr.jsonl"
    row = {"id": 7, "title": "Horatio Hale", "text": "Horatio Hale was an ethnologist."}
    path.write_text(json.dumps(row) + "\n")
    assert read_corpus(path) == [Document("7", '"Horatio Hale"\nHoratio Hale was an ethnologist.')]


# ----------------------------------------------------------------------------- builders


def test_format_and_dedup():
    assert format_contents(" Paris ", "Capital of France. ") == '"Paris"\nCapital of France.'
    docs = dedup_documents([("A", "x"), ("B", "y"), ("A", "x "), ("A", "z"), ("C", "  ")])
    assert [(d.id, d.contents) for d in docs] == [("0", '"A"\nx'), ("1", '"B"\ny'), ("2", '"A"\nz')]


def test_hotpotqa_ircot_corpus():
    questions = _jsonl(HOTPOT_IRCOT)
    docs = corpus_from_hotpotqa(HOTPOT_IRCOT)
    paragraphs = sum(len(q["contexts"]) for q in questions)
    assert len(questions) == 500 and paragraphs == 4931
    assert len(docs) == 4858  # paragraphs shared by several questions are kept once
    assert [d.id for d in docs] == [str(i) for i in range(len(docs))]
    assert len({d.contents for d in docs}) == len(docs)
    titles = {d.title for d in docs}
    for question in questions:  # every gold paragraph is retrievable
        assert all(f'"{c["title"]}"' in titles for c in question["contexts"] if c["is_supporting"])
    # IRCoT's two-space sentence gaps are folded back to the paragraph as HotpotQA has it
    first = docs[0]
    assert first.title == '"Meet Corliss Archer"'
    assert "September 30, 1956. Although it was CBS's answer" in first.text
    assert len(corpus_from_hotpotqa(HOTPOT_IRCOT, max_questions=150)) == 1500


def test_hotpotqa_original_and_titles_corpus():
    questions = json.loads(HOTPOT_TRAIN.read_text())
    titles_corpus = json.loads(HOTPOT_TITLES.read_text())
    docs = corpus_from_hotpotqa(HOTPOT_TRAIN)
    assert len(docs) == 994 == len(titles_corpus)
    by_title = {d.title: d for d in docs}
    for question in questions:
        assert all(f'"{title}"' in by_title for title, _ in question["supporting_facts"])
    # sentences carry their own leading space: joined without a separator
    demon = by_title['"Demon Dice"']
    assert demon.text == "".join(titles_corpus["Demon Dice"])
    assert "(designer of the better-known Dragon Dice) and Tim Brown. In it, each player" in demon.text
    assert "  " not in demon.text
    # the {title: [sentences]} corpus gives the same passages
    assert {d.contents for d in corpus_from_hotpotqa(HOTPOT_TITLES)} == {d.contents for d in docs}
    assert len(corpus_from_hotpotqa(HOTPOT_TRAIN, max_questions=10)) == 100


def test_hotpotqa_formats_agree_on_shared_paragraphs():
    dev = {d.title: d.contents for d in corpus_from_hotpotqa(HOTPOT_IRCOT)}
    train = {d.title: d.contents for d in corpus_from_hotpotqa(HOTPOT_TRAIN)}
    shared = set(dev) & set(train)
    assert len(shared) >= 15
    assert all(dev[title] == train[title] for title in shared)


def test_nq_oracle_corpus():
    rows = _jsonl(NQ_ORACLE)
    docs = corpus_from_nq_oracle(NQ_ORACLE)
    assert len(rows) == 2000
    assert len(docs) == 1967
    contents = {d.contents for d in docs}
    for row in rows:
        gold = row["ctxs"][0]
        assert format_contents(gold["title"], gold["text"]) in contents
    # the shared derived corpus holds the same gold passages, in the same order; the only
    # difference is a duplicate that differs by trailing whitespace, which we keep once
    derived = read_corpus(NQ_GOLD)[:1968]
    stripped = dedup_documents((d.title.strip('"'), d.text) for d in derived)
    assert [d.contents for d in stripped] == [d.contents for d in docs]
    assert sum(d.title == '"World Teachers\' Day"' for d in docs) == 1
    assert len(corpus_from_nq_oracle(NQ_ORACLE, max_questions=100)) == 99


def test_build_corpus_detects_format():
    expected = {
        HOTPOT_IRCOT: ("hotpotqa_ircot", 4858),
        HOTPOT_TRAIN: ("hotpotqa", 994),
        HOTPOT_TITLES: ("hotpotqa_titles", 994),
        NQ_ORACLE: ("nq_oracle", 1967),
        NQ_GOLD: ("corpus", 2600),
        SEARCHR1: ("corpus", 10),
    }
    for path, (fmt, size) in expected.items():
        assert detect_format(path) == fmt
        assert len(build_corpus(path)) == size
    assert len(build_corpus(HOTPOT_IRCOT, max_questions=20)) == 200


def test_build_corpus_rejects_other_files(tmp_path):
    assert "unknown layout" in _error(build_corpus, NQ_QUESTIONS)  # questions without passages
    assert "unknown layout" in _error(build_corpus, DATA / "webshop" / "human_goals.json")
    assert "not a HotpotQA file" in _error(corpus_from_hotpotqa, NQ_GOLD)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"_id": "a", "context": [["T", ["s"]]]},\n {"_id": ')
    assert _error(build_corpus, broken).startswith(f"{broken}:2: invalid JSON")
    malformed = tmp_path / "malformed.jsonl"
    line = HOTPOT_IRCOT.open().readline()
    malformed.write_text(line + json.dumps({"question_id": "x", "contexts": [{"title": "T"}]}) + "\n")
    assert _error(build_corpus, malformed).startswith(f'{malformed}:2: malformed "contexts"')
    bad_titles = tmp_path / "titles.json"
    bad_titles.write_text(json.dumps({"Paris": ["Capital of France."], "Lyon": [3]}))
    assert "expected {title: [sentences]}" in _error(build_corpus, bad_titles)
