#!/usr/bin/env bash
# Reproduce the default MEM1 agent from scratch on a CPU (`make train-default`; docs/training.md):
#   1. compose held-out-safe HotpotQA + NQ tasks (1, 2, 4, 8 objectives; 10% of each source's
#      questions go to `test` and are never trained on)
#   2. the scripted QA expert writes MEM1 trajectories over 1/2/4-objective train tasks
#   3. SFT warm start: LoRA r=8 on SmolLM2-135M-Instruct (configs/default_agent_sft.yaml)
#   4. GRPO from the merged SFT model, seeds 0 and 1 side by side (configs/default_agent_grpo.yaml)
#   5. the shipped adapter = SFT adapter + seed 0's RL adapter at step SHIP_STEP (4: where this
#      project's run was stopped for time; docs/training.md), concatenated (rank 16, float16)
# Every stage is skipped when its output exists, and the trainers resume from their checkpoints,
# so an interrupted run continues where it stopped. Outputs: runs/default/ (OUT=...).
# Needs ../shared/data (SHARED_DATA=...). ~2 h on 2 CPU cores.
set -euo pipefail
SHARED_DATA=${SHARED_DATA:-../shared/data}
OUT=${OUT:-runs/default}
MEM1=${MEM1:-.venv/bin/mem1}
PY=${PY:-.venv/bin/python}
ADAPTER=${ADAPTER:-src/mem1_hf/adapters/mem1-smollm2-135m}
SEEDS=${SEEDS:-"0 1"}
SHIP_STEP=${SHIP_STEP:-4}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
stamp() { echo "[$(date +%H:%M:%S)] $*"; }
mkdir -p "$OUT"

stamp "1/5 compose"
for n in 1 2 4 8; do
  [ -f "$OUT/data/qa_${n}obj/compose.json" ] || "$MEM1" compose \
    --source hotpotqa="$SHARED_DATA/hotpotqa/hotpotqa_dev_500.ircot.jsonl" \
    --source nq="$SHARED_DATA/nq/nq_open_oracle_2000.jsonl.gz" --objectives "$n" --mix \
    --split test=0.1 --seed 0 --limit 500 --out "$OUT/data/qa_${n}obj"
done

stamp "2/5 expert trajectories"
"$MEM1" trajectories --data "$OUT/data/qa_1obj" --data "$OUT/data/qa_2obj" --data "$OUT/data/qa_4obj" \
  --split train --objectives 1,2,4 --limit 300 --topk 2 --max-obs-tokens 160 --out "$OUT/traj_sft"

stamp "3/5 SFT"
if [ ! -f "$OUT/sft/merged/model.safetensors" ]; then
  resume=()
  last=$(ls -d "$OUT"/sft/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1 || true)
  [ -n "$last" ] && resume=(--resume_from_checkpoint "$last")
  "$MEM1" train --config configs/default_agent_sft.yaml --data "$OUT/traj_sft" \
    --output_dir "$OUT/sft" "${resume[@]}"
fi

stamp "4/5 GRPO seeds: $SEEDS"
pids=()
for seed in $SEEDS; do
  run="$OUT/rl-seed$seed"
  [ -f "$run/adapter_model.safetensors" ] && [ -f "$run/done" ] && continue
  resume=()
  last=$(ls -d "$run"/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1 || true)
  [ -n "$last" ] && resume=(--resume_from_checkpoint "$last")
  # one thread each: two torch processes with two threads each slow each other ~10x here
  OMP_NUM_THREADS=1 "$MEM1" train --config configs/default_agent_grpo.yaml --seed "$seed" \
    --data "$OUT/data/qa_2obj" --model_name_or_path "$OUT/sft/merged" --output_dir "$run" \
    "${resume[@]}" > "$OUT/rl-seed$seed.log" 2>&1 && touch "$run/done" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

stamp "5/5 the shipped adapter: SFT + RL seed 0, step $SHIP_STEP"
first_seed=${SEEDS%% *}
"$PY" - "$OUT/sft" "$OUT/rl-seed$first_seed/checkpoint-$SHIP_STEP" "$ADAPTER" <<'PYEOF'
import sys
from mem1_hf.defaults import DEFAULT_BASE_HUB_ID
from mem1_hf.training.adapters import concat_lora_adapters
out = concat_lora_adapters(sys.argv[1], sys.argv[2], sys.argv[3], base_model=DEFAULT_BASE_HUB_ID)
print("wrote", out)
PYEOF
stamp "done: the default agent is $ADAPTER (evaluate with scripts/eval_default.sh)"
