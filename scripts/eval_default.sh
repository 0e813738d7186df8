#!/usr/bin/env bash
# Held-out evaluation of the default agent's recipe (`make eval-default`; docs/training.md):
# the composed `test` splits (questions never trained on), BM25 top-2, observations cut at 160
# tokens, greedy, at most 128 new tokens per turn, the family's turn budget.
#   base:    the untrained base model, mem1 mode, 1/2/4/8 objectives
#   sft:     the SFT model (runs/default/sft2/merged: SFT and its continuation, the shipped
#            default agent), the same, and in full_context mode at 1/2/4/8 objectives (peak
#            tokens vs mem1, LIMIT_FULL tasks each)
#   rl:      SFT+RL (both seeds, checkpoint RL_STEP) in mem1 mode at 1/2/4/8 objectives; both
#            seeds' earlier GRPO checkpoints at 2 objectives (the held-out learning curve;
#            CURVE_STEPS)
#   (no argument: all of them)
# Runs go two at a time with one thread each; each resumes when rerun. Then
#   python benchmarks/default_agent_report.py --runs runs/default     (tables, JSON, PNG)
set -euo pipefail
OUT=${OUT:-runs/default}
MEM1=${MEM1:-.venv/bin/mem1}
LIMIT_1=${LIMIT_1:-16} LIMIT_2=${LIMIT_2:-48} LIMIT_4=${LIMIT_4:-8} LIMIT_8=${LIMIT_8:-4}
LIMIT_FULL=${LIMIT_FULL:-4} CURVE_STEPS=${CURVE_STEPS:-"3"}
RL_STEP=${RL_STEP:-6}  # the evaluated GRPO checkpoint (the last of configs/default_agent_grpo.yaml)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1
what=${1:-all}

limit_of() { local v="LIMIT_$1"; echo "${!v}"; }
# one run: eval_one NAME MODEL MODE N [LIMIT]
eval_one() {
  local name=$1 model=$2 mode=$3 n=$4 limit=${5:-$(limit_of "$4")}
  "$MEM1" eval --data "$OUT/data/qa_${n}obj" --split test --objectives "$n" --limit "$limit" \
    --modes "$mode" --topk 2 --max-obs-tokens 160 --max-new-tokens 128 --batch-size 8 \
    --model "$model" --out "$OUT/eval/$name/$mode-${n}obj" > "$OUT/eval/$name.$mode-${n}obj.log" 2>&1
  echo "[$(date +%H:%M:%S)] $name $mode ${n}obj done"
}
mkdir -p "$OUT/eval"

SFT=$OUT/sft2/merged
base() { for n in 2 1 4 8; do eval_one base base mem1 "$n"; done; }
sft_mem1() { for n in 2 1 4 8; do eval_one sft "$SFT" mem1 "$n"; done; }
sft_full() { for n in 1 2 4 8; do eval_one sft "$SFT" full_context "$n" "$LIMIT_FULL"; done; }
queue_a() {
  for n in 2 1 4 8; do eval_one rl-seed0 "$OUT/rl-seed0/checkpoint-$RL_STEP" mem1 "$n"; done
  for step in $CURVE_STEPS; do eval_one "rl-seed0-step$step" "$OUT/rl-seed0/checkpoint-$step" mem1 2; done
}
queue_b() {
  for n in 2 1 4 8; do eval_one rl-seed1 "$OUT/rl-seed1/checkpoint-$RL_STEP" mem1 "$n"; done
  for step in $CURVE_STEPS; do eval_one "rl-seed1-step$step" "$OUT/rl-seed1/checkpoint-$step" mem1 2; done
}
case $what in
  base) base ;;
  sft) sft_mem1 & a=$!; sft_full & b=$!; wait $a; wait $b ;;
  rl) queue_a & a=$!; queue_b & b=$!; wait $a; wait $b ;;
  all)
    sft_mem1 & a=$!; { sft_full; base; } & b=$!; wait $a; wait $b
    queue_a & a=$!; queue_b & b=$!; wait $a; wait $b ;;
  *) echo "usage: $0 [base|sft|rl|all]" >&2; exit 2 ;;
esac
echo "[$(date +%H:%M:%S)] evaluations done ($what)"
