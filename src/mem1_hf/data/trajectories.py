"""Turn-level trajectory datasets (``mem1 trajectories``): the rows SFT and RL train on.

A policy (a family's scripted expert, or a model) runs tasks through the agent loop: composed
QA tasks (the :class:`~mem1_hf.families.qa.expert.QAExpertPolicy`) or WebShop goals (``--env webshop``,
the :class:`~mem1_hf.families.webshop.expert_policy.WebShopExpertPolicy`); every turn becomes one row: ``input_ids`` =
the turn's input ids + its output ids exactly as the loop saw and produced them (token in,
token out: nothing is decoded and re-tokenized), ``completion_mask`` = 0 on the input and 1
on the output, plus readable text, the task id, the turn, the objective count, and the task's
outcome reward (QA: EM, per-objective mean; WebShop: WebShop's reward). The folder is Hub-ready: ``data/<split>.parquet``
and a dataset card ``README.md``; ``load_dataset(DIR)`` reads it, TRL's ``SFTTrainer`` trains
on it with ``completion_only_loss=True``.

Each finished task is appended to ``DIR/tasks.jsonl`` at once, so rerunning the same command
after an interruption resumes; ``DIR/run.json`` keeps the settings (a resume with other
settings is refused).

Example:
    $ mem1 trajectories --data out/qa_2obj --split train --policy expert --out runs/traj_2obj
    $ mem1 trajectories --env webshop --products P.json.gz --attributes A.json --limit 100 --out runs/traj_shop
    >>> rows = load_dataset("runs/traj_2obj", split="train")  # doctest: +SKIP
    >>> rows[0]["completion_mask"][-1]  # doctest: +SKIP
    1
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mem1_hf.data.run_log import RunLog, load_records
from mem1_hf.errors import Mem1InputError
from mem1_hf.loop import Trajectory, agent_setting_defaults

TASKS_FILE = "tasks.jsonl"
SETTINGS_FILE = "run.json"


def turn_rows(
    trajectory: Trajectory,
    tokenizer,
    golds: Sequence[Sequence[str]],
    extra: dict[str, Any],
    skip_invalid: bool = False,
    outcome: dict[str, float] | None = None,
) -> list[dict]:
    """The rows of one finished task: one per turn (see the module docstring).

    ``skip_invalid`` leaves out invalid turns (the scripted expert's deliberate slips: the row
    after one, which holds it as memory, is the one to learn from). ``outcome`` gives the
    task's ``reward`` / ``em_sum`` / ``f1`` where there are no gold answers to score (WebShop).

    Example:
        >>> rows = turn_rows(trajectory, tokenizer, [["Paris"]], {"policy": "expert"})  # doctest: +SKIP
        >>> rows[0]["input_ids"] == trajectory.turns[0].input_ids + trajectory.turns[0].output_ids  # doctest: +SKIP
        True
    """
    from mem1_hf.scoring import score_task

    if outcome is None:
        score = score_task(trajectory.answer_text, golds)
        outcome = {"reward": score.em_mean, "em_sum": score.em_sum, "f1": score.f1_mean}
    rows = []
    for turn in trajectory.turns:
        if skip_invalid and turn.parsed.action == "invalid":
            continue
        rows.append(
            {
                "task_id": trajectory.task.id,
                "turn": turn.index,
                "n_turns": len(trajectory.turns),
                "n_objectives": len(trajectory.task.questions),
                "input_ids": list(turn.input_ids) + list(turn.output_ids),
                "completion_mask": [0] * len(turn.input_ids) + [1] * len(turn.output_ids),
                "context_text": tokenizer.decode(turn.input_ids),
                "response_text": turn.response,
                "action": turn.parsed.action,
                "completion_logprobs": list(turn.logprobs),
                "reward": outcome["reward"],
                "em_sum": outcome["em_sum"],
                "f1": outcome["f1"],
                "answer_text": trajectory.answer_text,
                "questions": list(trajectory.task.questions),
                "golds": [list(g) for g in golds],
                "mode": trajectory.mode,
                "stop_reason": trajectory.stop_reason,
                **extra,
            }
        )
    return rows


def features():
    """The ``datasets.Features`` of a trajectory row (explicit: ids as int32, masks as int8)."""
    from datasets import Features, List, Value

    return Features(
        {
            "task_id": Value("string"),
            "turn": Value("int32"),
            "n_turns": Value("int32"),
            "n_objectives": Value("int32"),
            "input_ids": List(Value("int32")),
            "completion_mask": List(Value("int8")),
            "context_text": Value("string"),
            "response_text": Value("string"),
            "action": Value("string"),
            "completion_logprobs": List(Value("float32")),
            "reward": Value("float32"),
            "em_sum": Value("float32"),
            "f1": Value("float32"),
            "answer_text": Value("string"),
            "questions": List(Value("string")),
            "golds": List(List(Value("string"))),
            "mode": Value("string"),
            "stop_reason": Value("string"),
            "policy": Value("string"),
            "source_split": Value("string"),
        }
    )


# ----------------------------------------------------------------------------- resuming


def check_settings(out: Path, settings: dict[str, Any]) -> None:
    """Write ``run.json`` or refuse to resume a run made with other settings."""
    path = out / SETTINGS_FILE
    if path.is_file():
        before = json.loads(path.read_text())
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        if changed:
            details = ", ".join(f"{k}: {before.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            raise Mem1InputError(
                f"{out} holds trajectories made with other settings ({details}); use another --out"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------- the dataset folder


def summarize(tasks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per objective count: tasks, rows, EM (mean per objective), valid-action rate, searches per task.

    WebShop tasks (one objective each) report their mean ``reward`` and ``success_rate`` too (their
    ``em`` is the reward: the row field both families fill).
    """
    out: dict[str, Any] = {}
    for n in sorted({t["n_objectives"] for t in tasks}):
        group = [t for t in tasks if t["n_objectives"] == n]
        rows = [r for t in group for r in t["rows"]]
        out[str(n)] = {
            "tasks": len(group),
            "rows": len(rows),
            "em": round(sum(t["em"] for t in group) / len(group), 4),
            "valid_action_rate": round(sum(r["action"] != "invalid" for r in rows) / max(len(rows), 1), 4),
            "searches_per_task": round(sum(_is_search(r) for r in rows) / len(group), 3),
            "answered": round(sum(t["answered"] for t in group) / len(group), 4),
            "mean_row_tokens": round(sum(len(r["input_ids"]) for r in rows) / max(len(rows), 1), 1),
        }
        if any("success" in t for t in group):
            out[str(n)].update(
                reward=out[str(n)]["em"],
                success_rate=round(sum(bool(t.get("success")) for t in group) / len(group), 4),
                turns_per_task=round(len(rows) / len(group), 2),
            )
    return out


def _is_search(row: dict[str, Any]) -> bool:
    """A search turn: QA's ``<search>`` action, or a WebShop ``search[...]`` inside ``<answer>``."""
    return row["action"] == "search" or (
        row["action"] == "answer" and "<answer>search[" in (row["response_text"] or "")
    )


def render_card(settings: dict[str, Any], summary: dict[str, Any], split: str, n_rows: int) -> str:
    """The dataset card (YAML header for the Hub + what the rows are and how they were made)."""
    if settings.get("env") == "webshop":
        return render_webshop_card(settings, summary, split, n_rows)
    table = "\n".join(
        f"| {n} | {s['tasks']} | {s['rows']} | {s['em']:.3f} | {s['valid_action_rate']:.3f} | "
        f"{s['searches_per_task']:.2f} | {s['mean_row_tokens']:.0f} |"
        for n, s in summary.items()
    )
    size = _size_category(n_rows)
    policy = settings["policy"] if settings["policy"] != "model" else f"model `{settings['model']}`"
    return f"""---
license: cc-by-sa-4.0
language: [en]
task_categories: [question-answering, text-generation]
tags: [mem1, agent, multi-turn, trajectories, retrieval]
size_categories: [{size}]
configs:
- config_name: default
  data_files:
  - split: {split}
    path: data/{split}.parquet
---

# MEM1 turn-level trajectories

One row per agent turn, written by `mem1 trajectories` (mem1-hf) with policy {policy} on the
`{split}` split of composed multi-objective QA tasks ({", ".join(settings["data"])}), mode
`{settings["mode"]}`, BM25 retrieval, top-{settings["topk"]} documents, observations cut to
{settings["max_obs_tokens"]} tokens, {settings["max_turns"] or "6 (up to 4 objectives) / N+4"} turns.

* `input_ids`: the turn's input ids (built by the keep rule: task prompt + last internal state
  and action + last observation) followed by the generated ids, exactly as the agent loop saw
  and produced them (never re-tokenized); token ids of the tokenizer of `{settings["tokenizer"]}`.
* `completion_mask`: 0 on the input, 1 on the generated ids (train with TRL's `SFTTrainer`
  and `completion_only_loss=True`, or the loss covers the prompt too).
* `context_text`, `response_text`: the same, readable; `action`: search / answer / invalid.
* `task_id`, `turn`, `n_turns`, `n_objectives`, `questions`, `golds`, `answer_text`, `stop_reason`.
* `reward`: the task's outcome, EM as a per-objective mean (0..1); `em_sum` (MEM1's summed EM), `f1`.
* `completion_logprobs`: the policy's log-probs of the generated ids (0 for the scripted expert).

| objectives | tasks | rows | EM (mean) | valid actions | searches / task | tokens / row |
|---|---|---|---|---|---|---|
{table}

Command: `{settings["command"]}`

The questions come from HotpotQA (CC BY-SA 4.0) and NQ-open (CC BY-SA 3.0) and the passages
from Wikipedia through them; cite the original datasets when you use these rows.
"""


def _size_category(n_rows: int) -> str:
    return "n<1K" if n_rows < 1000 else ("1K<n<10K" if n_rows < 10_000 else "10K<n<100K")


def render_webshop_card(settings: dict[str, Any], summary: dict[str, Any], split: str, n_rows: int) -> str:
    """The card of WebShop trajectories: same row format as QA's, WebShop's reward as the outcome."""
    s = summary["1"]
    policy = settings["policy"] if settings["policy"] != "model" else f"model `{settings['model']}`"
    return f"""---
license: mit
language: [en]
task_categories: [text-generation]
tags: [mem1, agent, multi-turn, trajectories, webshop]
size_categories: [{_size_category(n_rows)}]
configs:
- config_name: default
  data_files:
  - split: {split}
    path: data/{split}.parquet
---

# MEM1 turn-level trajectories: WebShop

One row per agent turn, written by `mem1 trajectories --env webshop` (mem1-hf) with policy
{policy} on the `{split}` goals of WebShop's small setup (1,000 products; goal split seed
{settings["shop_seed"]}), mode `{settings["mode"]}`, prompt profile `mem1-webshop` (`<think>` is
discarded after each turn, `<summary>` is the memory, the action is `search[...]` / `click[...]`
inside `<answer>`), observations cut to {settings["max_obs_tokens"]} tokens,
{settings["max_turns"] or 10} turns.

* `input_ids`: the turn's input ids (built by the keep rule: task prompt + last summary and
  action + the current page) followed by the generated ids, exactly as the agent loop saw and
  produced them (never re-tokenized); token ids of the tokenizer of `{settings["tokenizer"]}`.
* `completion_mask`: 0 on the input, 1 on the generated ids (train with TRL's `SFTTrainer`
  and `completion_only_loss=True`).
* `context_text`, `response_text`: the same, readable; `action`: `answer` (a valid
  `<answer>ACTION</answer>`) or `invalid`.
* `task_id` (the goal id), `turn`, `n_turns`, `questions` (the instruction), `stop_reason`
  (`bought` when the episode ended with Buy Now).
* `reward`: WebShop's final reward of the episode (0..1; its type, attribute, option and price
  terms); `em_sum`: success (reward = 1); `f1`: the reward again; `golds`: empty.
* `completion_logprobs`: the policy's log-probs of the generated ids (0 for the scripted expert).

| goals | rows | mean reward | success rate | valid actions | turns / goal | tokens / row |
|---|---|---|---|---|---|---|
| {s["tasks"]} | {s["rows"]} | {s["reward"]:.3f} | {s["success_rate"]:.3f} | {s["valid_action_rate"]:.3f} | {s["turns_per_task"]:.2f} | {s["mean_row_tokens"]:.0f} |

Command: `{settings["command"]}`

WebShop (Yao et al., 2022; princeton-nlp/WebShop) is MIT-licensed; cite it when you use these rows.
"""


def write_dataset(out: Path, tasks: Sequence[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    """Write ``data/<split>.parquet``, ``summary.json`` and ``README.md``; return the summary."""
    from datasets import Dataset

    split = settings["split"]
    rows = [r for t in tasks for r in t["rows"]]
    if not rows:
        raise Mem1InputError("no trajectory rows to write")
    (out / "data").mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows, features=features()).to_parquet(str(out / "data" / f"{split}.parquet"))
    summary = summarize(tasks)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "README.md").write_text(render_card(settings, summary, split, len(rows)))
    return summary


# ----------------------------------------------------------------------------- the job


def _load_rows(specs: Sequence[str], split: str, objectives: list[int] | None, limit: int | None):
    from mem1_hf.families.qa import rows_from_data

    by_n, corpora = rows_from_data(list(specs), split)
    chosen = objectives or sorted(by_n)
    missing = [n for n in chosen if n not in by_n]
    if missing:
        raise Mem1InputError(
            f"no {split} tasks with {missing} objectives in the data (it has: {sorted(by_n)})"
        )
    return {n: by_n[n][:limit] if limit else by_n[n] for n in chosen}, corpora


def run(args: argparse.Namespace, model=None, tokenizer=None) -> dict[str, Any]:
    """Make (or resume) the trajectory dataset described by the parsed ``args``; return the summary."""
    from tqdm.auto import tqdm

    from mem1_hf.families.qa import max_turns_for, retrieval_env
    from mem1_hf.loop import AgentLoop, LoopConfig, Task

    if args.policy == "expert" and (args.do_sample or args.model):
        raise Mem1InputError("--model / --do-sample are for --policy model; the expert is scripted")
    if args.limit is not None and args.limit < 1:
        raise Mem1InputError(f"--limit must be >= 1, got {args.limit}")
    resolve_agent_settings(args)
    check_generation_flags(args)
    if getattr(args, "env", "qa") == "webshop":
        return run_webshop(args, model, tokenizer)
    if not args.data:
        raise Mem1InputError("--data is required (a `mem1 compose` directory), or use --env webshop")
    from mem1_hf.evaluation.cli import parse_objectives

    objectives = parse_objectives(args.objectives) if args.objectives else None
    rows_by_n, corpora = _load_rows(args.data, args.split, objectives, args.limit)
    out = Path(args.out)
    settings = {
        "data": [Path(d).name for d in args.data],
        "objectives": sorted(rows_by_n),
        "topk": args.topk,
        **_run_settings(args),
    }
    slip_rate = getattr(args, "slip_rate", 0.0)
    if slip_rate:  # recorded only when used: older folders resume unchanged
        if args.policy != "expert" or not 0 < slip_rate <= 1:
            raise Mem1InputError(f"--slip-rate (0..1, got {slip_rate}) is for --policy expert")
        settings.update(slip_rate=slip_rate, max_new_tokens=args.max_new_tokens)
    fit_tokens = getattr(args, "fit_tokens", None)
    if fit_tokens is not None:  # recorded only when used, as --slip-rate
        if args.policy != "expert" or fit_tokens < 32:
            raise Mem1InputError(f"--fit-tokens (>= 32, got {fit_tokens}) is for --policy expert")
        settings.update(fit_tokens=fit_tokens)
    if args.prompt_profile != agent_setting_defaults()["prompt_profile"]:  # a checkpoint's other profile
        settings.update(prompt_profile=args.prompt_profile)
    check_settings(out, settings)
    log = out / TASKS_FILE
    done_tasks = load_records(log)
    done = {(t["n_objectives"], t["task_id"]) for t in done_tasks}

    model, tokenizer = _load_policy_model(args, model, tokenizer)
    settings["tokenizer"] = str(args.model or "SmolLM2-135M-Instruct")
    env = retrieval_env(corpora, corpus=args.corpus, index=args.index)
    pending = {n: [r for r in rows if (n, r["task_id"]) not in done] for n, rows in rows_by_n.items()}
    bar = tqdm(total=sum(len(v) for v in pending.values()), desc="trajectories", unit="task", disable=None)
    with RunLog(log) as run_log, bar:
        for n, rows in pending.items():
            if not rows:
                continue
            config = LoopConfig(
                mode=args.mode,
                prompt_profile=args.prompt_profile,
                max_turns=max_turns_for(n, args.max_turns),
                batch_size=args.batch_size,
                max_obs_tokens=args.max_obs_tokens,
                topk=args.topk,
            )
            golds = {r["task_id"]: r for r in rows}
            policy = _policy(args, model, tokenizer, golds, config)

            def write(trajectory: Trajectory, n: int = n, golds: dict = golds) -> None:
                answers = golds[trajectory.task.id]["answers"]
                extra = {"policy": args.policy, "source_split": args.split}
                task_rows = turn_rows(
                    trajectory, tokenizer, answers, extra, skip_invalid=args.policy == "expert"
                )
                record = {
                    "task_id": trajectory.task.id,
                    "n_objectives": n,
                    "em": task_rows[0]["reward"] if task_rows else 0.0,
                    "answered": trajectory.stop_reason == "answered",
                    "rows": task_rows,
                }
                run_log.append(record)
                bar.update(1)

            tasks = [Task.from_row(r) for r in rows]
            AgentLoop(policy, env, config).run(tasks, on_finish=write)
    settings["command"] = getattr(args, "command_line", None) or command_of(args)
    wanted = {(n, r["task_id"]) for n, rows in rows_by_n.items() for r in rows}
    finished = [t for t in load_records(log) if (t["n_objectives"], t["task_id"]) in wanted]
    return write_dataset(out, finished, settings)


def _run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings both families record in ``run.json``: split, policy, generation and budgets."""
    return {
        "split": args.split,
        "limit": args.limit,
        "policy": args.policy,
        "model": args.model,
        "mode": args.mode,
        "max_obs_tokens": args.max_obs_tokens,
        "max_turns": args.max_turns,
        "max_new_tokens": args.max_new_tokens if args.policy == "model" else None,
        "do_sample": args.do_sample,
        "temperature": args.temperature if args.do_sample else None,
        "seed": args.seed,
    }


def _load_policy_model(args: argparse.Namespace, model, tokenizer):
    """The model and tokenizer of ``--policy model`` (or only the tokenizer for the expert)."""
    if tokenizer is None:
        from transformers import AutoTokenizer

        from mem1_hf.defaults import tokenizer_source

        if args.policy == "model":
            from mem1_hf.model_loading import load_model

            model, tokenizer = load_model(args.model, device=args.device, family=getattr(args, "env", "qa"))
        else:
            tokenizer = AutoTokenizer.from_pretrained(tokenizer_source(args.model))
    if args.do_sample:
        import torch

        torch.manual_seed(args.seed)
    return model, tokenizer


def run_webshop(args: argparse.Namespace, model=None, tokenizer=None) -> dict[str, Any]:
    """``mem1 trajectories --env webshop``: WebShop goals through the loop, one row per turn.

    The same loop, keep rule, row format, resume log and card as QA; the outcome of a row is
    WebShop's reward of its episode. The expert is the family's scripted expert
    (:meth:`~mem1_hf.families.webshop.WebShopTaskEnv.expert_policy`).
    """
    from tqdm.auto import tqdm

    from mem1_hf.families.webshop.play import env_from_args
    from mem1_hf.families.webshop.task_env import SPLITS, WebShopTaskEnv, _fingerprint
    from mem1_hf.loop import AgentLoop, LoopConfig, Task
    from mem1_hf.prompts import get_profile

    if args.data or args.corpus or args.index:
        raise Mem1InputError("--env webshop takes --products/--attributes, not --data/--corpus/--index")
    if getattr(args, "slip_rate", 0.0) or getattr(args, "fit_tokens", None) is not None:
        raise Mem1InputError("--slip-rate / --fit-tokens are the QA expert's; WebShop's expert has neither")
    if args.split not in SPLITS:
        raise Mem1InputError(f"--split {args.split!r}: WebShop has train, test, human and all")
    if args.objectives:
        raise Mem1InputError("--objectives is for QA; a WebShop goal is one objective")
    shop_args = argparse.Namespace(**{**vars(args), "seed": args.shop_seed})
    shop = env_from_args(shop_args)
    goals = shop.goals(args.split)
    goals = goals[: args.limit] if args.limit else goals
    if not goals:
        raise Mem1InputError(f"the WebShop {args.split} split has no goals")
    out = Path(args.out)
    max_turns = WebShopTaskEnv.turn_budget(1, args.max_turns)
    settings = {
        "env": "webshop",
        **_run_settings(args),
        "shop_seed": args.shop_seed,
        **shop.reward_settings(),
        **{k: v for k, v in _fingerprint(shop_args, shop).items() if k.endswith("sha256")},
    }
    check_settings(out, settings)
    log = out / TASKS_FILE
    done = {t["task_id"] for t in load_records(log)}
    model, tokenizer = _load_policy_model(args, model, tokenizer)
    settings["tokenizer"] = str(args.model or "SmolLM2-135M-Instruct")
    config = LoopConfig(
        mode=args.mode,
        prompt_profile="mem1-webshop",
        max_turns=max_turns,
        batch_size=args.batch_size,
        max_obs_tokens=args.max_obs_tokens,
    )
    task_env = WebShopTaskEnv(shop, get_profile(config.prompt_profile))
    if args.policy == "expert":
        policy = task_env.expert_policy(tokenizer, max_turns)
    else:
        policy = _policy(args, model, tokenizer, {}, config)
    pending = [g for g in goals if g.goal_id not in done]
    bar = tqdm(total=len(pending), desc="trajectories", unit="goal", disable=None)
    with RunLog(log) as run_log, bar:

        def write(trajectory: Trajectory) -> None:
            reward = float(trajectory.reward or 0.0)
            outcome = {"reward": reward, "em_sum": float(reward >= 1.0), "f1": reward}
            extra = {"policy": args.policy, "source_split": args.split}
            task_rows = turn_rows(trajectory, tokenizer, [], extra, outcome=outcome)
            record = {
                "task_id": trajectory.task.id,
                "n_objectives": 1,
                "em": reward,
                "success": reward >= 1.0,
                "answered": trajectory.stop_reason == "bought",
                "rows": task_rows,
            }
            run_log.append(record)
            bar.update(1)

        if pending:
            AgentLoop(policy, task_env, config).run([Task.from_row(g) for g in pending], on_finish=write)
    settings["command"] = getattr(args, "command_line", None) or command_of(args)
    wanted = {g.goal_id for g in goals}
    finished = [t for t in load_records(log) if t["task_id"] in wanted]
    return write_dataset(out, finished, settings)


def check_generation_flags(args: argparse.Namespace) -> None:
    """Refuse ``--max-new-tokens``, ``--temperature``, ``--top-p`` and ``--device`` values that make
    no sense, before any data or model loads (the rules are :func:`mem1_hf.sampling.check_sampling`'s
    and :func:`mem1_hf.model_loading.check_device`'s, the ones ``mem1 run`` / ``mem1 eval`` use)."""
    from mem1_hf.sampling import MAX_NEW_TOKENS, check_sampling

    sampling = {"do_sample": args.do_sample, "temperature": args.temperature, "top_p": args.top_p}
    # None: not given yet (the checkpoint's fills it); the expert's slips use the budget too
    budget = args.max_new_tokens if args.max_new_tokens is not None else MAX_NEW_TOKENS
    check_sampling(budget, sampling)
    if args.policy == "model" and getattr(args, "device", None):
        from mem1_hf.model_loading import check_device

        check_device(args.device)


def resolve_agent_settings(args: argparse.Namespace) -> str:
    """Fill in place the agent settings the flags leave ``None``: from the model's
    ``agent_config.json`` with ``--policy model``, else the library defaults (the expert has no
    checkpoint); ``--max-turns`` stays ``None`` for the family's budget. Returns the stderr line
    naming the settings taken from the checkpoint ("" if none).

    Example:
        >>> ns = argparse.Namespace(policy="expert", model=None, env="qa", mode=None, topk=2,
        ...     max_obs_tokens=None, max_new_tokens=None, max_turns=None)
        >>> resolve_agent_settings(ns), ns.topk, ns.max_obs_tokens, ns.mode
        ('', 2, 512, 'mem1')
    """
    from mem1_hf.agent_config import SETTING_NAMES, AgentConfig

    checkpoint = AgentConfig()
    if args.policy == "model":
        from mem1_hf.model_loading import agent_config_for

        checkpoint = agent_config_for(args.model, getattr(args, "env", "qa"))
    given = {name: getattr(args, name, None) for name in SETTING_NAMES}  # no --prompt-profile flag
    chosen = {**agent_setting_defaults(), "max_turns": None, **checkpoint.merge(given)}
    for name in given:
        setattr(args, name, chosen[name])
    return checkpoint.describe(given)


def _policy(args: argparse.Namespace, model, tokenizer, golds: dict, config):
    if args.policy == "expert":
        from mem1_hf.families.qa.expert import QAExpertPolicy

        return QAExpertPolicy(
            tokenizer,
            golds,
            config.profile,
            max_turns=config.max_turns,
            slip_rate=getattr(args, "slip_rate", 0.0),
            slip_seed=args.seed,
            max_new_tokens=args.max_new_tokens,
            fit_tokens=getattr(args, "fit_tokens", None),
        )
    from mem1_hf.policy import ModelPolicy, PolicyConfig

    if args.do_sample:
        generation = PolicyConfig(args.max_new_tokens, temperature=args.temperature).generation_config(
            do_sample=True, top_p=args.top_p
        )
    else:
        generation = PolicyConfig(args.max_new_tokens).generation_config()
    return ModelPolicy(model, tokenizer, config.profile, generation)


def command_of(args: argparse.Namespace) -> str:
    """The ``mem1 trajectories`` command of ``args`` (local paths by name only, for the card).

    Example:
        >>> ns = argparse.Namespace(data=["/x/qa_2obj"], split="train", policy="expert", model=None,
        ...     objectives=None, limit=5, mode="mem1", max_turns=None, topk=2, max_obs_tokens=160,
        ...     max_new_tokens=256, do_sample=False, temperature=1.0, top_p=1.0, seed=0, out="/x/t")
        >>> command_of(ns)
        'mem1 trajectories --data qa_2obj --split train --policy expert --limit 5 --topk 2 --max-obs-tokens 160 --out t'
    """
    parts = ["mem1 trajectories"] + [f"--data {Path(d).name}" for d in args.data or ()]
    if getattr(args, "env", "qa") == "webshop":
        parts.append("--env webshop")
        if getattr(args, "shop_seed", 0) != 0:
            parts.append(f"--shop-seed {args.shop_seed}")
    parts += [f"--split {args.split}", f"--policy {args.policy}"]
    if args.policy == "model":
        parts.append(f"--model {Path(args.model).name if args.model else 'default'}")
        if args.max_new_tokens is not None:
            parts.append(f"--max-new-tokens {args.max_new_tokens}")
        if args.do_sample:
            parts.append(
                f"--do-sample --temperature {args.temperature} --top-p {args.top_p} --seed {args.seed}"
            )
    defaults = agent_setting_defaults()
    for flag, value, default in (  # a None value: not given (the checkpoint's or the default)
        ("--objectives", args.objectives, None),
        ("--limit", args.limit, None),
        ("--mode", args.mode, defaults["mode"]),
        ("--max-turns", args.max_turns, None),
        ("--topk", args.topk, defaults["topk"]),
        ("--max-obs-tokens", args.max_obs_tokens, defaults["max_obs_tokens"]),
        ("--slip-rate", getattr(args, "slip_rate", 0.0), 0.0),
        ("--fit-tokens", getattr(args, "fit_tokens", None), None),
    ):
        if value is not None and value != default:
            parts.append(f"{flag} {value}")
    parts.append(f"--out {Path(args.out).name}")
    return " ".join(parts)


def _cmd_trajectories(args: argparse.Namespace) -> None:
    args.command_line = command_of(args)  # as typed: before the checkpoint fills in its settings
    check_generation_flags(args)  # a bad flag: one line, before anything else is printed or read
    line = resolve_agent_settings(args)
    if line:
        print(line, file=sys.stderr)
    summary = run(args)
    for n, s in summary.items():
        if "reward" in s:  # WebShop
            print(
                f"{s['tasks']} goals, {s['rows']} rows, mean reward {s['reward']:.3f}, success "
                f"{s['success_rate']:.3f}, valid actions {s['valid_action_rate']:.3f}"
            )
            continue
        print(
            f"{n} objectives: {s['tasks']} tasks, {s['rows']} rows, EM {s['em']:.3f}, "
            f"valid actions {s['valid_action_rate']:.3f}, searches/task {s['searches_per_task']:.2f}"
        )
    print(f"wrote {args.out}/data/{args.split}.parquet and {args.out}/README.md")


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mem1 trajectories`` to the ``mem1`` command line (see ``mem1_hf.cli.PLUGINS``).

    Example:
        >>> parser = argparse.ArgumentParser(prog="mem1")
        >>> _ = register_cli(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["trajectories", "--data", "d", "--out", "o"]).policy
        'expert'
    """
    from mem1_hf.keep_rule import MODES
    from mem1_hf.sampling import MAX_TEMPERATURE

    p = subparsers.add_parser(
        "trajectories",
        help="write turn-level trajectory datasets (SFT / RL rows) from an expert or a model",
        description="Run the scripted QA expert (or a model) over composed QA tasks through the agent "
        "loop and write one row per turn (input_ids, completion_mask, text, task id, turn, objective "
        "count, reward) as a Hub-ready dataset folder with a card. Rerunning resumes.",
    )
    p.add_argument("--env", choices=("qa", "webshop"), default="qa", help="task family (default qa)")
    p.add_argument("--data", action="append", default=None, help="QA: `mem1 compose` directory (repeatable)")
    p.add_argument("--split", default="train", help="split of --data, or of WebShop's goals (default train)")
    p.add_argument("--out", required=True, help="output dataset folder (resumed if it exists)")
    p.add_argument("--policy", choices=("expert", "model"), default="expert")
    p.add_argument(
        "--model",
        default=None,
        help="--policy model: path, Hub id, adapter, 'default' (the trained agent, the default) or 'base'",
    )
    p.add_argument("--objectives", default=None, help="e.g. 1,2,4 (default: all in --data)")
    p.add_argument("--limit", type=int, default=None, help="tasks per objective count")
    # agent settings: None = not given (--policy model: the checkpoint's agent_config.json, else the default)
    defaults = agent_setting_defaults()
    checkpoint = "default: --policy model: the checkpoint's agent_config.json, else"
    p.add_argument("--mode", choices=MODES, default=None, help=f"{checkpoint} {defaults['mode']}")
    p.add_argument(
        "--max-turns",
        type=int,
        default=None,
        help=f"{checkpoint} 6 up to 4 objectives, then N+4 (WebShop: 10)",
    )
    p.add_argument("--topk", type=int, default=None, help=f"{checkpoint} {defaults['topk']}")
    p.add_argument(
        "--max-obs-tokens", type=int, default=None, help=f"{checkpoint} {defaults['max_obs_tokens']}"
    )
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help=f"the model's turn budget (and a slip's length); {checkpoint} {defaults['max_new_tokens']}",
    )
    p.add_argument(
        "--slip-rate",
        type=float,
        default=0.0,
        help="--policy expert: chance that a search turn slips into an invalid one (at most one per "
        "task) and the next turn recovers; slips get no row, the recovery does (default 0)",
    )
    p.add_argument(
        "--fit-tokens",
        type=int,
        default=None,
        help="--policy expert: the longest turn it writes (tokens); longer turns shorten their facts "
        "until they fit, so no row teaches a turn the model's --max-new-tokens would cut (default: no limit)",
    )
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--do-sample", action="store_true", help="--policy model: sample instead of greedy")
    p.add_argument(
        "--temperature", type=float, default=1.0, help=f"--do-sample: > 0, at most {MAX_TEMPERATURE:g}"
    )
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--device", default=None, help="--policy model: cpu, cuda, cuda:1 … (default: cuda if present)"
    )
    retrieval = p.add_mutually_exclusive_group()
    retrieval.add_argument("--corpus", help="corpus JSONL (default: the data's corpus.jsonl)")
    retrieval.add_argument("--index", help="index directory from `mem1 index`")
    shop = p.add_argument_group("WebShop (--env webshop)")
    from mem1_hf.families.webshop.play import ATTRIBUTES_VAR, PRODUCTS_VAR, QUERY_MAP_VAR, add_reward_args

    shop.add_argument("--products", default=None, help=f"product file (default: ${PRODUCTS_VAR})")
    shop.add_argument("--attributes", default=None, help=f"attribute file (default: ${ATTRIBUTES_VAR})")
    shop.add_argument("--goal-query-map", default=None, help=f"optional (default: ${QUERY_MAP_VAR})")
    shop.add_argument(
        "--shop-seed", type=int, default=0, help="WebShop's prices, price limits and goal split (default 0)"
    )
    add_reward_args(shop)
    p.set_defaults(func=_cmd_trajectories)
    return p
