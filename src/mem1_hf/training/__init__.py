"""Training MEM1 agents: ``MEM1PPOTrainer`` (PPO with a critic, and GRPO) on memory-pruned trajectories.

Example:
    >>> from mem1_hf.training import MEM1PPOConfig, MEM1PPOTrainer  # doctest: +SKIP
"""

from mem1_hf.training.config import MEM1PPOConfig
from mem1_hf.training.trainer import MEM1PPOTrainer

__all__ = ["MEM1PPOConfig", "MEM1PPOTrainer"]
