"""The policy on a generation server (:mod:`mem1_hf.remote_policy`) against a real local server.

``tests/completions_server.py`` serves a real model over HTTP on 127.0.0.1 with the subset of
vLLM's ``/v1/completions`` the policy uses. The same HotpotQA tasks run through the agent loop
with the in-process :class:`~mem1_hf.policy.ModelPolicy` and with :class:`RemotePolicy`: the
sampled ids must be equal and the log-probs equal within 1e-4 (issue 29, part 4). Each failure
(server down, a server without the extensions, a wrong token) is one line naming the URL.
"""

from __future__ import annotations

import json

import pytest
import torch
from completions_server import MODEL_NAME, create_app, serve_in_thread
from serving import free_port

from mem1_hf.errors import Mem1EnvironmentError, Mem1InputError
from mem1_hf.loop import AgentLoop, LoopConfig
from mem1_hf.policy import GenerationRequest, ModelPolicy, PolicyConfig
from mem1_hf.prompts import encode_user_message, get_profile
from mem1_hf.remote_policy import CompletionsConfig, CompletionsServerError, RemotePolicy
from mem1_hf.task_env import Task

PROFILE = get_profile("mem1-qa")


def _one_line(err: BaseException, *needles: str) -> None:
    text = str(err)
    assert "\n" not in text, text
    for needle in needles:
        assert needle in text, text


@pytest.fixture(scope="module")
def trained_agent(tokenizer):
    """The shipped QA agent (SmolLM2-135M-Instruct + its MEM1 adapter, merged), fp32 on the CPU:
    it searches, so its turns stop on a closing tag and later turns read observations."""
    from transformers import AutoModelForCausalLM

    from mem1_hf.defaults import default_agent_path

    return AutoModelForCausalLM.from_pretrained(default_agent_path(), dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def tiny_server(tiny_model, tokenizer):
    app = create_app(tiny_model, tokenizer)
    with serve_in_thread(app) as url:
        yield url, app


def _request(tokenizer, key: str = "t0", last_turn: bool = False) -> GenerationRequest:
    ids = encode_user_message(tokenizer, "Who wrote Hamlet? Answer in <answer></answer>.")
    return GenerationRequest(key, ids, ids, last_turn)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["trained agent", "base model"])
def test_remote_ids_and_logprobs_equal_the_in_process_policy(
    which, trained_agent, smollm2, hotpot_env, hotpot_questions
):
    """Real HotpotQA tasks, greedy, batch of 2 through the loop: every turn's input ids, sampled ids
    and stop reason equal, log-probs within 1e-4 (in-process: batched and prompt-cached; server:
    one sequence per request)."""
    base, tokenizer = smollm2
    model = trained_agent if which == "trained agent" else base
    generation = PolicyConfig(max_new_tokens=64).generation_config()
    config = LoopConfig(max_turns=3, batch_size=2)
    questions = [q for q, _ in hotpot_questions[:3]]
    tasks = [Task("t0", questions[:1]), Task("t1", questions[1:3])]
    local = AgentLoop(ModelPolicy(model, tokenizer, PROFILE, generation), hotpot_env, config).run(tasks)
    app = create_app(model, tokenizer)
    with serve_in_thread(app) as url:
        policy = RemotePolicy(url, tokenizer, PROFILE, generation)
        assert policy.model == MODEL_NAME and policy.context_limit == model.config.max_position_embeddings
        remote = AgentLoop(policy, hotpot_env, config).run(tasks)
    turns = [(a, b) for x, y in zip(local, remote) for a, b in zip(x.turns, y.turns)]
    assert [len(t.turns) for t in local] == [len(t.turns) for t in remote]
    assert len(app.state.requests) == len(turns) >= 4
    worst = 0.0
    for a, b in turns:
        assert a.input_ids == b.input_ids and a.output_ids == b.output_ids
        assert a.stop_reason == b.stop_reason and a.response == b.response
        worst = max(worst, max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)))
        assert len(a.logprobs) == len(b.logprobs) == len(a.output_ids)
    assert worst <= 1e-4, worst
    n_tokens = sum(len(a.output_ids) for a, _ in turns)
    print(f"{which}: {len(turns)} turns, {n_tokens} tokens, max |log-prob diff| {worst:.2e}")
    if which == "trained agent":  # it searched: a closing tag ended a turn and an observation followed
        assert any(a.stop_reason == "stop_string" for a, _ in turns)
        assert any(len(t.turns) > 1 for t in local)
    # what went over the wire: the ids themselves, the turn's stop and blocked strings, vLLM's extensions
    first, last = app.state.requests[0], app.state.requests[-1]
    assert first["prompt"] == turns[0][0].input_ids and first["max_tokens"] == 64
    assert first["temperature"] == 0.0 and first["logprobs"] == 0
    assert first["include_stop_str_in_output"] and first["return_tokens_as_token_ids"]
    assert first["skip_special_tokens"] is False
    assert first["stop"] == list(PROFILE.stop_strings(False))
    assert first["bad_words"] == list(PROFILE.banned_strings(False))
    on_last_turn = [r for r in app.state.requests if r["stop"] == list(PROFILE.stop_strings(True))]
    assert on_last_turn or last["stop"] == list(PROFILE.stop_strings(False))
    for body in on_last_turn:
        assert body["bad_words"] == list(PROFILE.banned_strings(True))


def test_requests_run_concurrently_and_come_back_in_order(tiny_server, tiny_model, tokenizer):
    url, app = tiny_server
    generation = PolicyConfig(max_new_tokens=5).generation_config()
    policy = RemotePolicy(url, tokenizer, PROFILE, generation, concurrency=3)
    prompts = [
        encode_user_message(tokenizer, text)
        for text in ("Who wrote Hamlet?", "Where is Yale?", "Why?", "When?")
    ]
    requests = [GenerationRequest(f"t{i}", p, p, i == 3) for i, p in enumerate(prompts)]
    before = len(app.state.requests)
    got = policy.generate(requests)
    local = ModelPolicy(tiny_model, tokenizer, PROFILE, generation).generate(requests)
    assert [r.ids for r in got] == [r.ids for r in local]
    assert [r.stop_reason for r in got] == [r.stop_reason for r in local]
    for a, b in zip(got, local):
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)) <= 1e-4
    sent = app.state.requests[before:]
    assert sorted(tuple(b["prompt"]) for b in sent) == sorted(tuple(p) for p in prompts)
    assert [b["bad_words"] for b in sent if b["prompt"] == prompts[3]] == [list(PROFILE.banned_strings(True))]


def test_sampling_sends_the_settings_and_a_seed_per_request(tiny_server, tokenizer):
    url, app = tiny_server
    generation = PolicyConfig(max_new_tokens=4, temperature=0.7).generation_config(top_p=0.9, top_k=0)
    policy = RemotePolicy(url, tokenizer, PROFILE, generation, seed=11, concurrency=1)
    before = len(app.state.requests)
    first = policy.generate([_request(tokenizer, "a"), _request(tokenizer, "b")])
    sent = app.state.requests[before:]
    assert [b["seed"] for b in sent] == [11, 12]
    assert {(b["temperature"], b["top_p"], b["top_k"]) for b in sent} == {(0.7, 0.9, -1)}
    again = RemotePolicy(url, tokenizer, PROFILE, generation, seed=11).generate([_request(tokenizer, "a")])
    assert again[0].ids == first[0].ids  # the same seed, the same sample


def test_a_server_that_is_down_is_one_line(tokenizer):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CompletionsServerError) as caught:
        RemotePolicy(url, tokenizer, PROFILE)
    _one_line(caught.value, f"{url}/v1/models", "connection refused")
    assert isinstance(caught.value, Mem1EnvironmentError)


def test_a_server_without_the_extensions_is_one_line(tiny_model, tokenizer):
    with serve_in_thread(create_app(tiny_model, tokenizer, extensions=False)) as url:
        policy = RemotePolicy(url, tokenizer, PROFILE, PolicyConfig(max_new_tokens=3).generation_config())
        with pytest.raises(Mem1InputError) as caught:
            policy.generate([_request(tokenizer)])
    _one_line(caught.value, f"{url}/v1/completions", "no token ids", "return_tokens_as_token_ids")


def test_the_bearer_token_is_sent_and_a_wrong_one_is_one_line(tiny_model, tokenizer, monkeypatch):
    with serve_in_thread(create_app(tiny_model, tokenizer, api_key="s3cret")) as url:
        with pytest.raises(Mem1InputError) as caught:
            RemotePolicy(url, tokenizer, PROFILE, api_key="wrong")
        _one_line(caught.value, f"{url}/v1/models", "HTTP 401", "bearer token")
        assert "wrong" not in str(caught.value)
        monkeypatch.setenv("MY_KEY", "s3cret")
        policy = CompletionsConfig(url + "/v1/completions", completions_api_key_env="MY_KEY").policy(
            tokenizer, PROFILE, PolicyConfig(max_new_tokens=3).generation_config()
        )
        assert len(policy.generate([_request(tokenizer)])[0].ids) >= 1


def test_bad_settings_and_an_unknown_model_are_one_line(tiny_server, tokenizer):
    url, _ = tiny_server
    with pytest.raises(Mem1InputError, match="must start with http"):
        CompletionsConfig(completions_url="127.0.0.1:8000")
    with pytest.raises(Mem1InputError, match="concurrency"):
        CompletionsConfig(completions_url=url, completions_concurrency=0)
    with pytest.raises(Mem1InputError) as caught:
        RemotePolicy(url, tokenizer, PROFILE, model="other-model")
    _one_line(caught.value, "does not serve 'other-model'", MODEL_NAME)


def test_mem1_run_generates_on_the_server(tiny_server, hotpot_env, tmp_path, capsys):
    """``mem1 run --completions-url``: the tokenizer and agent settings from --model, the responses
    from the server (here a tiny random model over the same vocabulary)."""
    from mem1_hf import cli

    url, app = tiny_server
    index = hotpot_env.save(tmp_path / "index")
    before = len(app.state.requests)
    argv = ["run", "--index", str(index), "--model", "base", "--completions-url", url, "--json"]
    status = cli.main(
        [
            *argv,
            "--max-turns",
            "2",
            "--max-new-tokens",
            "6",
            "Who is older, Annie Morton or Terry Richardson?",
        ]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    out = json.loads(captured.out)
    assert 1 <= len(out["turns"]) <= 2 and out["turns"][0]["generated_tokens"] <= 6
    assert len(app.state.requests) - before == len(out["turns"])
    down = f"http://127.0.0.1:{free_port()}"
    status = cli.main([*argv[:-3], "--completions-url", down, "q?"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1 and "connection refused" in err[0] and down in err[0]


def test_mem1_eval_generates_on_the_server(tiny_server, tmp_path, capsys):
    """``mem1 eval --completions-url``: every task's turns are requests to the server."""
    from conftest import HOTPOT_DEV, WEBSHOP_EXPERT_EVAL_ARGS, require_data

    from mem1_hf import cli

    require_data()
    url, app = tiny_server
    before = len(app.state.requests)
    out = tmp_path / "run"
    argv = [
        "eval", "--source", f"hotpotqa={HOTPOT_DEV}", "--source-limit", "40", "--objectives", "1",
        "--modes", "mem1", "--limit", "2", "--max-turns", "2", "--max-new-tokens", "4",
        "--model", "base", "--completions-url", url, "--out", str(out),
    ]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (out / "trajectories.jsonl").read_text().splitlines()]
    assert len(records) == 2
    assert len(app.state.requests) - before == sum(len(r["turns"]) for r in records) >= 2
    capsys.readouterr()
    expert = ["eval", *WEBSHOP_EXPERT_EVAL_ARGS, "--completions-url", url, "--out", str(tmp_path / "e")]
    assert cli.main(expert) == 2
    assert "--completions-url generates for --policy model" in capsys.readouterr().err
