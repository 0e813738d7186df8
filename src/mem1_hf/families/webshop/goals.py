"""WebShop goals: what to buy (instruction, attributes, options, price limit) and the splits.

Synthetic goals follow WebShop's ``get_synthetic_goals``: every product with a generated
``instruction`` gives one goal per combination of its option values, with the instruction
``"<instruction> with color: red, and size: large, and price lower than 40.00 dollars"``. The
price limit is drawn once per product from the two to four multiples of 10 just above its price
(none from a price of 980 up). Human goals follow ``get_human_goals``: one per human record
with at least one attribute, its options a list of values. Each goal carries WebShop's sampling
``weight`` (rarer attributes weigh more).

The train/test split is by product, so no test product is seen in training, and is fixed by the
seed. Goal ids are stable: ``syn-<ASIN>-<k>`` (k-th option combination) and ``human-<ASIN>-<k>``.

Example:
    >>> from mem1_hf.families.webshop.goals import build_goals
    >>> goals = build_goals(catalog, seed=0)  # doctest: +SKIP
    >>> goals.split("test")[0].instruction  # doctest: +SKIP
    'Find me ... with color: black, and size: large, and price lower than 40.00 dollars'
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mem1_hf.errors import Mem1InputError
from mem1_hf.families.webshop.catalog import Catalog

#: WebShop's price limits: 10, 20, ..., 990 dollars
PRICE_RANGE = [10.0 * i for i in range(1, 100)]
#: the price limit of a goal without one (WebShop's value)
NO_PRICE_LIMIT = 1_000_000.0
SPLITS = ("train", "test", "human", "all")


@dataclass(frozen=True)
class Goal:
    """One shopping task.

    ``goal_options`` is ``{option name: value}`` for synthetic goals and a list of values for
    human goals (as in WebShop). ``name``, ``query`` and ``product_category`` describe the target
    product for the type-match part of the reward; ``search_query`` is WebShop's human search
    query for this instruction (``goal_query_map.json``) when there is one.
    """

    goal_id: str
    asin: str
    instruction: str
    attributes: tuple[str, ...]
    goal_options: Mapping[str, str] | tuple[str, ...]
    price_upper: float
    name: str
    query: str
    category: str
    product_category: str
    kind: str = "synthetic"
    weight: float = 1.0
    base_instruction: str = ""
    search_query: str | None = None

    def option_values(self) -> list[str]:
        """The wanted option values, whatever the goal's kind."""
        if isinstance(self.goal_options, Mapping):
            return list(self.goal_options.values())
        return list(self.goal_options)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (WebShop's goal keys plus ours)."""
        options = (
            dict(self.goal_options) if isinstance(self.goal_options, Mapping) else list(self.goal_options)
        )
        return {
            "goal_id": self.goal_id,
            "asin": self.asin,
            "instruction_text": self.instruction,
            "attributes": list(self.attributes),
            "goal_options": options,
            "price_upper": self.price_upper,
            "name": self.name,
            "query": self.query,
            "category": self.category,
            "product_category": self.product_category,
            "kind": self.kind,
            "weight": self.weight,
            "search_query": self.search_query,
        }


def draw_price_upper(price: float, rng: random.Random) -> tuple[float, str]:
    """WebShop's price limit for a product of this price, and the instruction's price text.

    Example:
        >>> draw_price_upper(33.5, random.Random(0))
        (70.0, ', and price lower than 70.00 dollars')
        >>> draw_price_upper(985.0, random.Random(0))
        (1000000.0, '')
    """
    candidates = [p for p in PRICE_RANGE if p > price][:4]
    if len(candidates) < 2:
        return NO_PRICE_LIMIT, ""
    _, upper = sorted(rng.sample(candidates, 2))
    return upper, f", and price lower than {upper:.2f} dollars"


def _product_fields(product: dict[str, Any]) -> dict[str, str]:
    return {
        "name": product["Title"],
        "query": product["query"],
        "category": product.get("category", ""),
        "product_category": product.get("product_category", ""),
    }


def synthetic_goals(catalog: Catalog, rng: random.Random) -> list[Goal]:
    """One goal per option combination of every product with a generated instruction."""
    goals = []
    for product in catalog.products:
        base = product.get("instruction_text")
        if not base:
            continue
        asin = product["asin"]
        attributes = tuple(product.get("instruction_attributes") or ())
        if not attributes:
            raise Mem1InputError(f"product {asin} has an instruction but no instruction_attributes")
        price_upper, price_text = draw_price_upper(catalog.price(asin), rng)
        names = sorted(product["options"])
        combos = itertools.product(*(product["options"][n] for n in names))
        for k, combo in enumerate(combos):
            options = dict(zip(names, combo))
            option_text = ", and ".join(f"{n}: {v}" for n, v in options.items())
            option_text = f" with {option_text}" if option_text else ""
            goals.append(
                Goal(
                    goal_id=f"syn-{asin}-{k}",
                    asin=asin,
                    instruction=f"{base}{option_text}{price_text}",
                    attributes=attributes,
                    goal_options=options,
                    price_upper=price_upper,
                    base_instruction=base,
                    **_product_fields(product),
                )
            )
    return goals


def human_goals(catalog: Catalog, rng: random.Random) -> list[Goal]:
    """WebShop's ASIN-linked human goals (records without attributes are skipped, as WebShop does)."""
    goals = []
    for product in catalog.products:
        asin = product["asin"]
        for k, record in enumerate(catalog.human_instructions.get(asin, [])):
            attributes = tuple(record.get("instruction_attributes") or ())
            if not attributes:
                continue
            price_upper, price_text = draw_price_upper(catalog.price(asin), rng)
            base = record["instruction"].strip(".")
            goals.append(
                Goal(
                    goal_id=f"human-{asin}-{k}",
                    asin=asin,
                    instruction=base + price_text,
                    attributes=attributes,
                    goal_options=tuple(record.get("instruction_options") or ()),
                    price_upper=price_upper,
                    kind="human",
                    base_instruction=record["instruction"],
                    **_product_fields(product),
                )
            )
    return goals


def _with_weights(goals: list[Goal]) -> list[Goal]:
    """WebShop's synthetic-goal weight: the mean inverse frequency of the goal's attributes."""
    counts: dict[str, int] = defaultdict(int)
    for goal in goals:
        for attribute in goal.attributes:
            counts[attribute] += 1
    out = []
    for goal in goals:
        weight = sum(1.0 / counts[a] for a in goal.attributes) / len(goal.attributes)
        out.append(Goal(**{**goal.__dict__, "weight": weight}))
    return out


@dataclass
class GoalSet:
    """All goals by id, with the fixed train/test split of the synthetic goals."""

    goals: dict[str, Goal]
    test_asins: frozenset[str]
    _by_split: dict[str, list[Goal]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        synthetic = [g for g in self.goals.values() if g.kind == "synthetic"]
        self._by_split = {
            "train": [g for g in synthetic if g.asin not in self.test_asins],
            "test": [g for g in synthetic if g.asin in self.test_asins],
            "human": [g for g in self.goals.values() if g.kind == "human"],
            "all": list(self.goals.values()),
        }

    def split(self, name: str) -> list[Goal]:
        """The goals of ``train``, ``test`` (synthetic, by product), ``human`` or ``all``."""
        if name not in self._by_split:
            raise Mem1InputError(f"unknown goal split {name!r}; choose from {', '.join(SPLITS)}")
        return list(self._by_split[name])

    def __getitem__(self, goal_id: str) -> Goal:
        try:
            return self.goals[goal_id]
        except KeyError:
            raise Mem1InputError(f"unknown WebShop goal id {goal_id!r}") from None

    def __len__(self) -> int:
        return len(self.goals)


def build_goals(
    catalog: Catalog,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    query_map: Mapping[str, Sequence[str]] | None = None,
) -> GoalSet:
    """Synthetic and human goals of a catalog, split into train/test by product with ``seed``.

    ``query_map`` is WebShop's ``goal_query_map.json`` (instruction -> human search queries);
    a goal whose base instruction is in it gets the first query as ``search_query``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise Mem1InputError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = random.Random(seed)
    goals = _with_weights(synthetic_goals(catalog, rng)) + human_goals(catalog, rng)
    if query_map:
        goals = [
            Goal(**{**g.__dict__, "search_query": query_map[g.base_instruction][0]})
            if query_map.get(g.base_instruction)
            else g
            for g in goals
        ]
    asins = sorted({g.asin for g in goals if g.kind == "synthetic"})
    random.Random(seed).shuffle(asins)
    test = frozenset(asins[: round(len(asins) * test_fraction)])
    return GoalSet(goals={g.goal_id: g for g in goals}, test_asins=test)
