"""``MEM1PPOConfig``: TRL's ``PPOConfig`` plus what multi-turn, memory-pruned RL needs.

Every field documents itself (``metadata={"help": ...}``), so ``HfArgumentParser`` turns the class
into a command line and a YAML schema (``mem1 train --config configs/qa_grpo_lora_cpu.yaml
--max_steps 20``). Batch sizes are counted in *tasks* and *trajectories*, never in rows: one
update rolls out ``per_device_train_batch_size`` tasks per process, ``num_generations`` times
each, then makes ``num_ppo_epochs × num_mini_batches`` optimizer steps over mini-batches of
whole trajectories.

Example:
    >>> cfg = MEM1PPOConfig(output_dir="runs/t", advantage_estimator="grpo", num_generations=4,
    ...                     report_to="none")
    >>> cfg.kl_in_reward, cfg.critic_required
    (False, False)
    >>> MEM1PPOConfig(output_dir="runs/t", report_to="none").critic_required
    True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from transformers import GenerationConfig
from trl.experimental.ppo import PPOConfig

from mem1_hf.errors import Mem1InputError
from mem1_hf.loop import LoopConfig
from mem1_hf.policy import PolicyConfig
from mem1_hf.settings import same_as

LOGPROB_MODES = ("turns", "packed", "stitched")
ADVANTAGE_ESTIMATORS = ("gae", "grpo")
REWARD_METRICS = ("em", "f1")
KL_PLACEMENTS = ("auto", "reward", "loss")


@dataclass
class MEM1PPOConfig(PPOConfig):
    """Configuration of :class:`~mem1_hf.training.MEM1PPOTrainer` (see the module docstring)."""

    # ------------------------------------------------------------------ what is optimised
    advantage_estimator: str = field(
        default="gae",
        metadata={
            "help": "`gae`: PPO with a critic, GAE over a trajectory's action tokens across turns (the paper's). "
            "`grpo`: no critic; `num_generations` rollouts per task, advantage = group-normalised outcome.",
            "choices": list(ADVANTAGE_ESTIMATORS),
        },
    )
    logprob_mode: str = field(
        default="packed",
        metadata={
            "help": "How training recomputes log-probs and values. `turns`: one row per turn (exact). `packed`: "
            "one sequence per trajectory, prompt once, each turn's kept memory + observation duplicated, a 4D "
            "additive mask and per-turn positions (exact, cheaper). `stitched`: MEM1's paper, every token once "
            "under a mask hiding pruned tokens (approximate positions; its gap is logged).",
            "choices": list(LOGPROB_MODES),
        },
    )
    num_generations: int = field(
        default=1,
        metadata={"help": "Rollouts per task in each update (GRPO's group size; >= 2 for `grpo`)."},
    )
    reward_metric: str = field(
        default="em",
        metadata={
            "help": "QA outcome reward: exact match or token F1, averaged over the task's objectives.",
            "choices": list(REWARD_METRICS),
        },
    )
    format_reward: float = field(
        default=0.0,
        metadata={
            "help": "Added to the outcome reward × the fraction of turns with a valid action. The paper found "
            "it speeds convergence but lowers final accuracy: off (0) by default."
        },
    )
    invalid_action_penalty: float = field(
        default=0.0,
        metadata={
            "help": "Subtracted from the reward once per invalid turn (a response without a complete action). "
            "Unlike `format_reward` it cannot be earned by quitting early: a trajectory that stops after one "
            "valid turn gains nothing over one that keeps acting validly."
        },
    )
    kl_placement: str = field(
        default="auto",
        metadata={
            "help": "Where the KL to the reference goes: `reward` (a per-token penalty, PPO's default), "
            "`loss` (a k3 loss term, GRPO's default) or `auto` (by `advantage_estimator`).",
            "choices": list(KL_PLACEMENTS),
        },
    )
    drop_tied_groups: bool = field(
        default=False,
        metadata={
            "help": "GRPO: leave out of the update every group whose rewards all tie (DAPO's dynamic-sampling "
            "filter). Their advantage is 0, so the policy gradient loses nothing; what is saved is their "
            "replay and backward (most of a CPU step when most groups score 0). With `kl_coef` > 0 their KL "
            "term is dropped too. A step with no informative group makes no update."
        },
    )
    grpo_scale_by_std: bool = field(
        default=True,
        metadata={
            "help": "GRPO: divide a group's centred rewards by their standard deviation (0 when the group "
            "has one trajectory or equal rewards)."
        },
    )
    critic_learning_rate: float = field(
        default=1e-5,
        metadata={
            "help": "AdamW learning rate of the critic (MEM1 used 1e-5; the policy's is `learning_rate`)."
        },
    )
    micro_batch_trajectories: int = field(
        default=1,
        metadata={
            "help": "Trajectories per forward/backward pass inside a mini-batch (gradient accumulation, done "
            "by the trainer; the loss is a token mean over the whole mini-batch)."
        },
    )
    recompute_old_logprobs: bool = field(
        default=True,
        metadata={
            "help": "Recompute the old log-probs with a training forward after the rollout (the rollout's own "
            "log-probs are kept for `rollout/logprob_diff`). False trusts the rollout's (fp32 only)."
        },
    )

    # ------------------------------------------------------------------ the rollout (agent loop)
    mode: str = same_as(LoopConfig, "mode", help="The keep rule during rollouts (what survives a turn).")
    prompt_profile: str = same_as(
        LoopConfig, "prompt_profile", help="Prompt profile (WebShop training switches to `mem1-webshop`)."
    )
    max_turns: int | None = field(
        default=None,
        metadata={"help": "Turns per task; None = the task family's budget for its objective count."},
    )
    max_obs_tokens: int = same_as(LoopConfig, "max_obs_tokens")
    topk: int = same_as(LoopConfig, "topk")
    rollout_batch_size: int = field(
        default=8,
        metadata={"help": "Tasks generated together in one batched `generate` call during rollouts."},
    )
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling during rollouts (1.0 = off)."})

    # ------------------------------------------------------------------ TRL defaults changed for CPU use
    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "bf16 autocast for forwards and updates. None = on when a GPU is present, off on CPU."
        },
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata={"help": "Gradient checkpointing on the policy and the critic (saves memory, costs time)."},
    )
    response_length: int = same_as(
        PolicyConfig, "max_new_tokens", help="Maximum new tokens per turn (one response)."
    )
    temperature: float = field(
        default=1.0,
        metadata={"help": "Sampling temperature of rollouts; log-probs are those of softmax(logits / T)."},
    )

    def __post_init__(self) -> None:
        if self.bf16 is None:
            self.bf16 = torch.cuda.is_available()
        if not torch.cuda.is_available():
            # no GPU: say so before transformers sets up the (shared) process state, so that processes
            # started by torchrun join one gloo group on the CPU (and bf16 autocast is allowed there)
            self.use_cpu = True
        with warnings.catch_warnings():
            # TRL's PPOConfig still uses the field name `gradient_checkpointing`, which transformers 5.2x
            # renamed; the warning is about TRL's API, not something a user of this config can change
            warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
            super().__post_init__()
        checks = (
            ("logprob_mode", LOGPROB_MODES),
            ("advantage_estimator", ADVANTAGE_ESTIMATORS),
            ("reward_metric", REWARD_METRICS),
            ("kl_placement", KL_PLACEMENTS),
        )
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise Mem1InputError(
                    f"unknown {name} {getattr(self, name)!r}; choose one of {', '.join(allowed)}"
                )
        if self.advantage_estimator == "grpo" and self.num_generations < 2:
            raise Mem1InputError("advantage_estimator='grpo' needs num_generations >= 2 (a group to compare)")
        for name in (
            "num_generations",
            "micro_batch_trajectories",
            "num_mini_batches",
            "num_ppo_epochs",
            "response_length",
            "rollout_batch_size",
            "max_obs_tokens",
            "topk",
        ):
            if getattr(self, name) < 1:
                raise Mem1InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise Mem1InputError(f"temperature must be > 0 for RL rollouts, got {self.temperature}")
        trajectories = self.per_device_train_batch_size * self.num_generations
        if trajectories % self.num_mini_batches:
            raise Mem1InputError(
                f"per_device_train_batch_size × num_generations = {trajectories} trajectories must split into "
                f"num_mini_batches = {self.num_mini_batches} equal mini-batches"
            )

    def rollout_generation_config(self) -> GenerationConfig:
        """Sampling from softmax(logits / T) over the whole vocabulary (``top_k=0``), so a recorded
        log-prob is the token's log-probability under the distribution it was drawn from."""
        return GenerationConfig(
            max_new_tokens=self.response_length,
            do_sample=True,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=0,
        )

    @property
    def critic_required(self) -> bool:
        """Whether this configuration trains a value model (GAE needs one, GRPO does not)."""
        return self.advantage_estimator == "gae"

    @property
    def kl_in_reward(self) -> bool:
        """True: KL is a per-token reward penalty; False: a loss term (see ``kl_placement``)."""
        if self.kl_placement == "auto":
            return self.advantage_estimator == "gae"
        return self.kl_placement == "reward"
