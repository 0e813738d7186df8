"""The WebShop text environment: one shared catalog and search engine, independent sessions.

``WebShopEnv`` holds what every episode shares (products, BM25 engine, goals); ``reset(goal_id)``
starts a :class:`WebShopSession`, a browser on the start page with that goal. Sessions are
separate objects, so a batched agent loop keeps one per task. ``session.step(action)`` takes
``search[query]`` or ``click[button]`` (case-insensitive, as WebShop lower-cases clickables) and
returns a :class:`StepResult`. An action that is not available on the page (bad format, unknown
button, search without a search bar, anything after the purchase) is an invalid step: reward 0,
the page unchanged, an observation saying why, ``info["valid"] = False``; it never raises and
never ends the episode. ``click[Buy Now]`` ends it with WebShop's reward.

Example:
    >>> env = WebShopEnv.from_files(products="webshop_small_1000_products.json.gz",
    ...                             attributes="items_ins_v2_1000.json", seed=0)  # doctest: +SKIP
    >>> session = env.reset(env.goals("test")[0].goal_id)  # doctest: +SKIP
    >>> result = session.step("search[tea tree body scrub]")  # doctest: +SKIP
    >>> session.available_actions()["clickables"][:3]  # doctest: +SKIP
    ['back to search', 'next >', 'b07xyz1234']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError
from mem1_hf.families.webshop.catalog import Catalog, load_catalog, read_json
from mem1_hf.families.webshop.engine import PRODUCT_WINDOW, SearchEngine, results_page
from mem1_hf.families.webshop.goals import Goal, GoalSet, build_goals
from mem1_hf.families.webshop.pages import (
    BACK_TO_SEARCH,
    BUY_NOW,
    NEXT_PAGE,
    PREV_PAGE,
    SUB_PAGES,
    Page,
    render_done_page,
    render_item_page,
    render_results_page,
    render_search_page,
    render_sub_page,
)
from mem1_hf.families.webshop.reward import (
    NOUN_BACKENDS,
    REWARD_VARIANTS,
    Reward,
    get_reward,
    title_nouns_backend,
)

_ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*$", re.IGNORECASE | re.DOTALL)


def parse_action(action: str) -> tuple[str, str] | None:
    """``"click[Buy Now]"`` -> ``("click", "Buy Now")``; None when it is neither form.

    Example:
        >>> parse_action("search[ red mug ]"), parse_action("buy it")
        (('search', 'red mug'), None)
    """
    match = _ACTION.match(action) if isinstance(action, str) else None
    if match is None:
        return None
    return match.group(1).lower(), match.group(2).strip()


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass
class StepResult:
    """What one step returns (gym-like)."""

    observation: str
    reward: float
    done: bool
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class BrowserState:
    """Where a session is: the page kind and what it shows.

    ``results`` holds every hit of the last search (up to 50), ``page`` the results page number,
    ``asin`` the product open, ``options`` the options chosen on it ({name: value}).
    """

    kind: str = "search"
    keywords: str | None = None
    results: list[str] = field(default_factory=list)
    page: int = 1
    asin: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    num_searches: int = 0

    def page_asins(self) -> list[str]:
        """The ASINs shown on the current results page."""
        return results_page(self.results, self.page)


class WebShopSession:
    """One episode: a goal and a text browser. Create with :meth:`WebShopEnv.reset`."""

    def __init__(self, env: WebShopEnv, goal: Goal) -> None:
        self.env = env
        self.goal = goal
        self.state = BrowserState()
        self.num_steps = 0
        self.done = False
        self.reward: Reward | None = None
        self._page = self._render()

    # ---------------------------------------------------------------- what the agent sees
    @property
    def page(self) -> Page:
        """The current page (kind, text, clickables as shown, search bar)."""
        return self._page

    def available_actions(self) -> dict[str, Any]:
        """WebShop's ``get_available_actions``: search bar present, clickables lower-cased."""
        return {
            "has_search_bar": self._page.has_search_bar,
            "clickables": [c.lower() for c in self._page.clickables],
        }

    def action_strings(self) -> list[str]:
        """The actions as strings: ``search[<content>]`` and ``click[...]`` per clickable."""
        actions = ["search[<content>]"] if self._page.has_search_bar else []
        return actions + [f"click[{c.lower()}]" for c in self._page.clickables]

    @property
    def observation(self) -> str:
        """Page text (which starts with the instruction) and the available actions."""
        actions = ", ".join(self.action_strings()) or "none (the episode is over)"
        return f"{self._page.text}\nAvailable actions: {actions}"

    # ---------------------------------------------------------------- acting
    def step(self, action: str) -> StepResult:
        """Apply ``search[...]`` or ``click[...]``; an unavailable action is an invalid step."""
        self.num_steps += 1
        error = self._apply(action)
        info: dict[str, Any] = {
            "valid": error is None,
            "page": self._page.kind,
            "asin": self.state.asin,
            "options": dict(self.state.options),
            "num_steps": self.num_steps,
        }
        if error is not None:
            info["error"] = error
            return StepResult(f"Invalid action: {error}\n{self.observation}", 0.0, False, info)
        reward = 0.0
        if self.done and self.reward is not None:
            reward = self.reward.total
            info.update(
                reward_parts=self.reward.to_dict(),
                success=self.reward.success,
                purchased_asin=self.state.asin,
                goal_asin=self.goal.asin,
                price=self.env.catalog.price(self.state.asin or ""),
            )
        return StepResult(self.observation, reward, self.done, info)

    def _apply(self, action: str) -> str | None:
        """Change the state for a valid action; otherwise return why it is invalid."""
        if self.done:
            return "the episode is over (the item was bought)"
        parsed = parse_action(action)
        if parsed is None:
            return f"{str(action)[:80]!r} is not search[query] or click[button]"
        verb, arg = parsed
        if verb == "search":
            if not self._page.has_search_bar:
                return "there is no search bar on this page (click[back to search] first)"
            if not arg:
                return "the search query is empty"
            self._search(arg)
            return None
        button = {_norm(c): c for c in self._page.clickables}.get(_norm(arg))
        if button is None:
            if _norm(arg) == "search" and self._page.has_search_bar:
                return "use search[your query] to search"
            return f"{arg!r} is not clickable on this page"
        self._click(button)
        return None

    def _search(self, query: str) -> None:
        # WebShop lower-cases the keywords; a new search forgets the product and its options
        keywords = _norm(query)
        self.state = BrowserState(
            kind="results",
            keywords=keywords,
            results=self.env.search(keywords),
            num_searches=self.state.num_searches + 1,
        )
        self._page = self._render()

    def _click(self, button: str) -> None:
        state = self.state
        if button == BACK_TO_SEARCH:
            self.state = BrowserState(num_searches=state.num_searches)
        elif state.kind == "results":
            if button == NEXT_PAGE:
                state.page += 1
            elif button == PREV_PAGE:
                state.page -= 1
            else:  # a product link
                state.kind, state.asin, state.options = "item", button, {}
        elif state.kind == "item":
            if button == PREV_PAGE:
                state.kind, state.asin, state.options = "results", None, {}
            elif button in SUB_PAGES:
                state.kind = button.lower()
            elif button == BUY_NOW:
                self._buy()
            else:  # an option value: it belongs to the first option that lists it
                product = self.env.catalog.product(state.asin or "")
                name = next(n for n, values in product["options"].items() if button in values)
                state.options[name] = button
        elif button == PREV_PAGE:  # from a sub-page back to its item page, options kept
            state.kind = "item"
        self._page = self._render()

    def _buy(self) -> None:
        asin = self.state.asin or ""
        product = self.env.catalog.product(asin)
        self.reward = get_reward(
            product,
            self.goal,
            self.env.catalog.price(asin),
            self.state.options,
            variant=self.env.reward_variant,
            nouns=self.env.title_nouns,
        )
        self.done = True
        self.state.kind = "done"

    def _render(self) -> Page:
        state, instruction = self.state, self.goal.instruction
        if state.kind == "search":
            return render_search_page(instruction)
        if state.kind == "results":
            shown = [self.env.catalog.product(a) for a in state.page_asins()]
            return render_results_page(instruction, shown, state.page, len(state.results), PRODUCT_WINDOW)
        product = self.env.catalog.product(state.asin or "")
        if state.kind == "item":
            return render_item_page(instruction, product, state.options)
        if state.kind == "done":
            return render_done_page(product, state.options, self.reward.total if self.reward else 0.0)
        return render_sub_page(instruction, product, state.kind.capitalize())


class WebShopEnv:
    """WebShop in text mode over a product catalog, with its goals and BM25 search.

    Build with :meth:`from_files`; ``reset(goal_id)`` returns an independent session.
    ``reward_variant`` and ``title_nouns`` choose how a purchase is scored (see
    :mod:`mem1_hf.families.webshop.reward`; the defaults reproduce WebShop's published reward).
    """

    def __init__(
        self,
        catalog: Catalog,
        goals: GoalSet,
        engine: SearchEngine,
        *,
        reward_variant: str = "webshop",
        title_nouns: str = "auto",
    ) -> None:
        if reward_variant not in REWARD_VARIANTS:
            raise Mem1InputError(f"reward variant must be one of {REWARD_VARIANTS}, got {reward_variant!r}")
        if title_nouns not in NOUN_BACKENDS:
            raise Mem1InputError(f"title nouns must be one of {NOUN_BACKENDS}, got {title_nouns!r}")
        self.reward_variant = reward_variant
        self.title_nouns = title_nouns
        self.catalog = catalog
        self.goal_set = goals
        self.engine = engine
        # agents repeat queries (and the expert always does): cache the ranked ASINs
        self._search = lru_cache(maxsize=8192)(lambda q: tuple(self.engine.search(q)))

    @classmethod
    def from_files(
        cls,
        products: str | Path,
        attributes: str | Path,
        *,
        human_instructions: str | Path | None = None,
        goal_query_map: str | Path | None = None,
        seed: int = 0,
        test_fraction: float = 0.2,
        num_products: int | None = None,
        stemmer: str | None = "light",
        reward_variant: str = "webshop",
        title_nouns: str = "auto",
    ) -> WebShopEnv:
        """Load a WebShop catalog and build its goals and search engine.

        Args:
            products: WebShop product file (``.json``/``.json.gz``, loaded or raw format).
            attributes: ``items_ins_v2*.json`` (attributes and synthetic instructions by ASIN).
            human_instructions: optional ``items_human_ins.json``.
            goal_query_map: optional ``goal_query_map.json`` (instruction -> search queries).
            seed: fixes prices of price ranges, goal price limits and the train/test split.
            test_fraction: share of the goal products held out as the test split.
            num_products: use only the first N products.
            stemmer: search stemming, ``"light"``, ``"snowball"`` (PyStemmer) or None.
            reward_variant: ``"webshop"`` (WebShop's published reward) or ``"corrected"``.
            title_nouns: type-match nouns from ``"auto"`` (spaCy if installed), ``"spacy"`` or
                ``"heuristic"``.

        Example:
            >>> env = WebShopEnv.from_files("items_shuffle_1000.json", "items_ins_v2_1000.json")  # doctest: +SKIP
        """
        catalog = load_catalog(
            products, attributes, human_instructions=human_instructions, seed=seed, num_products=num_products
        )
        query_map = read_json(goal_query_map) if goal_query_map is not None else None
        goals = build_goals(catalog, seed=seed, test_fraction=test_fraction, query_map=query_map)
        engine = SearchEngine(catalog.products, stemmer=stemmer)
        return cls(catalog, goals, engine, reward_variant=reward_variant, title_nouns=title_nouns)

    def reward_settings(self) -> dict[str, str]:
        """How purchases are scored, for a run's settings: the variant and the noun tagger.

        Example:
            >>> env.reward_settings()  # doctest: +SKIP
            {'webshop_reward': 'webshop', 'title_nouns': 'heuristic'}
        """
        return {"webshop_reward": self.reward_variant, "title_nouns": title_nouns_backend(self.title_nouns)}

    def goals(self, split: str = "test") -> list[Goal]:
        """Goals of a split: ``train``, ``test``, ``human`` or ``all``."""
        return self.goal_set.split(split)

    def goal(self, goal_id: str) -> Goal:
        """The goal with this id (``syn-<ASIN>-<k>`` or ``human-<ASIN>-<k>``)."""
        return self.goal_set[goal_id]

    def search(self, query: str) -> list[str]:
        """The ranked ASINs (up to 50) WebShop's search returns for ``query``."""
        return list(self._search(_norm(query)))

    def reset(self, goal: str | Goal) -> WebShopSession:
        """A new session on the start page for this goal (an id or a :class:`Goal`)."""
        return WebShopSession(self, goal if isinstance(goal, Goal) else self.goal(goal))

    def reset_batch(self, goals: Sequence[str | Goal]) -> list[WebShopSession]:
        """One independent session per goal."""
        return [self.reset(g) for g in goals]

    def describe(self) -> Mapping[str, int]:
        """Sizes: products and goals per split."""
        return {
            "products": len(self.catalog),
            **{split: len(self.goals(split)) for split in ("train", "test", "human")},
        }
