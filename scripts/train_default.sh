#!/usr/bin/env bash
# Reproduce the default MEM1 agent from scratch on a CPU (`make train-default`; docs/training.md):
#   1. compose held-out-safe HotpotQA + NQ tasks (1, 2, 4, 8 objectives; 10% of each source's
#      questions go to `test` and are never trained on)
#   2. the scripted QA expert writes MEM1 trajectories over 1/2/4-objective train tasks, each
#      turn fitted into 96 tokens (--fit-tokens: its quoted facts are cut until the turn fits)
#   3. SFT warm start: LoRA r=8 on SmolLM2-135M-Instruct (configs/default_agent_sft.yaml)
#   4. SFT continued: a fresh LoRA r=8 on the merged SFT model, a second sample of the expert
#      rows (configs/default_agent_sft2.yaml)
#   5. GRPO from the merged stage-4 model, seeds 0 and 1 side by side (GRPO_CONFIG)
#   6. the shipped adapter = SFT ⊕ SFT2 adapters (rank 16, float16, training/adapters.py), and
#      ⊕ seed 0's RL adapter at step SHIP_STEP when one is named: no GRPO run has yet beaten its
#      starting model on held-out EM (docs/training.md), so by default RL is trained and
#      evaluated but not shipped
# STOP_AFTER=N ends after stage N (e.g. 4: the SFT model only). RL_START=shipped starts GRPO from
# the shipped default agent (base + the packaged adapter, merged once: defaults.default_agent_path)
# and skips stages 3-4 and 6: an RL experiment without the ~50 min of SFT.
# Every stage is skipped when its output exists, and the trainers resume from their checkpoints,
# so an interrupted run continues where it stopped. Outputs: runs/default/ (OUT=...).
# Needs ../shared/data (SHARED_DATA=...). ~1.5 h on 2 CPU cores.
set -euo pipefail
SHARED_DATA=${SHARED_DATA:-../shared/data}
OUT=${OUT:-runs/default}
MEM1=${MEM1:-.venv/bin/mem1}
PY=${PY:-.venv/bin/python}
ADAPTER=${ADAPTER:-src/mem1_hf/adapters/mem1-smollm2-135m}
SEEDS=${SEEDS:-"0 1"}
SHIP_STEP=${SHIP_STEP:-}
STOP_AFTER=${STOP_AFTER:-6}
GRPO_CONFIG=${GRPO_CONFIG:-configs/default_agent_grpo.yaml}
RL_START=${RL_START:-$OUT/sft2/merged}
GRPO_DATA=${GRPO_DATA:-$OUT/data/qa_2obj}  # e.g. a `mem1 curriculum` selection of it
if [ "$RL_START" = shipped ]; then
  RL_START=$("$PY" -c "from mem1_hf.defaults import default_agent_path; print(default_agent_path())")
  SKIP_SFT=1
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# stamp, resume_args, ship_adapter
source "$(dirname "$0")/recipe_lib.sh"
mkdir -p "$OUT"

stamp "1/6 compose"
for n in 1 2 4 8; do
  [ -f "$OUT/data/qa_${n}obj/compose.json" ] || "$MEM1" compose \
    --source hotpotqa="$SHARED_DATA/hotpotqa/hotpotqa_dev_500.ircot.jsonl" \
    --source nq="$SHARED_DATA/nq/nq_open_oracle_2000.jsonl.gz" --objectives "$n" --mix \
    --split test=0.1 --seed 0 --limit 500 --out "$OUT/data/qa_${n}obj"
done

stamp "2/6 expert trajectories"
"$MEM1" trajectories --data "$OUT/data/qa_1obj" --data "$OUT/data/qa_2obj" --data "$OUT/data/qa_4obj" \
  --split train --objectives 1,2,4 --limit 300 --topk 2 --max-obs-tokens 160 --fit-tokens 96 \
  --out "$OUT/traj_sft"

stamp "3/6 SFT"
if [ -z "${SKIP_SFT:-}" ] && [ ! -f "$OUT/sft/merged/model.safetensors" ]; then
  read -ra resume <<< "$(resume_args "$OUT"/sft)"
  "$MEM1" train --config configs/default_agent_sft.yaml --data "$OUT/traj_sft" \
    --output_dir "$OUT/sft" "${resume[@]}"
fi

[ "$STOP_AFTER" -le 3 ] && exit 0

stamp "4/6 SFT continued"
if [ -z "${SKIP_SFT:-}" ] && [ ! -f "$OUT/sft2/merged/model.safetensors" ]; then
  read -ra resume <<< "$(resume_args "$OUT"/sft2)"
  "$MEM1" train --config configs/default_agent_sft2.yaml --data "$OUT/traj_sft" \
    --base_model "$OUT/sft/merged" --output_dir "$OUT/sft2" "${resume[@]}"
fi
[ "$STOP_AFTER" -le 4 ] && exit 0

stamp "5/6 GRPO seeds: $SEEDS ($GRPO_CONFIG, from $RL_START)"
pids=()
for seed in $SEEDS; do
  run="$OUT/rl-seed$seed"
  [ -f "$run/adapter_model.safetensors" ] && [ -f "$run/done" ] && continue
  read -ra resume <<< "$(resume_args "$run")"
  # one thread each: two torch processes with two threads each slow each other ~10x here
  OMP_NUM_THREADS=1 "$MEM1" train --config "$GRPO_CONFIG" --seed "$seed" \
    --data "$GRPO_DATA" --model_name_or_path "$RL_START" --output_dir "$run" \
    "${resume[@]}" > "$OUT/rl-seed$seed.log" 2>&1 && touch "$run/done" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
[ "$STOP_AFTER" -le 5 ] || [ -n "${SKIP_SFT:-}" ] && exit 0

first_seed=${SEEDS%% *}
stages=("$OUT/sft" "$OUT/sft2")
[ -n "$SHIP_STEP" ] && stages+=("$OUT/rl-seed$first_seed/checkpoint-$SHIP_STEP")
stamp "6/6 the shipped adapter: ${stages[*]}"
ship_adapter "$ADAPTER" "${stages[@]}"
stamp "done: the default agent is $ADAPTER (evaluate with scripts/eval_default.sh)"
