"""WebShop's reward for a purchase (``web_agent_site/engine/goal.py``, ``get_reward``).

    reward = r_type * (matched attributes + matched options + [price <= limit])
                    / (goal attributes + goal options + 1)

* attributes: a goal attribute matches when a product attribute has fuzzy token-set similarity
  > 85 with it, or it occurs in the product's title, features or description;
* options: each chosen option matches when it equals a goal option (``size``) or is fuzzily
  similar (> 85, colours first folded to a base colour), or occurs in the product's text;
* price: the price paid is at most the goal's limit;
* r_type: 1 when the product's type matches (same search query, two shared category levels or
  title-noun overlap > 0.2), 0.5 when not, 0.1 / 0 when the title nouns barely / never overlap.

Success is a reward of exactly 1.

Differences from WebShop, both because their packages are not dependencies here:
``token_set_ratio`` is reimplemented (thefuzz's definition: InDel similarity of the sorted
token intersection and remainders, rounded to an integer), and the title "nouns" of the type
match are the title's alphabetic words less function words, where WebShop tags nouns with spaCy
``en_core_web_lg``. Like WebShop, a human goal whose buyer picks more options than it names can
score above 1 (each chosen option found in the product text counts).

Example:
    >>> token_set_ratio("gluten free", "Gluten-Free")
    100
    >>> normalize_color("heather charcoal")
    'charcoal'
    >>> price_reward(19.99, 20.0), price_reward(25.0, 20.0)
    (True, False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: options compared exactly, the others fuzzily (WebShop's ``EXACT_MATCH_OPTS``)
EXACT_MATCH_OPTS = ("size",)
#: the fuzzy-match threshold WebShop uses for attributes and options
FUZZY_THRESHOLD = 85

# WebShop's normalize.COLOR_SET, in its order (the first base colour found wins)
COLOR_SET = (
    "alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze brown "
    "burgundy camel camo caramel champagne charcoal cheetah chestnut chocolate christmas coffee "
    "cognac copper coral cranberry cream crystal dark denim eggplant elephant espresso fuchsia gold "
    "granite grape graphite grass gray green grey heather indigo ivory ivy khaki lavender lemon "
    "leopard light lilac lime magenta maroon mauve merlot midnight mint mocha multicolor mushroom "
    "mustard natural navy nude olive orange peach pewter pink plum purple rainbow red rose royal rust "
    "sand sapphire seashell silver skull slate steel stone stonewash sunflower tan taupe teal tiger "
    "turquoise violet walnut wheat white wine yellow"
).split()

# function words that are never the type of a product (stand-in for spaCy's noun tagging)
_NOT_NOUNS = frozenset(
    "a an and are as at be but by for from if in into is it its no not of on or such that the their "
    "then there these they this to was will with without your you our we us all any both each few "
    "more most other some than too very can just per".split()
)


def normalize_color(value: str) -> str:
    """The first of WebShop's base colours found in ``value`` (substring match), else ``value``."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


def _lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence (bit-parallel, Hyyrö 2004)."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, char in enumerate(a):
        masks[char] = masks.get(char, 0) | (1 << i)
    full = (1 << len(a)) - 1
    row = full
    for char in b:
        matches = row & masks.get(char, 0)
        row = ((row + matches) | (row - matches)) & full
    return len(a) - bin(row).count("1")


def indel_ratio(a: str, b: str) -> float:
    """``fuzz.ratio``: 100 * 2 * LCS / (len(a) + len(b)); two empty strings score 100."""
    total = len(a) + len(b)
    return 100.0 if total == 0 else 200.0 * _lcs_length(a, b) / total


def _full_process(text: str) -> str:
    # thefuzz's default processing: ASCII only, non-alphanumerics to spaces, lower case
    text = text.encode("ascii", "ignore").decode()
    return re.sub(r"\W", " ", text).lower().strip()


def token_set_ratio(a: str, b: str) -> int:
    """thefuzz's ``token_set_ratio``: compare the shared tokens with each side's remainder.

    Example:
        >>> token_set_ratio("natural ingredients", "ingredients natural organic")
        100
        >>> token_set_ratio("red", "blue")
        29
    """
    tokens_a, tokens_b = set(_full_process(a).split()), set(_full_process(b).split())
    if not tokens_a or not tokens_b:
        return 0
    shared = " ".join(sorted(tokens_a & tokens_b))
    with_a = f"{shared} {' '.join(sorted(tokens_a - tokens_b))}".strip()
    with_b = f"{shared} {' '.join(sorted(tokens_b - tokens_a))}".strip()
    best = max(indel_ratio(shared, with_a), indel_ratio(shared, with_b), indel_ratio(with_a, with_b))
    return int(round(best))


def _product_text_has(product: Mapping[str, Any], value: str) -> bool:
    """Whether ``value`` occurs in the title, features or description (lower-cased)."""
    return (
        value in product["Title"].lower()
        or value in " ".join(product["BulletPoints"]).lower()
        or value in product["Description"].lower()
    )


def attribute_reward(product: Mapping[str, Any], goal_attributes: Sequence[str]) -> tuple[float, int]:
    """(share of goal attributes the product has, how many).

    Example:
        >>> p = {"Attributes": ["tea tree", "essential oils"], "Title": "Scrub", "BulletPoints": [],
        ...      "Description": "made with natural ingredients"}
        >>> attribute_reward(p, ["tea tree", "natural ingredients", "cruelty free"])
        (0.6666666666666666, 2)
    """
    matched = 0
    for wanted in goal_attributes:
        if any(token_set_ratio(have, wanted) > FUZZY_THRESHOLD for have in product["Attributes"]):
            matched += 1
        elif _product_text_has(product, wanted):
            matched += 1
    return (matched / len(goal_attributes) if goal_attributes else 0.0), matched


def option_reward(
    product: Mapping[str, Any], goal_options: Sequence[str], chosen: Mapping[str, str]
) -> tuple[float | None, int]:
    """(share of goal options matched by the chosen options, how many); None without goal options.

    Example:
        >>> p = {"Title": "Tee", "BulletPoints": [], "Description": ""}
        >>> option_reward(p, ["large", "heather grey"], {"size": "large", "color": "grey"})
        (1.0, 2)
        >>> option_reward(p, ["large", "grey"], {"size": "x-large", "color": "grey"})
        (0.5, 1)
    """
    wanted = [normalize_color(o) for o in goal_options]
    matched = 0
    for name, value in chosen.items():
        value = normalize_color(value)
        if name.lower() in EXACT_MATCH_OPTS:
            hit = value in wanted
        else:
            hit = any(token_set_ratio(w, value) > FUZZY_THRESHOLD for w in wanted)
        if hit or _product_text_has(product, value):
            matched += 1
    return (matched / len(wanted) if wanted else None), matched


def price_reward(price: float, price_upper: float) -> bool | None:
    """Whether the price paid is within the goal's limit (None for a goal with no limit > 0)."""
    return price <= price_upper if price_upper > 0 else None


def _title_nouns(title: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", title.lower()) if len(w) > 1 and w not in _NOT_NOUNS]


def type_reward(
    product: Mapping[str, Any], goal_name: str, goal_query: str, goal_product_category: str
) -> dict[str, Any]:
    """Whether the product is the kind of thing wanted: ``r_type`` in {1, 0.5, 0.1, 0} and its parts.

    Example:
        >>> p = {"name": "Men's Trail Running Shoes", "query": "running shoes",
        ...      "product_category": "Clothing › Men › Shoes"}
        >>> type_reward(p, "Women's Running Shoes Lightweight", "running shoes", "Clothing › Women › Shoes")["r_type"]
        1.0
        >>> type_reward(p, "Ceramic Coffee Mug", "mugs", "Home › Kitchen")["r_type"]
        0.0
    """
    query_match = product["query"] == goal_query
    levels = {x.strip() for x in product["product_category"].split("›")}
    goal_levels = {x.strip() for x in goal_product_category.split("›")}
    category_match = len(levels & goal_levels) >= 2
    wanted = _title_nouns(goal_name)
    have = set(_title_nouns(product["name"]))
    # WebShop divides by the number of (not distinct) nouns in the goal's title
    title_score = 0.2 if not wanted else len(have & set(wanted)) / len(wanted)
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {
        "r_type": r_type,
        "query_match": query_match,
        "category_match": category_match,
        "title_score": title_score,
    }


@dataclass
class Reward:
    """The reward of one purchase and every part of it."""

    total: float
    r_type: float
    r_att: float
    r_option: float | None
    r_price: bool | None
    num_attr_matches: int
    num_option_matches: int
    query_match: bool
    category_match: bool
    title_score: float

    @property
    def success(self) -> bool:
        return self.total == 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "success": self.success}


def get_reward(
    product: Mapping[str, Any],
    goal: Any,
    price: float,
    chosen_options: Mapping[str, str],
) -> Reward:
    """WebShop's reward for buying ``product`` at ``price`` with ``chosen_options`` for ``goal``.

    ``goal`` is a :class:`~mem1_hf.envs.webshop.goals.Goal` (or anything with its attributes:
    ``attributes``, ``option_values()``, ``price_upper``, ``name``, ``query``,
    ``product_category``).
    """
    kind = type_reward(product, goal.name, goal.query, goal.product_category)
    goal_options = goal.option_values()
    r_price = price_reward(price, goal.price_upper)
    r_att, n_att = attribute_reward(product, goal.attributes)
    r_option, n_opt = option_reward(product, goal_options, chosen_options)
    denominator = len(goal.attributes) + len(goal_options) + 1
    total = (n_att + n_opt + float(bool(r_price))) / denominator * kind["r_type"]
    return Reward(
        total=total,
        r_type=kind["r_type"],
        r_att=r_att,
        r_option=r_option,
        r_price=r_price,
        num_attr_matches=n_att,
        num_option_matches=n_opt,
        query_match=kind["query_match"],
        category_match=kind["category_match"],
        title_score=kind["title_score"],
    )
