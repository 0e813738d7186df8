"""``python -m mem1_hf.train`` / ``mem1 train``: train a MEM1 agent from a YAML config.

Three dataclasses make the whole command line and the YAML schema (``HfArgumentParser`` via
TRL's ``TrlParser``: ``--config FILE.yaml`` sets defaults, flags override them):
:class:`TrainScriptArguments` (data and environment), :class:`~mem1_hf.training.MEM1PPOConfig`
(the algorithm) and TRL's ``ModelConfig`` (model, dtype, attention, LoRA, 4-bit). A YAML whose
``trainer`` is ``sft`` goes to the SFT warm start (:mod:`mem1_hf.training.sft`).

Example:
    $ accelerate launch -m mem1_hf.train --config configs/qa_ppo.yaml
    $ mem1 train --config configs/qa_grpo_lora_cpu.yaml --max_steps 20 --output_dir runs/t
    $ mem1 train --config configs/qa_grpo_lora_cpu.yaml --resume_from_checkpoint runs/t/checkpoint-10
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from mem1_hf.errors import Mem1InputError

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # PPO lives in trl.experimental since 1.10


@dataclass
class TrainScriptArguments:
    """What to train on: the data and the environment the agent acts in."""

    trainer: str = field(
        default="ppo", metadata={"help": "`ppo` (MEM1PPOTrainer: PPO or GRPO) or `sft` (the SFT warm start)."}
    )
    data: str | None = field(
        default=None,
        metadata={
            "help": "A `mem1 compose` folder or Hub id (QA), or several comma-separated ones (e.g. 1- and "
            "2-objective tasks): their tasks are trained on together, searching one corpus (the folders' "
            "shared corpus.jsonl, or every passage of theirs once when they differ). Not used for "
            "WebShop (its goals are the tasks)."
        },
    )
    split: str = field(default="train", metadata={"help": "The split of `data` to train on."})
    env: str = field(
        default="qa", metadata={"help": "`qa` (search a corpus) or `webshop`.", "choices": ["qa", "webshop"]}
    )
    corpus: str | None = field(
        default=None,
        metadata={"help": "Corpus JSONL to index on the fly (default: the composed data's corpus)."},
    )
    index: str | None = field(
        default=None, metadata={"help": "An index folder from `mem1 index` (instead of --corpus)."}
    )
    retriever: str | None = field(
        default=None,
        metadata={"help": "`bm25` (default) or `dense`; with --index it must be the index's kind."},
    )
    embedder: str | None = field(
        default=None, metadata={"help": "Dense retriever: a sentence-transformers path or id."}
    )
    products: str | None = field(default=None, metadata={"help": "WebShop: the products JSON(.gz)."})
    attributes: str | None = field(default=None, metadata={"help": "WebShop: the attributes JSON."})
    max_tasks: int | None = field(default=None, metadata={"help": "Train on the first N tasks only."})
    critic_model_name_or_path: str | None = field(
        default=None, metadata={"help": "Critic initialisation (default: the policy's base model), PPO only."}
    )


def _read_trainer_kind(argv: Sequence[str]) -> str:
    """The ``--trainer`` flag, else the YAML's ``trainer`` key, else ``ppo`` (read before the full parse)."""
    import argparse

    from mem1_hf.settings import read_yaml_config

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--trainer", default=None)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(list(argv))
    if known.trainer:
        return known.trainer
    return str(read_yaml_config(known.config).get("trainer", "ppo")) if known.config else "ppo"


def parse(argv: Sequence[str]):
    """Parse ``argv`` into ``(script_args, MEM1PPOConfig, ModelConfig, ScoringConfig)``."""
    from trl import ModelConfig, TrlParser

    from mem1_hf.scoring import ScoringConfig
    from mem1_hf.training import MEM1PPOConfig

    class _Parser(TrlParser):
        def error(self, message: str):  # one line, not argparse's usage screen
            raise Mem1InputError(f"{message} (see `mem1 train --help`)")

    parser = _Parser((TrainScriptArguments, MEM1PPOConfig, ModelConfig, ScoringConfig), prog="mem1 train")
    try:
        return parser.parse_args_and_config(list(argv))
    except ValueError as err:  # unknown flags or YAML keys, values of the wrong type
        raise Mem1InputError(str(err).splitlines()[0]) from err


def build_env(script):
    """The environment and the training dataset named by ``script``."""
    from datasets import Dataset, concatenate_datasets

    if script.env == "webshop":
        from mem1_hf.families.webshop.env import WebShopEnv

        if not (script.products and script.attributes):
            raise Mem1InputError("--env webshop needs --products and --attributes")
        shop = WebShopEnv.from_files(products=script.products, attributes=script.attributes)
        goals = shop.goals(script.split)
        data = Dataset.from_dict({"goal_id": [g.goal_id for g in goals]})
        return shop, data
    from mem1_hf.data.compose import load_composed
    from mem1_hf.families.qa import corpora_of, retrieval_env

    if not script.data:
        raise Mem1InputError("--data is required: a `mem1 compose` folder or Hub id")
    sources = [s.strip() for s in script.data.split(",") if s.strip()]
    parts = [load_composed(source, script.split) for source in sources]
    try:
        data = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    except ValueError as err:  # the folders' columns differ
        raise Mem1InputError(f"cannot train on {script.data} together: {err}") from err
    env = retrieval_env(
        corpora_of(sources),
        corpus=script.corpus,
        index=script.index,
        retriever=script.retriever,
        embedder=script.embedder,
    )
    return env, data


def load_models(model_args, args):
    """Policy, tokenizer and (for GAE) critic from ``ModelConfig`` (the offline default when no path)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    from trl import get_quantization_config

    from mem1_hf.defaults import default_model_path

    source = model_args.model_name_or_path or str(default_model_path())
    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else None
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    quantization = get_quantization_config(model_args)
    kwargs = dict(
        revision=model_args.model_revision,
        trust_remote_code=getattr(model_args, "trust_remote_code", False),
        attn_implementation=model_args.attn_implementation or "sdpa",
        dtype=dtype or torch.float32,
    )
    if quantization is not None:
        kwargs.update(quantization_config=quantization, device_map={"": _local_device()})
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        policy = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        critic = None
        if args.critic_required:
            critic = AutoModelForSequenceClassification.from_pretrained(
                getattr(model_args, "critic_source", None) or source, num_labels=1, **kwargs
            )
            critic.config.pad_token_id = tokenizer.pad_token_id
    except (OSError, ValueError, ImportError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise Mem1InputError(f"cannot load model {source!r}: {first}") from err
    return policy, tokenizer, critic


def _local_device():
    """This process's device for a k-bit model (its GPU under accelerate, else the CPU)."""
    import torch
    from accelerate import PartialState

    return PartialState().process_index if torch.cuda.is_available() else "cpu"


#: a checkpoint's agent_config.json setting -> the MEM1PPOConfig field the rollouts read it from
ROLLOUT_FIELDS = {
    "prompt_profile": "prompt_profile",
    "mode": "mode",
    "topk": "topk",
    "max_obs_tokens": "max_obs_tokens",
    "max_new_tokens": "response_length",
    "max_turns": "max_turns",
}


def given_keys(argv: Sequence[str]) -> set[str]:
    """The config fields ``argv`` sets: its ``--flags`` and the keys of its ``--config`` YAML."""
    keys: set[str] = set()
    argv = list(argv)
    for i, token in enumerate(argv):
        if not token.startswith("--"):
            continue
        name, _, value = token[2:].partition("=")
        keys.add(name.replace("-", "_"))
        if name == "config":
            path = value or (argv[i + 1] if i + 1 < len(argv) else "")
            keys.update(_read_yaml_keys(path))
    return keys


def _read_yaml_keys(path: str) -> set[str]:
    from mem1_hf.settings import read_yaml_config

    try:
        return set(read_yaml_config(path))
    except Mem1InputError:
        return set()  # the parser reports a missing or malformed config


def apply_checkpoint_settings(argv: Sequence[str], args, model_args) -> str:
    """Rollouts run at the starting checkpoint's ``agent_config.json`` for every setting ``argv``
    (its flags and YAML) leaves unset: argument > checkpoint > library default, as everywhere.
    Returns the line to print ("" when the checkpoint set nothing).

    Example:
        >>> apply_checkpoint_settings(["--topk", "2"], args, model_args)  # doctest: +SKIP
        'settings from the checkpoint: max_obs_tokens=160, max_new_tokens=128'
    """
    from mem1_hf.agent_config import AgentConfig

    source = model_args.model_name_or_path
    checkpoint = AgentConfig.from_pretrained(source) if source else None
    if checkpoint is None:
        return ""
    explicit = given_keys(argv)
    given = {s: getattr(args, f) if f in explicit else None for s, f in ROLLOUT_FIELDS.items()}
    for setting, value in checkpoint.from_checkpoint(given).items():
        setattr(args, ROLLOUT_FIELDS[setting], value)
    return checkpoint.describe(given)


def run(argv: Sequence[str]) -> int:
    """Parse, build and train; returns the exit status (raises :class:`Mem1InputError` on bad input)."""
    if _read_trainer_kind(argv) == "sft":
        from mem1_hf.training import sft

        return int(sft.main(list(argv)) or 0)
    script, args, model_args, scoring = parse(argv)
    from trl import get_peft_config

    from mem1_hf.prompts import DEFAULT_PROFILE
    from mem1_hf.training import MEM1PPOTrainer

    taken = apply_checkpoint_settings(argv, args, model_args)
    if taken:
        print(taken, file=sys.stderr)
    if script.env == "webshop" and args.prompt_profile == DEFAULT_PROFILE:
        args.prompt_profile = "mem1-webshop"  # the only profile WebShop speaks
    env, data = build_env(script)
    if script.max_tasks:
        data = data.select(range(min(script.max_tasks, len(data))))
    model_args.critic_source = script.critic_model_name_or_path
    policy, tokenizer, critic = load_models(model_args, args)
    trainer = MEM1PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=None,
        value_model=critic,
        train_dataset=data,
        env=env,
        peft_config=get_peft_config(model_args),
        score_options=scoring.to_dict() if script.env == "qa" else None,
    )
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    trainer.save_model(args.output_dir)
    if trainer.accelerator.is_main_process:
        print(f"saved the trained policy to {args.output_dir}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry: one ``error: ...`` line and status 2 for a user's mistake."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except Mem1InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (resume with --resume_from_checkpoint OUTPUT_DIR/checkpoint-N)", file=sys.stderr)
        return 130


def register_cli(subparsers) -> None:
    """``mem1 train``: everything after it is passed to :func:`main` (the dataclasses' own flags)."""
    import argparse

    parser = subparsers.add_parser(
        "train",
        help="train a MEM1 agent (PPO/GRPO or SFT) from a YAML config",
        add_help=False,
        description="mem1 train --config configs/qa_grpo_lora_cpu.yaml [--flag value ...]; "
        "see `python -m mem1_hf.train --help` for every flag",
    )
    # listed here for `mem1 --help`; `mem1.cli.main` hands `mem1 train ...` straight to :func:`main`
    parser.add_argument("rest", nargs=argparse.REMAINDER)


if __name__ == "__main__":
    sys.exit(main())
