"""``MEM1PPOTrainer``: PPO (with a critic) and GRPO on memory-pruned multi-turn trajectories.

It subclasses TRL's ``trl.experimental.ppo.PPOTrainer`` (config, state, callbacks, reporting
integrations, the reference-by-disabled-adapter idea) but replaces ``__init__`` and ``train``:
TRL's loop generates single responses, builds masks from pad ids (in SmolLM2 pad = EOS),
runs GAE over one row and silently ignores gradient checkpointing, bf16, ``max_grad_norm`` and
resuming. Here one update is:

1. **rollout** — each process runs its shard of tasks (``num_generations`` times each) through
   the shared agent loop with a sampling policy (:mod:`mem1_hf.training.rollout`);
2. **score** — outcome reward per trajectory (EM/F1 or the environment's), optional format reward;
3. **replay** — old log-probs, reference log-probs and values of every action token, recomputed
   from the keep rule's pieces in ``logprob_mode`` (:mod:`mem1_hf.training.packing`);
4. **advantages** — GAE across a trajectory's turns, or GRPO by task group
   (:mod:`mem1_hf.training.advantages`);
5. **update** — ``num_ppo_epochs × num_mini_batches`` optimizer steps over mini-batches of whole
   trajectories, micro-batched with gradient accumulation, clipped, with the objective of
   :mod:`mem1_hf.training.ppo_loss`.

Example:
    >>> trainer = MEM1PPOTrainer(args=MEM1PPOConfig(output_dir="runs/t", advantage_estimator="grpo",
    ...     num_generations=4), processing_class=tok, model=policy, ref_model=None, value_model=None,
    ...     train_dataset=composed["train"], env=env, peft_config=LoraConfig(r=16))  # doctest: +SKIP
    >>> trainer.train()  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
import time
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from transformers import PreTrainedModel, TrainerControl, get_scheduler
from transformers.integrations import get_reporting_integration_callbacks
from transformers.trainer import DEFAULT_CALLBACKS, DEFAULT_PROGRESS_CALLBACK
from transformers.trainer_callback import CallbackHandler, ExportableState, PrinterCallback
from trl.experimental.ppo import PPOTrainer
from trl.experimental.ppo.ppo_trainer import OnlineTrainerState
from trl.models.utils import unwrap_model_for_generation
from trl.trainer.utils import disable_dropout_in_model

from mem1_hf.agent_config import AgentConfig
from mem1_hf.defaults import peft_quietly
from mem1_hf.errors import Mem1InputError
from mem1_hf.task_env import Task, as_task_env
from mem1_hf.training.advantages import gae, grpo_advantages, token_rewards, whiten
from mem1_hf.training.config import MEM1PPOConfig
from mem1_hf.training.forward import TokenValues, action_logprobs, action_values
from mem1_hf.training.packing import collate, sequences_for, steps_from_turns
from mem1_hf.training.ppo_loss import ppo_objective
from mem1_hf.training.rollout import rollout, score_reward, tasks_from_dataset, valid_action_rate

MASKED_ATTENTION = ("sdpa", "eager")


def _is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # peft is a dependency, but keep the trainer importable without it
        return False
    return isinstance(model, PeftModel)


class MEM1PPOTrainer(PPOTrainer):
    """PPO / GRPO for MEM1 agents (see the module docstring).

    Args:
        args: a :class:`~mem1_hf.training.MEM1PPOConfig`.
        processing_class: the policy's tokenizer.
        model: the policy, a causal LM (``sdpa`` or ``eager`` attention for ``packed``/``stitched``).
        ref_model: the KL reference; ``None`` with ``peft_config`` (or a peft policy) uses the policy
            with its adapter disabled (no second copy); ``None`` otherwise copies the policy.
        value_model: the critic, a ``*ForSequenceClassification`` model with ``num_labels=1``
            (required for ``advantage_estimator="gae"``, unused for ``grpo``).
        train_dataset: a ``mem1 compose`` dataset split, or WebShop goal rows (``goal_id``).
        env: the environment the agent acts in (a search environment, ``WebShopEnv``, or a task env).
        peft_config: a ``peft.LoraConfig`` to train an adapter instead of the whole policy.
        callbacks: extra ``transformers.TrainerCallback`` objects.
        reward_funcs: callables ``(trajectory, task) -> float`` whose sum replaces the outcome reward
            (EM/F1 or the environment's), as TRL's GRPO ``reward_funcs``; the format reward still adds.
        score_options: how the family scores a trajectory (QA: :class:`~mem1_hf.scoring.ScoringConfig`'s
            fields, e.g. ``{"count_rule": False}`` for MEM1's positional training reward).
    """

    _tag_names = ["trl", "ppo", "mem1"]

    def __init__(
        self,
        args: MEM1PPOConfig,
        processing_class,
        model: PreTrainedModel,
        ref_model: PreTrainedModel | None = None,
        value_model: PreTrainedModel | None = None,
        train_dataset=None,
        env=None,
        peft_config=None,
        callbacks=None,
        reward_funcs=None,
        score_options: dict | None = None,
    ) -> None:
        if not isinstance(args, MEM1PPOConfig):
            raise Mem1InputError("args must be a MEM1PPOConfig")
        if train_dataset is None or env is None:
            raise Mem1InputError("MEM1PPOTrainer needs a train_dataset and an env")
        self.task_env = as_task_env(env, args.prompt_profile, args.topk)  # the family: step, score, budget
        self.tasks: list[Task] = tasks_from_dataset(train_dataset, env)
        if not self.tasks:
            raise Mem1InputError("the training dataset is empty")
        attn = getattr(model.config, "_attn_implementation", None) or "sdpa"
        if args.logprob_mode in ("packed", "stitched") and attn not in MASKED_ATTENTION:
            raise Mem1InputError(
                f"logprob_mode={args.logprob_mode!r} needs 4D attention masks, which {attn!r} does not take; "
                "load the model with attn_implementation='sdpa' or 'eager', or use logprob_mode='turns'"
            )
        if args.critic_required:
            name = type(value_model).__name__ if value_model is not None else "None"
            labels = getattr(getattr(value_model, "config", None), "num_labels", None)
            if value_model is None or not name.endswith("ForSequenceClassification") or labels != 1:
                raise Mem1InputError(
                    "advantage_estimator='gae' needs a critic: a *ForSequenceClassification model with "
                    f"num_labels=1 (got {name}{f' with num_labels={labels}' if labels is not None else ''})"
                )
        else:
            value_model = None  # GRPO trains no critic

        quantized = getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)
        if quantized and not torch.cuda.is_available():
            # checked with bitsandbytes 0.50: its CPU 4-bit kernels have no autograd formula, so every
            # gradient through a quantized layer is silently None and nothing would learn
            raise Mem1InputError(
                "training a 4-/8-bit (bitsandbytes) model needs a CUDA GPU: on the CPU bitsandbytes has no "
                "backward for its quantized matmul and gradients vanish; load the model in float32/bfloat16 "
                "(4-bit works on the CPU for inference only)"
            )
        self.args = args
        self.processing_class = processing_class
        self.reward_funcs = list(reward_funcs) if reward_funcs else None
        self.score_options = dict(score_options or {})
        self.pad_id = (
            processing_class.pad_token_id
            if processing_class.pad_token_id is not None
            else processing_class.eos_token_id
        )
        # no GPU: the processes (if several, launched by torchrun) talk over gloo on the CPU
        self.accelerator = Accelerator(cpu=bool(args.use_cpu) or not torch.cuda.is_available())
        world = self.accelerator.num_processes
        self.local_seed = args.seed + self.accelerator.process_index * 100003

        # ------------------------------------------------------------------ models
        if peft_config is not None:
            from peft import get_peft_model

            if _is_peft(model):
                raise Mem1InputError(
                    "pass either a peft model or a peft_config, not both (merge an SFT adapter first, or "
                    "pass the SFT adapter's model without peft_config to keep training it)"
                )
            with peft_quietly():
                model = get_peft_model(model, peft_config)
        self.is_peft_model = _is_peft(model)
        self.model_adapter_name = args.model_adapter_name
        self.ref_adapter_name = args.ref_adapter_name
        self.needs_ref = args.kl_coef > 0
        if ref_model is not None:
            self.ref_model = ref_model
        elif self.is_peft_model or not self.needs_ref:
            self.ref_model = None  # the policy with its adapter disabled, or no KL at all
        else:
            self.ref_model = copy.deepcopy(model)
        for module in (model, value_model, self.ref_model):
            if module is not None:
                disable_dropout_in_model(module)
        if self.ref_model is not None:
            self.ref_model.eval().requires_grad_(False)
        if args.gradient_checkpointing:
            kwargs = args.gradient_checkpointing_kwargs or {"use_reentrant": False}
            for module in (model, value_model):
                if module is not None:
                    if hasattr(module, "activation_checkpointing_enable"):  # transformers >= 5.2x's name
                        module.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
                    else:
                        module.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
                    if self.is_peft_model and kwargs.get("use_reentrant", True):
                        module.enable_input_require_grads()
        self.policy_model = model
        self.value_model = value_model

        # ------------------------------------------------------------------ sizes and schedule
        self.tasks_per_step = args.per_device_train_batch_size * world
        if args.max_steps and args.max_steps > 0:
            self.total_steps = args.max_steps
        else:
            self.total_steps = max(
                1, math.ceil(args.num_train_epochs * len(self.tasks) / self.tasks_per_step)
            )
        if len(self.tasks) < self.tasks_per_step:
            raise Mem1InputError(
                f"the dataset has {len(self.tasks)} tasks but one step needs {self.tasks_per_step} "
                "(per_device_train_batch_size × processes)"
            )

        # ------------------------------------------------------------------ optimizers (policy, critic)
        def adamw(module, lr):
            params = [p for p in module.parameters() if p.requires_grad]
            return torch.optim.AdamW(
                params,
                lr=lr,
                betas=(args.adam_beta1, args.adam_beta2),
                eps=args.adam_epsilon,
                weight_decay=args.weight_decay,
            )

        def schedule(optimizer):
            warmup = args.get_warmup_steps(self.total_steps)
            return get_scheduler(args.lr_scheduler_type, optimizer, warmup, self.total_steps)

        self.optimizer = adamw(model, args.learning_rate)
        self.lr_scheduler = schedule(self.optimizer)
        self.critic_optimizer = self.critic_scheduler = None
        values_module = None
        if value_model is not None:
            values_module = TokenValues(value_model)
            self.critic_optimizer = adamw(value_model, args.critic_learning_rate)
            self.critic_scheduler = schedule(self.critic_optimizer)
        torch.manual_seed(args.seed)
        if values_module is not None:
            self.policy, self.values, self.optimizer, self.critic_optimizer = self.accelerator.prepare(
                model, values_module, self.optimizer, self.critic_optimizer
            )
        else:
            self.policy, self.optimizer = self.accelerator.prepare(model, self.optimizer)
            self.values = None
        if self.ref_model is not None:
            self.ref_model.to(self.accelerator.device)
        torch.manual_seed(self.local_seed)
        self.model = self.policy  # what TRL's / transformers' helpers call the trained model

        # ------------------------------------------------------------------ state, callbacks, reporting
        default_callbacks = DEFAULT_CALLBACKS + get_reporting_integration_callbacks(args.report_to)
        self.callbacks = default_callbacks + list(callbacks or [])
        self.callback_handler = CallbackHandler(
            self.callbacks, self.policy_model, processing_class, self.optimizer, self.lr_scheduler
        )
        self.callback_handler.add_callback(
            PrinterCallback if args.disable_tqdm else DEFAULT_PROGRESS_CALLBACK
        )
        self.control = TrainerControl()
        self.state = OnlineTrainerState(
            is_local_process_zero=self.accelerator.is_local_main_process,
            is_world_process_zero=self.accelerator.is_main_process,
            stateful_callbacks=[
                cb
                for cb in self.callback_handler.callbacks + [self.control]
                if isinstance(cb, ExportableState)
            ],
        )
        self.state.max_steps = self.total_steps
        self.state.logging_steps = args.logging_steps
        self.state.save_steps = args.save_steps
        if self.accelerator.is_main_process:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)

    # ====================================================================== small helpers
    def is_world_process_zero(self) -> bool:  # noqa: D102
        return self.accelerator.is_main_process

    def _autocast(self):
        if self.args.bf16:
            return torch.autocast(self.accelerator.device.type, dtype=torch.bfloat16)
        return nullcontext()

    @contextmanager
    def _reference(self):
        """The reference policy: the separate ``ref_model``, or the policy with its adapter disabled."""
        if self.ref_model is not None:
            yield self.ref_model
            return
        unwrapped = self.accelerator.unwrap_model(self.policy)
        with unwrapped.disable_adapter():
            yield self.policy

    def _task_batches(self, start_step: int):
        """This process's task indices for every step from ``start_step``: one seeded permutation per epoch."""
        n, per_step = len(self.tasks), self.tasks_per_step
        steps_per_epoch = n // per_step
        rank, local = self.accelerator.process_index, self.args.per_device_train_batch_size
        step = start_step
        while True:
            epoch, within = divmod(step, steps_per_epoch)
            order = torch.randperm(
                n, generator=torch.Generator().manual_seed(self.args.seed + epoch)
            ).tolist()
            chosen = order[within * per_step : (within + 1) * per_step]
            yield chosen[rank * local : (rank + 1) * local]
            step += 1

    # ====================================================================== replay (no-grad forwards)
    def _chunks(self, items: list, size: int):
        for i in range(0, len(items), size):
            yield items[i : i + size]

    def _forward(self, sequences_by_traj, model, values=False, grad=False, with_entropy=False):
        """Per-trajectory action log-probs (or values) for a list of trajectories' sequences."""
        flat = [s for seqs in sequences_by_traj for s in seqs]
        batch = collate(flat, self.pad_id, self._mask_dtype(), self.accelerator.device)
        context = nullcontext() if grad else torch.no_grad()
        with context, self._autocast():
            if values:
                out, entropy = action_values(model, batch), None
            else:
                out, entropy = action_logprobs(model, batch, self.args.temperature, with_entropy)
        counts = [sum(len(s.target_index) for s in seqs) for seqs in sequences_by_traj]
        split = list(torch.split(out, counts))
        return (split, list(torch.split(entropy, counts))) if with_entropy else split

    def _mask_dtype(self) -> torch.dtype:
        # the additive mask lives in the dtype the attention runs in
        if self.args.bf16:
            return torch.bfloat16
        model = self.accelerator.unwrap_model(self.policy)
        dtype = getattr(model, "dtype", None)  # the first floating dtype (4-bit weights are uint8)
        return dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else torch.float32

    def _replay(self, sequences, what: str) -> list[torch.Tensor]:
        out: list[torch.Tensor] = []
        size = self.args.micro_batch_trajectories
        for chunk in self._chunks(sequences, size):
            if what == "values":
                out += self._forward(chunk, self.values, values=True)
            elif what == "ref":
                with self._reference() as reference:
                    out += self._forward(chunk, reference)
            else:
                out += self._forward(chunk, self.policy)
        return out

    # ====================================================================== one update
    def _rollout(self, indices: list[int]):
        args = self.args
        repeated = [self.tasks[i] for i in indices for _ in range(args.num_generations)]
        # unwrap DDP, and gather ZeRO-3 / FSDP shards for generation (TRL's helper; it reads peft's
        # deprecated `is_gradient_checkpointing`, hence peft_quietly)
        with (
            peft_quietly(),
            unwrap_model_for_generation(
                self.policy, self.accelerator, gather_deepspeed3_params=args.ds3_gather_for_generation
            ) as unwrapped,
        ):
            unwrapped.eval()
            with self._autocast():
                trajectories = rollout(unwrapped, self.processing_class, self.task_env, repeated, args)
        return repeated, trajectories

    def _reward(self, trajectory, task: Task, judged: dict) -> float:
        """``judged``: the family's scores of ``trajectory`` (computed once per trajectory)."""
        if self.reward_funcs is not None:
            return float(sum(f(trajectory, task) for f in self.reward_funcs))
        return score_reward(judged, self.args.reward_metric)

    def _gather_mean(self, values: list[float]) -> float:
        local = torch.tensor([sum(values), float(len(values))], device=self.accelerator.device)
        total = self.accelerator.reduce(local, reduction="sum")
        return (total[0] / total[1].clamp(min=1)).item()

    def _update(self, indices: list[int]) -> dict[str, float]:
        args, acc = self.args, self.accelerator
        started = time.perf_counter()
        # 1. rollout --------------------------------------------------------------------------------
        tasks, trajectories = self._rollout(indices)
        rollout_time = time.perf_counter() - started
        # 2. score ----------------------------------------------------------------------------------
        valid = [valid_action_rate(t) for t in trajectories]
        judged = [self.task_env.score(t, **self.score_options) for t in trajectories]
        invalid = [sum(turn.parsed.action == "invalid" for turn in t.turns) for t in trajectories]
        scores = [
            self._reward(t, task, j) + args.format_reward * v - args.invalid_action_penalty * n
            for t, task, j, v, n in zip(trajectories, tasks, judged, valid, invalid)
        ]
        # trajectories that never acted (a prompt beyond the context window) carry no tokens to train
        keep = [i for i, t in enumerate(trajectories) if t.turns]
        n_groups = len(indices)
        if args.advantage_estimator == "grpo":
            groups = [f"{indices[i // args.num_generations]}" for i in range(len(trajectories))]
            per_traj = grpo_advantages(scores, groups, args.grpo_scale_by_std)
            if args.drop_tied_groups:  # a group whose rewards all tie has advantage 0 throughout
                moving = {groups[i] for i, a in enumerate(per_traj) if a != 0}
                n_groups = len(moving)
                # every process must run a backward under DDP: filter only where something is left
                if moving or acc.num_processes == 1:
                    keep = [i for i in keep if groups[i] in moving]
        sequences = [
            sequences_for(trajectories[i].history, steps_from_turns(trajectories[i].turns), args.logprob_mode)
            for i in keep
        ]
        rollout_logprobs = [
            torch.tensor([lp for turn in trajectories[i].turns for lp in turn.logprobs], device=acc.device)
            for i in keep
        ]
        # 3. replay: old log-probs, reference log-probs, values ------------------------------------
        self.policy.eval()
        if args.recompute_old_logprobs:
            old_logprobs = self._replay(sequences, "policy")
        else:
            old_logprobs = rollout_logprobs
        ref_logprobs = self._replay(sequences, "ref") if self.needs_ref else [None] * len(keep)
        old_values = self._replay(sequences, "values") if self.values is not None else None
        logprob_diff = max(
            ((a - b).abs().max().item() for a, b in zip(old_logprobs, rollout_logprobs)), default=0.0
        )

        # 4. advantages ----------------------------------------------------------------------------
        kls, advantages, returns = [], [], []
        if args.advantage_estimator == "gae":
            kl_coef = args.kl_coef if args.kl_in_reward else 0.0
            for k, i in enumerate(keep):
                rewards, kl = token_rewards(scores[i], old_logprobs[k], ref_logprobs[k], kl_coef)
                adv, ret = gae(rewards, old_values[k], args.gamma, args.lam)
                kls.append(kl)
                advantages.append(adv)
                returns.append(ret)
            flat = torch.cat(advantages)
            stats = torch.stack(
                [flat.sum(), (flat**2).sum(), torch.tensor(float(flat.numel()), device=flat.device)]
            )
            stats = acc.reduce(stats, reduction="sum")  # whiten with statistics over all processes
            mean = stats[0] / stats[2]
            var = (stats[1] / stats[2] - mean**2).clamp(min=0)
            advantages = [whiten(a, mean, var) for a in advantages]
        else:
            for k, i in enumerate(keep):
                n = old_logprobs[k].shape[0]
                advantages.append(torch.full((n,), per_traj[i], device=acc.device))
                kls.append(
                    old_logprobs[k] - ref_logprobs[k]
                    if ref_logprobs[k] is not None
                    else torch.zeros(n, device=acc.device)
                )
        kl_loss_coef = 0.0 if args.kl_in_reward else args.kl_coef

        # 5. update: epochs × mini-batches of whole trajectories, micro-batched ---------------------
        self.policy.train()
        if self.values is not None:
            self.values.train()
        sums: dict[str, float] = defaultdict(float)
        tokens_seen = 0.0
        n_traj = len(keep)
        order_gen = torch.Generator().manual_seed(self.local_seed + self.state.global_step)
        per_mb = max(1, n_traj // args.num_mini_batches)
        for _ in range(args.num_ppo_epochs):
            order = torch.randperm(n_traj, generator=order_gen).tolist()
            for m in range(args.num_mini_batches):
                mb = (
                    order[m * per_mb : (m + 1) * per_mb]
                    if m < args.num_mini_batches - 1
                    else order[m * per_mb :]
                )
                mb_tokens = float(sum(old_logprobs[k].shape[0] for k in mb)) or 1.0
                for chunk in self._chunks(mb, args.micro_batch_trajectories):
                    seqs = [sequences[k] for k in chunk]
                    new_lp, entropy = self._forward(seqs, self.policy, grad=True, with_entropy=True)
                    cat = torch.cat
                    new_values = (
                        cat(self._forward(seqs, self.values, values=True, grad=True)) if self.values else None
                    )
                    ref = [ref_logprobs[k] for k in chunk]
                    chunk_old = cat([old_logprobs[k] for k in chunk])
                    out = ppo_objective(
                        cat(new_lp),
                        chunk_old,
                        cat([advantages[k] for k in chunk]),
                        torch.ones_like(chunk_old),  # every target is an action token
                        args.cliprange,
                        new_values=new_values,
                        old_values=cat([old_values[k] for k in chunk]) if self.values else None,
                        returns=cat([returns[k] for k in chunk]) if self.values else None,
                        cliprange_value=args.cliprange_value,
                        ref_logprobs=cat(ref) if ref[0] is not None else None,
                        kl_loss_coef=kl_loss_coef,
                    )
                    loss = out["policy_loss_sum"] / mb_tokens
                    if self.values is not None:
                        loss = loss + args.vf_coef * out["vf_loss_sum"] / mb_tokens
                    acc.backward(loss)
                    for key, value in out.items():
                        sums[key] += value.item()
                    sums["entropy_sum"] += cat(entropy).sum().item()
                    tokens_seen += chunk_old.numel()
                # one optimizer step per mini-batch, whatever the micro-batching
                if args.max_grad_norm and args.max_grad_norm > 0:
                    sums["grad_norm"] += float(
                        acc.clip_grad_norm_(self.policy.parameters(), args.max_grad_norm)
                    )
                    if self.values is not None:
                        acc.clip_grad_norm_(self.values.parameters(), args.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                if self.critic_optimizer is not None:
                    self.critic_optimizer.step()
                    self.critic_optimizer.zero_grad(set_to_none=True)
        self.lr_scheduler.step()
        if self.critic_scheduler is not None:
            self.critic_scheduler.step()

        # 6. metrics (TRL's names plus the multi-turn ones) ---------------------------------------
        updates = args.num_ppo_epochs * args.num_mini_batches
        denom = max(tokens_seen, 1.0)
        metrics = {
            "objective/scores": self._gather_mean(scores),
            "objective/rlhf_reward": self._gather_mean(scores),
            "objective/kl": self._gather_mean([k.sum().item() for k in kls]),
            "objective/entropy": self._gather_mean([sums["entropy_sum"] / denom]),
            "policy/approxkl_avg": self._gather_mean([sums["approxkl_sum"] / denom]),
            "policy/clipfrac_avg": self._gather_mean([sums["clipfrac_sum"] / denom]),
            "loss/policy_avg": self._gather_mean([sums["pg_loss_sum"] / denom]),
            "val/ratio": self._gather_mean([sums["ratio_sum"] / denom]),
            "rollout/logprob_diff": self._gather_mean([logprob_diff]),
            "rollout/turns": self._gather_mean([len(t.turns) for t in trajectories]),
            "rollout/invalid_actions": self._gather_mean([float(n) for n in invalid]),
            "rollout/peak_tokens": self._gather_mean([t.peak_tokens for t in trajectories]),
            "rollout/valid_action_rate": self._gather_mean(valid),
            "rollout/answered": self._gather_mean(
                [t.stop_reason in ("answered", "bought") for t in trajectories]
            ),
            "rollout/seconds": rollout_time,
            "rollout/informative_groups": self._gather_mean([n_groups / max(len(indices), 1)]),
            "lr": self.lr_scheduler.get_last_lr()[0],
            "episode": float(self.state.episode + len(trajectories) * acc.num_processes),
        }
        if args.max_grad_norm and args.max_grad_norm > 0:
            metrics["grad_norm"] = sums["grad_norm"] / updates
        if self.values is not None:
            metrics["loss/value_avg"] = self._gather_mean([sums["vf_loss_sum"] / denom])
            metrics["val/clipfrac_avg"] = self._gather_mean([sums["vf_clipfrac_sum"] / denom])
        if "kl_loss_sum" in sums:
            metrics["loss/kl_avg"] = self._gather_mean([sums["kl_loss_sum"] / denom])
        qa = [j for j in judged if "em" in j]  # QA families report EM/F1; WebShop a reward
        if qa:
            metrics["rollout/em"] = self._gather_mean([j["em"] for j in qa])
            metrics["rollout/f1"] = self._gather_mean([j["f1"] for j in qa])
        metrics["update/seconds"] = time.perf_counter() - started
        return metrics

    # ====================================================================== the loop
    def train(self, resume_from_checkpoint: str | None = None) -> dict:
        """Run ``total_steps`` updates; resume exactly from a checkpoint folder if given."""
        args = self.args
        start = 0
        if resume_from_checkpoint:
            start = self._load_checkpoint(Path(resume_from_checkpoint))
        self.control = self.callback_handler.on_train_begin(args, self.state, self.control)
        batches = self._task_batches(start)
        metrics: dict = {}
        for step in range(start, self.total_steps):
            self.control = self.callback_handler.on_step_begin(args, self.state, self.control)
            metrics = self._update(next(batches))
            self.state.global_step = step + 1
            self.state.episode += self.tasks_per_step * args.num_generations
            self.state.epoch = self.state.global_step * self.tasks_per_step / len(self.tasks)
            self.control = self.callback_handler.on_step_end(args, self.state, self.control)
            if self.state.global_step % max(1, int(args.logging_steps)) == 0 or step + 1 == self.total_steps:
                self.log(metrics)
            if args.save_strategy != "no" and (
                self.state.global_step % max(1, int(args.save_steps)) == 0 or step + 1 == self.total_steps
            ):
                self._save_checkpoint_folder()
                self._rotate_checkpoints()
                self.control = self.callback_handler.on_save(args, self.state, self.control)
            if self.control.should_training_stop:
                break
        self.control = self.callback_handler.on_train_end(args, self.state, self.control)
        return metrics

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Record ``logs`` in the state's history and hand them to the callbacks (progress, reporters)."""
        if self.state.epoch is not None:
            logs = {**logs, "epoch": self.state.epoch}
        self.state.log_history.append({**logs, "step": self.state.global_step})
        self.control = self.callback_handler.on_log(self.args, self.state, self.control, logs)

    # ====================================================================== saving and resuming
    def agent_config(self) -> AgentConfig:
        """The rollout settings the policy is trained with, saved as its ``agent_config.json`` so
        ``pipeline()`` and ``mem1 run/eval`` run the checkpoint as it was trained."""
        args = self.args
        return AgentConfig(
            prompt_profile=getattr(args.prompt_profile, "name", args.prompt_profile),
            mode=args.mode,
            topk=args.topk,
            max_obs_tokens=args.max_obs_tokens,
            max_new_tokens=args.response_length,
            max_turns=args.max_turns,
            task_family=self.task_env.name,
        )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save the policy (the adapter only, for a peft policy), the tokenizer and the rollout
        settings (``agent_config.json``); the critic beside it."""
        out = Path(output_dir or self.args.output_dir)
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            out.mkdir(parents=True, exist_ok=True)
            self.accelerator.unwrap_model(self.policy).save_pretrained(out)
            self.processing_class.save_pretrained(out)
            self.agent_config().save_pretrained(out)
            if self.value_model is not None:
                self.accelerator.unwrap_model(self.values).critic.save_pretrained(out / "critic")

    def _save_checkpoint_folder(self) -> Path:
        """``output_dir/checkpoint-N``: weights, optimizers, schedulers, RNG states, trainer state."""
        folder = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
        self.save_model(str(folder))
        acc = self.accelerator
        if acc.is_main_process:
            torch.save(
                {
                    "policy": self.optimizer.state_dict(),
                    "critic": self.critic_optimizer.state_dict() if self.critic_optimizer else None,
                },
                folder / "optimizer.pt",
            )
            torch.save(
                {
                    "policy": self.lr_scheduler.state_dict(),
                    "critic": self.critic_scheduler.state_dict() if self.critic_scheduler else None,
                },
                folder / "scheduler.pt",
            )
            self.state.save_to_json(str(folder / "trainer_state.json"))
        rng = {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }
        acc.wait_for_everyone()
        torch.save(rng, folder / f"rng_state_{acc.process_index}.pth")
        acc.wait_for_everyone()
        return folder

    def _rotate_checkpoints(self) -> None:
        """Keep the newest ``save_total_limit`` checkpoint folders (all when it is unset)."""
        limit = self.args.save_total_limit
        if not limit or limit < 1 or not self.accelerator.is_main_process:
            return
        folders = sorted(
            Path(self.args.output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])
        )
        for old in folders[:-limit]:
            shutil.rmtree(old, ignore_errors=True)

    def _load_checkpoint(self, folder: Path) -> int:
        """Restore everything saved by :meth:`_save_checkpoint_folder`; returns the step to continue from."""
        if not (folder / "trainer_state.json").is_file():
            raise Mem1InputError(f"{folder} is not a checkpoint folder (no trainer_state.json)")
        policy = self.accelerator.unwrap_model(self.policy)
        if self.is_peft_model:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(policy, load_file(str(folder / "adapter_model.safetensors")))
        else:
            _load_full(policy, folder / "model.safetensors")
        if self.value_model is not None:
            _load_full(
                self.accelerator.unwrap_model(self.values).critic, folder / "critic" / "model.safetensors"
            )
        device = self.accelerator.device
        optim = torch.load(folder / "optimizer.pt", map_location=device, weights_only=False)
        self.optimizer.load_state_dict(optim["policy"])
        sched = torch.load(folder / "scheduler.pt", weights_only=False)
        self.lr_scheduler.load_state_dict(sched["policy"])
        if self.critic_optimizer is not None:
            self.critic_optimizer.load_state_dict(optim["critic"])
            self.critic_scheduler.load_state_dict(sched["critic"])
        saved = json.loads((folder / "trainer_state.json").read_text())
        for key in ("global_step", "episode", "epoch", "log_history"):
            if key in saved:
                setattr(self.state, key, saved[key])
        rng_file = folder / f"rng_state_{self.accelerator.process_index}.pth"
        if rng_file.is_file():
            rng = torch.load(rng_file, weights_only=False)
            random.setstate(rng["python"])
            np.random.set_state(rng["numpy"])
            torch.set_rng_state(rng["cpu"])
            if rng["cuda"] is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
        return int(self.state.global_step)


def _load_full(model: torch.nn.Module, path: Path) -> None:
    """Load a ``save_pretrained`` safetensors file into ``model``; only tied weights may be absent."""
    state = load_file(str(path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = set()
    for names in getattr(model, "all_tied_weights_keys", {}) or {}:
        tied.add(names)
    missing = [k for k in missing if k not in tied and not k.endswith("lm_head.weight")]
    if missing or unexpected:
        raise Mem1InputError(
            f"{path}: checkpoint does not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
