"""Training: MEM1PPOTrainer (PPO with a critic, and GRPO) on memory-pruned multi-turn trajectories."""
