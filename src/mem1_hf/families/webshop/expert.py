"""A scripted expert for WebShop: it shows the environment and reward work, with no model.

Policy (one action per call, from the goal and the session's state only):

1. search with the goal's query: WebShop's human query for the instruction
   (``goal_query_map.json``) if known, else the instruction without its price clause; a
   second search uses the product's own ``query`` field and the wanted options;
2. on a results page, open the goal's product when it is listed; otherwise page on
   (``Next >``) while the turns allow, then search again; when turns run short, open the top
   result;
3. on the item page, click each wanted option that the product offers, then ``Buy Now``;
4. on a sub-page, go back (``< Prev``).

It always buys within ``max_turns`` (10, the agent loop's cap).

Example:
    >>> from mem1_hf.families.webshop.expert import run_expert
    >>> run_expert(env, "test")  # doctest: +SKIP
    {'split': 'test', 'episodes': 1383, 'avg_reward': 0.982, 'success_rate': 0.908, ...}
"""

from __future__ import annotations

import re
import time
from typing import Any

from mem1_hf.families.webshop.env import WebShopEnv, WebShopSession
from mem1_hf.families.webshop.goals import Goal
from mem1_hf.families.webshop.pages import BACK_TO_SEARCH, BUY_NOW, NEXT_PAGE, PREV_PAGE

MAX_TURNS = 10
_PRICE_CLAUSE = re.compile(r",? and price lower than [\d.]+ dollars\s*$", re.IGNORECASE)
_LEAD = re.compile(r"^\s*(find me|i am looking for|i'm looking for|i need|i want)\s+", re.IGNORECASE)


def goal_search_query(goal: Goal, attempt: int = 0) -> str:
    """The expert's query: WebShop's human query or the instruction less its price clause.

    The second attempt (``attempt=1``) searches the product's ``query`` field and the options.

    Example:
        >>> from mem1_hf.families.webshop.goals import Goal
        >>> g = Goal("g", "B0", "Find me vegan lip balm with color: red, and price lower than 30.00 dollars",
        ...          ("vegan",), {"color": "red"}, 30.0, "Lip Balm", "lip balm", "c", "p")
        >>> goal_search_query(g), goal_search_query(g, attempt=1)
        ('vegan lip balm with color: red', 'lip balm red')
    """
    if attempt > 0:
        return " ".join([goal.query, *goal.option_values()])
    if goal.search_query:
        return goal.search_query
    return _LEAD.sub("", _PRICE_CLAUSE.sub("", goal.instruction)).strip(" .")


def _wanted_options(goal: Goal, product: dict[str, Any]) -> dict[str, str]:
    """{option name: value} to click for this goal on this product."""
    if isinstance(goal.goal_options, dict):
        return {n: v for n, v in goal.goal_options.items() if v in product["options"].get(n, [])}
    wanted = {}
    for value in goal.goal_options:  # human goals: values only; find the option offering each
        for name, values in product["options"].items():
            if value.lower() in values and name not in wanted:
                wanted[name] = value.lower()
                break
    return wanted


def expert_action(goal: Goal, session: WebShopSession, max_turns: int = MAX_TURNS) -> str:
    """The expert's next action for ``goal`` in ``session``."""
    state = session.state
    turns_left = max_turns - session.num_steps
    if state.kind == "search":
        return f"search[{goal_search_query(goal, attempt=state.num_searches)}]"
    if state.kind == "results":
        shown = state.page_asins()
        if goal.asin in shown:
            return f"click[{goal.asin}]"  # as the page shows it: copied, not re-cased
        # turns still needed once the product is open: open it, choose options, buy
        need = len(_wanted_options(goal, session.env.catalog.product(goal.asin))) + 2
        if NEXT_PAGE in session.page.clickables and turns_left - 1 >= need:
            return f"click[{NEXT_PAGE.lower()}]"
        if state.num_searches < 2 and turns_left - 2 >= need:
            return f"click[{BACK_TO_SEARCH.lower()}]"
        if shown:
            return f"click[{shown[0]}]"
        return f"click[{BACK_TO_SEARCH.lower()}]"
    if state.kind == "item":
        product = session.env.catalog.product(state.asin or "")
        if turns_left > 1:
            for name, value in _wanted_options(goal, product).items():
                if state.options.get(name) != value:
                    return f"click[{value}]"
        return f"click[{BUY_NOW.lower()}]"
    return f"click[{PREV_PAGE.lower()}]"  # a sub-page


def run_episode(env: WebShopEnv, goal: Goal, max_turns: int = MAX_TURNS) -> dict[str, Any]:
    """Run the expert on one goal; returns its reward, success, turns and actions."""
    session = env.reset(goal)
    actions, reward, info = [], 0.0, {}
    for _ in range(max_turns):
        action = expert_action(goal, session, max_turns)
        actions.append(action)
        result = session.step(action)
        reward, info = result.reward, result.info
        if result.done:
            break
    return {
        "goal_id": goal.goal_id,
        "reward": reward,
        "success": bool(info.get("success", False)),
        "found_target": info.get("purchased_asin") == goal.asin,
        "turns": len(actions),
        "actions": actions,
    }


def run_expert(env: WebShopEnv, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """Run the expert over a split's goals: average reward, success rate and more.

    Example:
        >>> summary = run_expert(env, "test")  # doctest: +SKIP
        >>> summary["avg_reward"] > 0.9  # doctest: +SKIP
        True
    """
    goals = env.goals(split)[:limit]
    start = time.perf_counter()
    episodes = [run_episode(env, goal) for goal in goals]
    n = max(len(episodes), 1)
    return {
        "split": split,
        "episodes": len(episodes),
        "avg_reward": sum(e["reward"] for e in episodes) / n,
        "success_rate": sum(e["success"] for e in episodes) / n,
        "found_target_rate": sum(e["found_target"] for e in episodes) / n,
        "avg_turns": sum(e["turns"] for e in episodes) / n,
        "seconds": time.perf_counter() - start,
        "failures": [e for e in episodes if not e["success"]][:20],
    }
