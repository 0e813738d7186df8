#!/usr/bin/env bash
# Held-out evaluation of the WebShop agent's recipe (`make eval-webshop`; docs/training.md, "The
# WebShop agent"): WebShop's test goals (goal split seed 0; never trained on), mem1 mode, greedy,
# at most 128 new tokens per turn, 10 turns, observations cut at 512 tokens (as trained).
#   expert:  the scripted expert (an upper reference; it knows the goal's product)
#   base:    the untrained SmolLM2-135M-Instruct (LIMIT_BASE goals)
#   sft:     the SFT model (runs/webshop/sft/merged)
#   rl:      SFT+GRPO, both seeds, checkpoint RL_STEP
#   (no argument: all of them.) Every run resumes when rerun; the paired comparisons
#   (`mem1 eval compare`) of rl vs sft follow.
set -euo pipefail
SHARED_DATA=${SHARED_DATA:-../shared/data}
OUT=${OUT:-runs/webshop}
MEM1=${MEM1:-.venv/bin/mem1}
LIMIT=${LIMIT:-300} LIMIT_BASE=${LIMIT_BASE:-50} RL_STEP=${RL_STEP:-4} SEEDS=${SEEDS:-"0 1"}
WS=$SHARED_DATA/webshop
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
what=${1:-all}
mkdir -p "$OUT/eval"
# eval_one NAME MODEL|expert LIMIT
eval_one() {
  local name=$1 model=$2 limit=$3 policy=(--model "$2")
  [ "$model" = expert ] && policy=(--policy expert)
  "$MEM1" eval --env webshop --products "$WS/webshop_small_1000_products.json.gz" \
    --attributes "$WS/items_ins_v2_1000.json" --goal-query-map "$WS/goal_query_map.json" \
    --split test --limit "$limit" --modes mem1 --max-new-tokens 128 --max-obs-tokens 512 \
    --batch-size 8 "${policy[@]}" --out "$OUT/eval/$name" > "$OUT/eval/$name.log" 2>&1
  echo "[$(date +%H:%M:%S)] $name done"
}
case $what in expert | all) eval_one expert expert "$LIMIT" ;; esac
case $what in base | all) eval_one base base "$LIMIT_BASE" ;; esac
case $what in sft | all) eval_one sft "$OUT/sft/merged" "$LIMIT" ;; esac
case $what in rl | all)
  for seed in $SEEDS; do eval_one "rl-seed$seed" "$OUT/rl-seed$seed/checkpoint-$RL_STEP" "$LIMIT"; done
  for seed in $SEEDS; do
    "$MEM1" eval compare "$OUT/eval/sft" "$OUT/eval/rl-seed$seed" | tee "$OUT/eval/compare-rl-seed$seed.txt"
  done
  ;;
esac
