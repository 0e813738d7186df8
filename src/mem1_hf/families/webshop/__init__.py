"""The WebShop family: WebShop (Yao et al., 2022) as a text shop, and the agent's task in it.

The simulator: :mod:`~mem1_hf.families.webshop.catalog` (products in WebShop's catalog format),
:mod:`~mem1_hf.families.webshop.engine` (BM25 search, bm25s), :mod:`~mem1_hf.families.webshop.goals`
(synthetic and human goals, a seeded train/test split), :mod:`~mem1_hf.families.webshop.pages`
(the text pages), :mod:`~mem1_hf.families.webshop.reward` (WebShop's published reward) and
:mod:`~mem1_hf.families.webshop.env` (search, results, item pages, Buy Now; sessions are
independent, so a batched agent loop keeps one per task). The agent's side:
:mod:`~mem1_hf.families.webshop.task_env` (:class:`WebShopTaskEnv`, the family's seam),
:mod:`~mem1_hf.families.webshop.expert` (the scripted expert's actions) and
:mod:`~mem1_hf.families.webshop.expert_policy` (that expert as a policy of the loop; needs torch).
:mod:`~mem1_hf.families.webshop.play` holds ``mem1 webshop play`` / ``expert``.

Example:
    >>> from mem1_hf.families.webshop import WebShopEnv
    >>> env = WebShopEnv.from_files(products="webshop_small_1000_products.json.gz",
    ...                             attributes="items_ins_v2_1000.json", seed=0)  # doctest: +SKIP
    >>> session = env.reset(env.goals("test")[0].goal_id)  # doctest: +SKIP
    >>> session.step("search[tea tree body scrub]").observation  # doctest: +SKIP
"""

from __future__ import annotations

from mem1_hf.families.webshop.catalog import Catalog, load_catalog
from mem1_hf.families.webshop.engine import SearchEngine
from mem1_hf.families.webshop.env import StepResult, WebShopEnv, WebShopSession, parse_action
from mem1_hf.families.webshop.expert import expert_action, run_expert
from mem1_hf.families.webshop.goals import Goal, GoalSet, build_goals
from mem1_hf.families.webshop.reward import Reward, get_reward
from mem1_hf.families.webshop.task_env import SPLITS, WebShopTaskEnv

__all__ = [
    "Catalog",
    "Goal",
    "GoalSet",
    "Reward",
    "SearchEngine",
    "StepResult",
    "WebShopEnv",
    "SPLITS",
    "WebShopSession",
    "WebShopTaskEnv",
    "build_goals",
    "expert_action",
    "get_reward",
    "load_catalog",
    "parse_action",
    "run_expert",
]
