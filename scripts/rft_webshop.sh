#!/usr/bin/env bash
# Rejection-sampling fine-tuning (RFT) of the WebShop agent, the trainer mode the learning issue
# asks to compare with GRPO (docs/training.md, "The WebShop agent"). Each round:
#   1. the current model samples SAMPLES rollouts of each of GOALS train goals (temperature TEMP,
#      one `mem1 trajectories --policy model --do-sample` run per sample seed: the same loop, keep
#      rule and row format as the expert's rows);
#   2. SFT continues from the current model (merged) on the expert rows plus its own rollouts whose
#      WebShop reward is at least MIN_REWARD (`data: A,B,...`, `min_reward`), layout packed;
#   3. the result (OUT/rft-round<r>/merged) is the next round's model.
# Evaluate with `scripts/eval_webshop.sh` (MODEL=...) and compare with `mem1 eval compare`.
# Every stage is skipped when its output exists and the trainers resume, so an interrupted run
# continues where it stopped. Outputs: runs/webshop/ (OUT=...). Needs ../shared/data.
set -euo pipefail
SHARED_DATA=${SHARED_DATA:-../shared/data}
OUT=${OUT:-runs/webshop}
MEM1=${MEM1:-.venv/bin/mem1}
PY=${PY:-.venv/bin/python}
START=${START:-$OUT/sft/merged}      # round 1 starts from the SFT model
ROUNDS=${ROUNDS:-2} GOALS=${GOALS:-64} SAMPLES=${SAMPLES:-2} TEMP=${TEMP:-1.0} MIN_REWARD=${MIN_REWARD:-0.75}
TASKS=${TASKS:-96} LR=${LR:-5e-4}   # SFT per round: tasks sampled from the mixture (~25 min), learning rate
EXPERT_ROWS=${EXPERT_ROWS:-$OUT/traj_sft}
WS=$SHARED_DATA/webshop
SHOP=(--products "$WS/webshop_small_1000_products.json.gz" --attributes "$WS/items_ins_v2_1000.json"
  --goal-query-map "$WS/goal_query_map.json")
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# stamp, resume_args
source "$(dirname "$0")/recipe_lib.sh"

model=$START
for round in $(seq 1 "$ROUNDS"); do
  dir="$OUT/rft-round$round"
  data="$EXPERT_ROWS"
  for sample in $(seq 1 "$SAMPLES"); do
    stamp "round $round: sample $sample of $GOALS goals from $model"
    "$MEM1" trajectories --env webshop "${SHOP[@]}" --split train --limit "$GOALS" --policy model \
      --model "$model" --do-sample --temperature "$TEMP" --seed "$((round * 100 + sample))" \
      --max-new-tokens 128 --max-obs-tokens 512 --batch-size 8 --out "$dir/own$sample"
    data="$data,$dir/own$sample"
  done
  if [ ! -f "$dir/sft/merged/model.safetensors" ]; then
    stamp "round $round: SFT on the expert rows + own rollouts with reward >= $MIN_REWARD"
    read -ra resume <<< "$(resume_args "$dir/sft")"
    "$MEM1" train --config configs/webshop_sft.yaml --base_model "$model" --data "$data" \
      --min_reward "$MIN_REWARD" --max_tasks "$TASKS" --learning_rate "$LR" --output_dir "$dir/sft" "${resume[@]}"
  fi
  model="$dir/sft/merged"
done
stamp "done: $model"
