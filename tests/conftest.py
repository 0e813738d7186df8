"""Shared fixtures: the real data beside the repo, the real default model, a tiny random model.

``../shared/data`` (next to the repository) holds the real data; ``MEM1_SHARED_DATA`` overrides
the location. Tests that do not read it run anywhere. Without it, a test that needs it is
skipped with a message saying where to put the data — except on CI (``CI`` set), where the
data must be present and such a test fails with the same message.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the Hub

SHARED_DATA = Path(
    os.environ.get("MEM1_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
HOTPOT_DEV = SHARED_DATA / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl"
WEBSHOP = SHARED_DATA / "webshop"
#: `mem1 eval` flags running the scripted WebShop expert over the real catalog
WEBSHOP_EXPERT_EVAL_ARGS = (
    "--env", "webshop", "--policy", "expert",
    "--products", str(WEBSHOP / "webshop_small_1000_products.json.gz"),
    "--attributes", str(WEBSHOP / "items_ins_v2_1000.json"),
)  # fmt: skip
DATA_MISSING = (
    f"this test reads the real data, which is not at {SHARED_DATA}: put the shared data directory "
    "(hotpotqa/, nq/, webshop/; see its README.md) at ../shared/data next to the repository, "
    "or set MEM1_SHARED_DATA to where it is"
)


def _data_missing() -> bool:
    return not SHARED_DATA.is_dir()


def require_data() -> None:
    """Skip (fail on CI) the calling test or fixture when the real data is missing."""
    if _data_missing():
        if os.environ.get("CI"):
            pytest.fail(DATA_MISSING, pytrace=False)
        pytest.skip(DATA_MISSING)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that failed because it opened a file under the missing data directory says so
    (and is skipped, except on CI)."""
    outcome = yield
    report = outcome.get_result()
    if not (report.failed and call.excinfo is not None and _data_missing()):
        return
    if str(SHARED_DATA) not in str(call.excinfo.getrepr(style="short")):
        return  # failed for another reason: report it as it is
    if os.environ.get("CI"):
        report.longrepr = f"{DATA_MISSING}\n\n{report.longrepr}"
    else:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {DATA_MISSING}")


@pytest.fixture(scope="session")
def default_path() -> Path:
    from mem1_hf.defaults import default_model_path

    return default_model_path()


@pytest.fixture(scope="session")
def tokenizer(default_path):
    """The real SmolLM2-135M-Instruct tokenizer (chat template included)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(default_path)


@pytest.fixture(scope="session")
def smollm2(default_path, tokenizer):
    """The real default model, fp32 on the CPU."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(default_path, dtype=torch.float32)
    return model.eval(), tokenizer


def make_tiny_llama(tokenizer, head: str = "causal", seed: int = 0, **overrides):
    """A small random Llama over the real tokenizer's vocabulary (fast, deterministic, seeded).

    ``head="critic"`` gives a ``LlamaForSequenceClassification`` with one label (a PPO critic).
    """
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    torch.manual_seed(seed)
    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    if head == "critic":
        return LlamaForSequenceClassification(LlamaConfig(**{**settings, "num_labels": 1, **overrides}))
    return LlamaForCausalLM(LlamaConfig(**{**settings, **overrides})).eval()


@pytest.fixture(scope="session")
def tiny_model(tokenizer):
    """A 2-layer random Llama over the real tokenizer's vocabulary."""
    return make_tiny_llama(tokenizer)


@pytest.fixture(scope="session")
def hotpot_env():
    """BM25 over the real paragraphs of the first 60 HotpotQA dev questions."""
    require_data()
    from mem1_hf.data import build_corpus
    from mem1_hf.envs import LocalRetrievalEnv

    return LocalRetrievalEnv.from_corpus(build_corpus(HOTPOT_DEV, max_questions=60), retriever="bm25")


@pytest.fixture(scope="session")
def hotpot_questions() -> list[tuple[str, list[str]]]:
    """(question, gold answers) of the first 60 HotpotQA dev questions."""
    require_data()
    import json

    rows = []
    with open(HOTPOT_DEV) as handle:
        for line in handle:
            record = json.loads(line)
            rows.append((record["question_text"], record["answers_objects"][0]["spans"]))
            if len(rows) == 60:
                break
    return rows
