#!/usr/bin/env bash
# Reproduce the WebShop MEM1 agent from scratch on a CPU (`make train-webshop`; docs/training.md,
# "The WebShop agent"):
#   1. the scripted WebShop expert writes mem1-webshop turns over 300 train goals (WebShop's small
#      setup, goal split seed 0: 5,527 train / 1,383 test goals; test goals are never trained on)
#   2. SFT warm start: LoRA r=8 on SmolLM2-135M-Instruct (configs/webshop_sft.yaml)
#   3. GRPO from the merged SFT model with WebShop's reward, seeds SEEDS one after the other
#      (configs/webshop_grpo.yaml)
#   4. the shipped adapter = the SFT adapter (⊕ seed 0's RL adapter at step SHIP_STEP when one is
#      named: chained exactly, training/adapters.py) -> src/mem1_hf/adapters/mem1-smollm2-135m-webshop
# STOP_AFTER=N ends after stage N. RL_START=shipped starts GRPO from the shipped WebShop agent
# (base + the packaged adapter, merged once) and skips stages 1-2 and 4: an RL experiment without
# the ~45 min of SFT. Every stage is skipped when its output exists and the trainers
# resume from their checkpoints, so an interrupted run continues where it stopped.
# Outputs: runs/webshop/ (OUT=...). Needs ../shared/data (SHARED_DATA=...).
set -euo pipefail
SHARED_DATA=${SHARED_DATA:-../shared/data}
OUT=${OUT:-runs/webshop}
MEM1=${MEM1:-.venv/bin/mem1}
PY=${PY:-.venv/bin/python}
ADAPTER=${ADAPTER:-src/mem1_hf/adapters/mem1-smollm2-135m-webshop}
SEEDS=${SEEDS:-"0 1"}
SHIP_STEP=${SHIP_STEP:-}
STOP_AFTER=${STOP_AFTER:-4}
GRPO_CONFIG=${GRPO_CONFIG:-configs/webshop_grpo.yaml}
RL_START=${RL_START:-$OUT/sft/merged}
if [ "$RL_START" = shipped ]; then
  RL_START=$("$PY" -c "from mem1_hf.defaults import default_agent_path; print(default_agent_path('webshop'))")
  SKIP_SFT=1
fi
WS=$SHARED_DATA/webshop
SHOP=(--products "$WS/webshop_small_1000_products.json.gz" --attributes "$WS/items_ins_v2_1000.json")
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# stamp, resume_args, ship_adapter
source "$(dirname "$0")/recipe_lib.sh"
mkdir -p "$OUT"

stamp "1/4 expert trajectories"
[ -n "${SKIP_SFT:-}" ] || "$MEM1" trajectories --env webshop "${SHOP[@]}" --goal-query-map "$WS/goal_query_map.json" \
  --split train --limit 600 --out "$OUT/traj_sft"
[ "$STOP_AFTER" -le 1 ] && exit 0

stamp "2/4 SFT"
if [ -z "${SKIP_SFT:-}" ] && [ ! -f "$OUT/sft/merged/model.safetensors" ]; then
  read -ra resume <<< "$(resume_args "$OUT"/sft)"
  "$MEM1" train --config configs/webshop_sft.yaml --data "$OUT/traj_sft" --output_dir "$OUT/sft" "${resume[@]}"
fi
[ "$STOP_AFTER" -le 2 ] && exit 0

stamp "3/4 GRPO seeds: $SEEDS ($GRPO_CONFIG, from $RL_START)"
for seed in $SEEDS; do  # one after the other, two threads each (side by side they slow each other)
  run="$OUT/rl-seed$seed"
  [ -f "$run/done" ] && continue
  read -ra resume <<< "$(resume_args "$run")"
  "$MEM1" train --config "$GRPO_CONFIG" --env webshop --seed "$seed" "${SHOP[@]}" \
    --model_name_or_path "$RL_START" --output_dir "$run" "${resume[@]}" \
    > "$OUT/rl-seed$seed.log" 2>&1 && touch "$run/done"
done
[ "$STOP_AFTER" -le 3 ] || [ -n "${SKIP_SFT:-}" ] && exit 0

first_seed=${SEEDS%% *}
stages=("$OUT/sft")
[ -n "$SHIP_STEP" ] && stages+=("$OUT/rl-seed$first_seed/checkpoint-$SHIP_STEP")
stamp "4/4 the shipped adapter: ${stages[*]}"
ship_adapter "$ADAPTER" "${stages[@]}"
stamp "done: the WebShop agent is $ADAPTER (evaluate with scripts/eval_webshop.sh)"
