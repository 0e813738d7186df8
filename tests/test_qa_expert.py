"""The scripted QA expert through the real agent loop, keep rule, parser and BM25 over real data."""

from __future__ import annotations

import pytest
from conftest import HOTPOT_DEV, SHARED_DATA, require_data

from mem1_hf.data.compose import ComposeConfig, compose
from mem1_hf.envs import LocalRetrievalEnv
from mem1_hf.families.qa.expert import QAExpertPolicy, QAGold, read_documents
from mem1_hf.loop import AgentLoop, LoopConfig, Task
from mem1_hf.scoring import exact_match, normalize_answer

NQ_ORACLE = SHARED_DATA / "nq" / "nq_open_oracle_2000.jsonl.gz"


@pytest.fixture(scope="module")
def composed():
    """Real 2-objective HotpotQA + NQ tasks and their real corpus (gold passages + distractors)."""
    require_data()
    config = ComposeConfig(objectives=2, mix=True, limit=40, seed=0)
    result = compose([("hotpotqa", HOTPOT_DEV), ("nq", NQ_ORACLE)], config)
    rows = list(result.dataset["train"])[:16]
    env = LocalRetrievalEnv.from_corpus(result.corpus, retriever="bm25")
    return rows, env


@pytest.fixture(scope="module")
def expert_run(composed, tokenizer):
    rows, env = composed
    config = LoopConfig(max_turns=6, batch_size=4, topk=3)
    policy = QAExpertPolicy(tokenizer, {r["task_id"]: r for r in rows}, config.profile, max_turns=6)
    trajectories = AgentLoop(policy, env, config).run([Task.from_row(r) for r in rows])
    return rows, trajectories


def test_every_turn_is_valid_and_the_task_ends_with_one_answer_per_question(expert_run):
    _, trajectories = expert_run
    for trajectory in trajectories:
        actions = [t.parsed.action for t in trajectory.turns]
        assert "invalid" not in actions
        assert actions[-1] == "answer" and set(actions[:-1]) <= {"search"}
        assert trajectory.stop_reason == "answered" and trajectory.answer_count_ok
        assert all(t.parsed.internal_state for t in trajectory.turns)  # memory every turn


def test_correct_answers_come_from_what_was_read(expert_run):
    """An answer that matches the gold was read: it stands in an observation (or, for yes/no, every
    gold passage was retrieved). Golds are never copied into an answer the expert did not read."""
    rows, trajectories = expert_run
    correct = 0
    for row, trajectory in zip(rows, trajectories):
        observed = " ".join(t.observation for t in trajectory.turns)
        titles_seen = {title for t in trajectory.turns for title, _ in read_documents(t.observation)}
        for answer, golds, titles in zip(trajectory.answers, row["answers"], row["gold_titles"]):
            if not exact_match(answer, golds):
                continue
            correct += 1
            if normalize_answer(answer) in ("yes", "no"):
                assert set(titles) <= titles_seen
            else:
                assert normalize_answer(answer) in normalize_answer(observed)
    assert correct >= 0.6 * 2 * len(rows)  # the real expert solves most retrievable questions


def test_answers_equal_golds_when_the_expert_read_every_gold_passage(expert_run):
    rows, trajectories = expert_run
    checked = 0
    for row, trajectory in zip(rows, trajectories):
        # the documents each question's own searches returned (the expert reads only those)
        per_question: dict[int, list[tuple[str, str]]] = {}
        for turn in trajectory.turns[:-1]:
            state = turn.parsed.internal_state
            target = int(state.rsplit("Now Q", 1)[1].split()[0]) - 1
            per_question.setdefault(target, []).extend(read_documents(turn.observation))
        for i, (answer, golds, titles) in enumerate(
            zip(trajectory.answers, row["answers"], row["gold_titles"])
        ):
            docs = per_question.get(i, [])
            seen = {t for t, _ in docs}
            text = " ".join(x for t, x in docs if t in titles)
            in_text = any(normalize_answer(g) in normalize_answer(text) for g in golds)
            yes_no = normalize_answer(golds[0]) in ("yes", "no")
            if set(titles) <= seen and (in_text or yes_no):
                checked += 1
                assert exact_match(answer, golds), (row["questions"][i], answer, golds)
    assert checked >= 10


def test_memory_keeps_answers_and_drops_their_sentences(expert_run):
    _, trajectories = expert_run
    dropped = 0
    for trajectory in trajectories:
        for before, after in zip(trajectory.turns, trajectory.turns[1:]):
            for line in before.parsed.internal_state.split("Q")[1:]:
                if " answer: " in line and "(" in line:  # a fresh answer with its sentence
                    number = line.split()[0]
                    later = after.parsed.internal_state
                    assert f"Q{number} answer:" in later  # the answer survives
                    assert line.split("(", 1)[1][:30] not in later  # its sentence is dropped
                    dropped += 1
    assert dropped > 0


def test_memory_says_only_what_was_done_before_the_turn(expert_run, tokenizer, hotpot_env):
    """The first turn has searched nothing: every question is plainly open and Q1's search is a
    first search, not a refined one; a refined query follows a search that found nothing."""
    _, trajectories = expert_run
    for trajectory in trajectories:
        first = trajectory.turns[0].parsed.internal_state
        assert "not found" not in first and first.endswith("Now Q1 (search).")
    gold = QAGold(["Who wrote the novel Zzyzx Quorblat?"], [["Nobody Real"]], [["Zzyzx Quorblat (novel)"]])
    policy = QAExpertPolicy(tokenizer, {"t0": gold}, max_turns=6)
    (trajectory,) = AgentLoop(policy, hotpot_env, LoopConfig(max_turns=6)).run([Task("t0", gold.questions)])
    memories = [t.parsed.internal_state for t in trajectory.turns]
    assert memories[0] == "Q1 open. Now Q1 (search)."
    assert memories[1] == "Q1 open: not found yet. Now Q1 (new query)."


def test_multi_hop_question_searches_twice(tokenizer, hotpot_env):
    """A HotpotQA bridge question: the first search finds the bridge passage, the second the answer."""
    gold = QAGold(
        [
            "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?"
        ],
        [["Chief of Protocol"]],
        [["Kiss and Tell (1945 film)", "Shirley Temple"]],
    )
    policy = QAExpertPolicy(tokenizer, {"t0": gold}, max_turns=6)
    config = LoopConfig(max_turns=6, topk=3)
    (trajectory,) = AgentLoop(policy, hotpot_env, config).run([Task("t0", gold.questions)])
    searches = [t.parsed.content for t in trajectory.turns if t.parsed.action == "search"]
    assert len(searches) >= 2
    assert "Shirley Temple" in searches[-1]  # the bridge entity it read
    assert exact_match(trajectory.answers[0], gold.answers[0])


def test_unfindable_question_is_an_honest_failure(tokenizer, hotpot_env):
    """Gold passages absent from the corpus: the expert gives up and answers from what it read."""
    gold = QAGold(["Who wrote the novel Zzyzx Quorblat?"], [["Nobody Real"]], [["Zzyzx Quorblat (novel)"]])
    policy = QAExpertPolicy(tokenizer, {"t0": gold}, max_turns=6)
    (trajectory,) = AgentLoop(policy, hotpot_env, LoopConfig(max_turns=6)).run([Task("t0", gold.questions)])
    assert trajectory.stop_reason == "answered"
    assert not exact_match(trajectory.answers[0], gold.answers[0])
    assert "not found" in trajectory.turns[-1].parsed.internal_state
    assert 2 <= sum(t.parsed.action == "search" for t in trajectory.turns) <= 3  # one refined query at least


def test_slips_are_invalid_turns_the_next_turn_recovers_from(composed, tokenizer):
    """With slip_rate=1 every task slips once on a search turn: the loop parses the slip as invalid
    (each kind, cut at the token budget), the next turn repeats the clean search it meant to write,
    and the task still ends with one answer per question."""
    rows, env = composed
    config = LoopConfig(max_turns=6, batch_size=4, topk=3)
    golds = {r["task_id"]: r for r in rows}
    clean = AgentLoop(QAExpertPolicy(tokenizer, golds, max_turns=6), env, config).run(
        [Task.from_row(r) for r in rows]
    )
    policy = QAExpertPolicy(tokenizer, golds, max_turns=6, slip_rate=1.0, max_new_tokens=128)
    slipped = AgentLoop(policy, env, config).run([Task.from_row(r) for r in rows])
    kinds = set()
    for before, after in zip(clean, slipped):
        actions = [t.parsed.action for t in after.turns]
        assert actions.count("invalid") == 1 and actions[0] == "invalid"  # the first search turn slips
        slip, retry = after.turns[0], after.turns[1]
        assert len(slip.output_ids) == 128 and "previous action is invalid" in slip.observation
        assert retry.response == before.turns[0].response  # the clean turn, one turn later
        assert tokenizer.decode(retry.input_ids).count(slip.response) == 1  # the slip is its memory
        assert after.stop_reason == "answered" and after.answer_count_ok
        kinds.add(
            "runaway"
            if "</think>" not in slip.response
            else "tag_typo"
            if "<search answer>" in slip.response
            else "bad_close"
        )
    assert kinds == {"bad_close", "tag_typo", "runaway"}
    with pytest.raises(Exception, match="slip_rate"):
        QAExpertPolicy(tokenizer, golds, slip_rate=1.5)


def test_fit_tokens_shortens_facts_until_the_turn_fits(composed, tokenizer, expert_run):
    """With fit_tokens a turn fits the budget: long turns cut their facts (then drop them), while
    the searches, the answers and the turn count stay those of the unfitted expert."""
    rows, env = composed
    _, unfitted = expert_run
    config = LoopConfig(max_turns=6, batch_size=4, topk=3)
    policy = QAExpertPolicy(
        tokenizer, {r["task_id"]: r for r in rows}, config.profile, max_turns=6, fit_tokens=64
    )
    fitted = AgentLoop(policy, env, config).run([Task.from_row(r) for r in rows])
    longer = 0
    for before, after in zip(unfitted, fitted):
        assert [t.parsed.action for t in after.turns] == [t.parsed.action for t in before.turns]
        assert [t.parsed.content for t in after.turns] == [t.parsed.content for t in before.turns]
        assert after.answers == before.answers
        for b, a in zip(before.turns, after.turns):
            # over the budget only when no fact is left to cut (long answers, many questions)
            assert len(a.output_ids) <= 64 or ("Known:" not in a.response and "(" not in a.response)
            if len(b.output_ids) > 64:
                longer += 1
                assert a.parsed.internal_state != b.parsed.internal_state
            else:
                assert a.response == b.response  # a turn that fits is written as before
    assert longer >= 5  # the budget did bite
    with pytest.raises(Exception, match="fit_tokens"):
        QAExpertPolicy(tokenizer, {}, fit_tokens=8)
