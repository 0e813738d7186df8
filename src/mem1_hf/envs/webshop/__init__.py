"""WebShop (Yao et al., 2022) as a text environment: search, results, item pages, Buy Now.

Products in WebShop's catalog format, BM25 search (bm25s), WebShop's synthetic and human goals
with a seeded train/test split, and WebShop's published reward. Sessions are independent, so a
batched agent loop keeps one per task.

Example:
    >>> from mem1_hf.envs.webshop import WebShopEnv
    >>> env = WebShopEnv.from_files(products="webshop_small_1000_products.json.gz",
    ...                             attributes="items_ins_v2_1000.json", seed=0)  # doctest: +SKIP
    >>> session = env.reset(env.goals("test")[0].goal_id)  # doctest: +SKIP
    >>> session.step("search[tea tree body scrub]").observation  # doctest: +SKIP
"""

from __future__ import annotations

from mem1_hf.envs.webshop.catalog import Catalog, load_catalog
from mem1_hf.envs.webshop.engine import SearchEngine
from mem1_hf.envs.webshop.env import StepResult, WebShopEnv, WebShopSession, parse_action
from mem1_hf.envs.webshop.expert import expert_action, run_expert
from mem1_hf.envs.webshop.goals import Goal, GoalSet, build_goals
from mem1_hf.envs.webshop.reward import Reward, get_reward

__all__ = [
    "Catalog",
    "Goal",
    "GoalSet",
    "Reward",
    "SearchEngine",
    "StepResult",
    "WebShopEnv",
    "WebShopSession",
    "build_goals",
    "expert_action",
    "get_reward",
    "load_catalog",
    "parse_action",
    "run_expert",
]
