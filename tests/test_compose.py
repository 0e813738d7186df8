"""Composed N-objective datasets on the real HotpotQA / NQ files: loaders, composition, outputs, CLI."""

from __future__ import annotations

import argparse
import gzip
import json

import pytest
from conftest import SHARED_DATA

from mem1_hf import cli
from mem1_hf.data import read_corpus
from mem1_hf.data.cards import render_card, validate_card
from mem1_hf.data.compose import (
    ComposeConfig,
    compose,
    load_composed,
    parse_source,
    register_cli,
    task_id,
    write_composed,
)
from mem1_hf.data.qa_sources import (
    detect_qa_format,
    is_local_spec,
    load_source,
    parse_hub_spec,
    read_qa_file,
)
from mem1_hf.errors import Mem1InputError
from mem1_hf.prompts import QUESTION_SEPARATOR, get_profile

HOTPOT_TRAIN = SHARED_DATA / "hotpotqa" / "hotpotqa_train_100.json"
HOTPOT_DEV = SHARED_DATA / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl"
NQ_OPEN = SHARED_DATA / "nq" / "NQ-open.dev.jsonl"
NQ_ORACLE = SHARED_DATA / "nq" / "nq_open_oracle_2000.jsonl.gz"
NQ_CORPUS = SHARED_DATA / "nq" / "nq_gold_passages.corpus.jsonl"

SOURCES = [("hotpotqa", str(HOTPOT_TRAIN)), ("nq", str(NQ_ORACLE))]
CONFIG = ComposeConfig(objectives=2, splits={"test": 0.2}, seed=0, limit=60)


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    """hotpotqa train (60 questions) + NQ oracle (60), 2 objectives, written to disk."""
    result = compose(SOURCES, CONFIG)
    out = write_composed(result, tmp_path_factory.mktemp("composed") / "out")
    return result, out


def _rows(dataset_dict) -> dict[str, list[dict]]:
    return {split: data.to_list() for split, data in dataset_dict.items()}


# ----------------------------------------------------------------------------- loaders


def test_each_format_loads_hand_checked_first_record():
    hotpot = read_qa_file(HOTPOT_TRAIN)
    assert detect_qa_format(HOTPOT_TRAIN) == "hotpotqa" and len(hotpot) == 100
    assert (hotpot[0].id, hotpot[0].question, hotpot[0].answers) == (
        "5a77ec115542992a6e59dff7",
        "If Gallu is a demon Lilu is what?",
        ["a spirit"],
    )
    assert hotpot[0].gold_titles == ["Alû", "Lilu (mythology)"]

    ircot = read_qa_file(HOTPOT_DEV, limit=3)
    assert detect_qa_format(HOTPOT_DEV) == "hotpotqa_ircot" and len(ircot) == 3
    assert ircot[0].answers == ["Chief of Protocol"] and ircot[0].source == "hotpotqa"
    assert sorted(ircot[0].gold_titles) == ["Kiss and Tell (1945 film)", "Shirley Temple"]

    nq = load_source("nq", NQ_OPEN)
    assert detect_qa_format(NQ_OPEN) == "qa_jsonl" and len(nq) == 3610
    assert nq[0].answers == ["14 December 1972 UTC", "December 1972"] and nq[0].gold_titles == []
    assert nq[0].id.startswith("q-")

    oracle = load_source("nq", NQ_ORACLE, limit=5)
    assert detect_qa_format(NQ_ORACLE) == "nq_oracle"
    assert oracle[0].answers == ["Wilhelm Conrad Röntgen"]
    assert oracle[0].gold_titles == ["List of Nobel laureates in Physics"]
    # the same question gets the same id in both NQ files (ids come from the question text)
    assert {r.question: r.id for r in nq}[oracle[0].question] == oracle[0].id


def test_generic_jsonl_with_golden_answers(tmp_path):
    path = tmp_path / "flashrag.jsonl"
    with open(NQ_OPEN) as src, open(path, "w") as dst:
        for _, line in zip(range(4), src):
            record = json.loads(line)
            dst.write(
                json.dumps(
                    {"id": f"dev_{_}", "question": record["question"], "golden_answers": record["answer"]}
                )
                + "\n"
            )
    records = load_source("flashrag_nq", path)
    assert [r.id for r in records] == ["dev_0", "dev_1", "dev_2", "dev_3"]
    assert records[1].answers == ["Bobby Scott", "Bob Russell"] and records[1].source == "flashrag_nq"


def test_bad_files_give_one_line_with_file_and_line(tmp_path):
    lines = NQ_OPEN.read_text().splitlines()[:3]
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], lines[1][:-5], lines[2]]) + "\n")
    with pytest.raises(Mem1InputError, match=r"broken\.jsonl:2: invalid JSON"):
        read_qa_file(broken)
    no_answer = tmp_path / "no_answer.jsonl"
    no_answer.write_text("\n".join([lines[0], json.dumps({"question": "who?", "answer": []})]) + "\n")
    with pytest.raises(Mem1InputError, match=r"no_answer\.jsonl:2: .*no non-empty gold answer") as err:
        read_qa_file(no_answer)
    assert "\n" not in str(err.value)
    with pytest.raises(Mem1InputError, match="unknown QA layout"):
        read_qa_file(NQ_CORPUS)  # a corpus, not questions
    with pytest.raises(Mem1InputError, match="file not found"):
        load_source("nq", tmp_path / "missing.jsonl")


def test_hub_specs_are_parsed_without_the_hub():
    assert parse_hub_spec("hotpot_qa") == ("hotpot_qa", "distractor", "train")
    assert parse_hub_spec("nq_open@validation") == ("nq_open", None, "validation")
    assert parse_hub_spec("hotpot_qa:fullwiki@validation") == ("hotpot_qa", "fullwiki", "validation")
    assert not is_local_spec("hotpot_qa") and not is_local_spec("google-research-datasets/nq_open")
    assert is_local_spec(str(NQ_OPEN)) and is_local_spec("data/missing.jsonl")


# ----------------------------------------------------------------------------- composition


def test_rows_have_mem1_fields_and_our_own(composed):
    result, _ = composed
    records = {r.key: r for name, spec in SOURCES for r in load_source(name, spec, limit=60)}
    profile = get_profile("mem1-qa")
    for split, rows in _rows(result.dataset).items():
        assert rows
        for index, row in enumerate(rows):
            members = [records[f"{s}:{i}"] for s, i in zip(row["sources"], row["source_ids"])]
            assert row["questions"] == [m.question for m in members]
            assert row["answers"] == [m.answers for m in members]
            assert row["gold_titles"] == [m.gold_titles for m in members]
            assert row["n_objectives"] == 2
            assert row["question"] == QUESTION_SEPARATOR.join(row["questions"])
            assert row["prompt"] == [{"role": "user", "content": profile.build_prompt(row["questions"])}]
            assert row["reward_model"] == {"style": "rule", "ground_truth": {"target": row["answers"]}}
            assert row["extra_info"] == {"split": split, "index": index, "task_id": row["task_id"]}
            assert row["data_source"] == row["sources"][0] == row["sources"][1]  # not mixed
            assert row["ability"] == "fact-reasoning"
            assert row["task_id"] == task_id([f"{s}:{i}" for s, i in zip(row["sources"], row["source_ids"])])


def test_splits_share_no_question_and_ids_are_unique(composed):
    result, _ = composed
    rows = _rows(result.dataset)
    assert list(rows) == ["train", "test"]
    # 60 questions per source: 12 to test and 48 to train -> 6 + 24 tasks per source
    assert result.manifest["counts"] == {"train": 48, "test": 12}
    questions = {
        split: [q for row in split_rows for q in row["questions"]] for split, split_rows in rows.items()
    }
    assert not set(questions["train"]) & set(questions["test"])
    every = questions["train"] + questions["test"]
    assert len(every) == len(set(every)) == 120
    ids = [row["task_id"] for split_rows in rows.values() for row in split_rows]
    assert len(ids) == len(set(ids))


def test_seeded_determinism_and_stable_ids():
    first = compose(SOURCES, CONFIG).dataset
    again = compose(SOURCES, CONFIG).dataset
    assert _rows(first) == _rows(again)
    other_seed = compose(SOURCES, ComposeConfig(objectives=2, splits={"test": 0.2}, seed=1, limit=60)).dataset
    assert _rows(other_seed) != _rows(first)
    # a task's id depends only on its members: the hotpotqa tasks are the same with or without nq
    alone = compose(SOURCES[:1], CONFIG).dataset
    hotpot = {(r["task_id"], tuple(r["source_ids"])) for r in first["train"] if r["sources"][0] == "hotpotqa"}
    assert hotpot == {(r["task_id"], tuple(r["source_ids"])) for r in alone["train"]}


def test_mix_groups_across_sources_and_keeps_splits_apart():
    config = ComposeConfig(objectives=4, mix=True, splits={"test": 0.25}, seed=3, limit=40)
    dataset = compose([("hotpotqa", str(HOTPOT_DEV)), ("nq", str(NQ_OPEN))], config).dataset
    rows = _rows(dataset)
    mixed = [row for row in rows["train"] if len(set(row["sources"])) == 2]
    assert mixed and all(row["data_source"] == "hotpotqa+nq" for row in mixed)
    assert all(
        row["n_objectives"] == 4 == len(row["answers"]) for split_rows in rows.values() for row in split_rows
    )
    test_q = {q for row in rows["test"] for q in row["questions"]}
    assert test_q and not test_q & {q for row in rows["train"] for q in row["questions"]}


def test_too_few_questions_for_a_split_is_a_user_error():
    with pytest.raises(Mem1InputError, match="split 'test' gets 1 questions, too few for one task of 4"):
        compose(SOURCES[:1], ComposeConfig(objectives=4, splits={"test": 0.1}, limit=10))
    with pytest.raises(Mem1InputError, match="sum to 1.2"):
        ComposeConfig(splits={"test": 0.6, "validation": 0.6})
    with pytest.raises(Mem1InputError, match="objectives"):
        ComposeConfig(objectives=0)


# ----------------------------------------------------------------------------- outputs


def test_parquet_and_save_to_disk_round_trip(composed):
    import datasets
    import pyarrow.parquet as pq

    result, out = composed
    expected = _rows(result.dataset)
    assert _rows(load_composed(out)) == expected  # arrow (save_to_disk)
    parquet = datasets.load_dataset(
        "parquet", data_files={s: str(out / "data" / f"{s}.parquet") for s in expected}
    )
    assert _rows(parquet) == expected
    assert (
        _rows(datasets.load_dataset(str(out), download_mode="force_redownload")) == expected
    )  # the card's `configs` point at the parquet
    assert load_composed(out, "test").to_list() == expected["test"]
    schema = pq.read_schema(out / "data" / "train.parquet")
    assert str(schema.field("reward_model").type) == (
        "struct<style: string, ground_truth: struct<target: list<element: list<element: string>>>>"
    )
    with pytest.raises(Mem1InputError, match="no split 'validation'"):
        load_composed(out, "validation")


def test_corpus_holds_every_gold_paragraph(composed):
    result, out = composed
    docs = read_corpus(out / "corpus.jsonl")
    assert len(docs) == result.manifest["corpus"]["passages"] == len(result.corpus)
    contents = {doc.contents for doc in docs}
    # HotpotQA: the full supporting paragraphs of every question used, text unchanged
    original = {r["_id"]: r for r in json.loads(HOTPOT_TRAIN.read_text())}
    # NQ oracle: the gold passage of every question used
    oracle = {}
    with gzip.open(NQ_ORACLE, "rt") as handle:
        for line in handle:
            record = json.loads(line)
            oracle[" ".join(record["question"].split())] = [c for c in record["ctxs"] if c["isgold"]]
    checked = 0
    for split_rows in _rows(result.dataset).values():
        for row in split_rows:
            for source, sid, question in zip(row["sources"], row["source_ids"], row["questions"]):
                if source == "hotpotqa":
                    record = original[sid]
                    paragraphs = dict((t, "".join(s)) for t, s in record["context"])
                    gold = [(t, paragraphs[t]) for t, _ in record["supporting_facts"]]
                else:
                    gold = [(c["title"], c["text"]) for c in oracle[question]]
                for title, text in gold:
                    assert f'"{title.strip()}"\n{text.strip()}' in contents
                    checked += 1
    assert checked >= 120


def test_dataset_card_is_valid_and_complete(composed):
    result, out = composed
    text = (out / "README.md").read_text()
    card = validate_card(text)
    assert card.data.license == ["cc-by-sa-4.0", "cc-by-sa-3.0"]
    assert card.data.task_categories == ["question-answering"]
    assert card.data.size_categories == ["n<1K"]
    assert card.data.source_datasets == ["hotpotqa/hotpot_qa", "google-research-datasets/nq_open"]
    assert "--objectives 2" in text and "--seed 0" in text and "Yang et al." in text and "Kwiatkowski" in text
    assert str(SHARED_DATA) not in text  # no local paths of this machine
    assert text == render_card(json.loads((out / "compose.json").read_text()))
    broken = text.replace("- cc-by-sa-4.0\n- cc-by-sa-3.0\n", "", 1).replace("license:\n", "", 1)
    with pytest.raises(Mem1InputError, match="missing 'license'"):
        validate_card(broken)


def test_write_refuses_to_clobber_without_overwrite(composed, tmp_path):
    result, _ = composed
    out = tmp_path / "out"
    write_composed(result, out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(Mem1InputError, match="--overwrite"):
        write_composed(result, out)
    write_composed(result, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"  # only our own files are replaced


# ----------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mem1")
    register_cli(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_compose(tmp_path, capsys):
    out = tmp_path / "cli_out"
    argv = ["compose", "--source", f"hotpotqa={HOTPOT_DEV}", "--source", f"nq={NQ_OPEN}", "--objectives", "2"]
    argv += ["--mix", "--split", "test=0.1", "--seed", "0", "--limit", "40", "--out", str(out)]
    args = _parser().parse_args(argv)
    args.func(args)
    assert "wrote 2-objective tasks (train 36, test 4)" in capsys.readouterr().out
    manifest = json.loads((out / "compose.json").read_text())
    assert manifest["corpus"]["sources"] == ["hotpotqa"] and manifest["corpus"]["missing"] == ["nq"]
    assert manifest["command"].startswith("mem1 compose --source hotpotqa=hotpotqa_dev_500.ircot.jsonl")
    assert load_composed(out, "test").num_rows == 4
    with pytest.raises(Mem1InputError, match="--overwrite"):
        args.func(args)


def test_cli_user_errors_print_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "PLUGINS", ("mem1_hf.data.compose",))
    out = str(tmp_path / "o")
    for argv, message in [
        (["compose", "--source", str(HOTPOT_DEV), "--out", out], "expected NAME=PATH_OR_HUB_ID"),
        (
            ["compose", "--source", f"h={HOTPOT_DEV}", "--split", "test=ten", "--out", out],
            "expected NAME=FRACTION",
        ),
        (["compose", "--source", f"h={HOTPOT_DEV}", "--objectives", "0", "--out", out], "objectives must be"),
        (["compose", "--source", f"h={tmp_path / 'nope.jsonl'}", "--out", out], "file not found"),
    ]:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert parse_source("hotpotqa=hotpot_qa@validation") == ("hotpotqa", "hotpot_qa@validation")
