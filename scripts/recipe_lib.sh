# Shared by scripts/train_default.sh and scripts/train_webshop.sh (sourced; needs $PY).
stamp() { echo "[$(date +%H:%M:%S)] $*"; }
# resume_args DIR: the flag that resumes a trainer from DIR's newest checkpoint (none: nothing)
resume_args() {
  local last
  last=$(ls -d "$1"/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1 || true)
  [ -n "$last" ] && echo "--resume_from_checkpoint $last" || true
}
# ship_adapter OUT STAGE...: the stages' LoRA adapters chained into one (training/adapters.py),
# float16, naming the offline base by its Hub id
ship_adapter() {
  "$PY" - "$@" <<'PYEOF'
import sys
from mem1_hf.defaults import DEFAULT_BASE_HUB_ID
from mem1_hf.training.adapters import chain_lora_adapters
out = chain_lora_adapters(sys.argv[2:], sys.argv[1], base_model=DEFAULT_BASE_HUB_ID)
print("wrote", out)
PYEOF
}
