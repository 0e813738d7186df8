"""Training: SFT warm start and RL for MEM1 agents on turn-level, memory-masked trajectories."""
