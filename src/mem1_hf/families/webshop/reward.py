"""WebShop's reward for a purchase, as princeton-nlp/WebShop's ``engine/goal.py`` computes it.

    reward = r_type * (matched goal attributes + matched goal options + [price <= limit])
                    / (goal attributes + goal options + 1)

* attributes: a goal attribute matches when some product attribute has thefuzz
  ``token_set_ratio`` > 85 with it, or it occurs in the product's title, features or description;
* options: WebShop loops over the *goal* options and counts each one that some clicked option
  matches (``token_set_ratio`` > 85 after colour folding), so the total never exceeds 1. There
  is no exact-size rule (``x-large`` matches a goal ``large``) and no product-text fallback;
* price: the price paid is at most the goal's limit;
* r_type: 1 when the product's type matches (same search query, two shared category levels or
  title-noun overlap > 0.2), 0.5 when not, 0.1 / 0 when the title nouns barely / never overlap.

Success is a reward of exactly 1. A goal with no price limit (``price_upper`` ≤ 0) or no
attributes is refused (:class:`~mem1_hf.errors.Mem1InputError`) in both variants: WebShop's own
``get_reward`` raises on both (it adds ``None`` for the price, divides by the number of
attributes), so no score would reproduce it. Goals from :mod:`~mem1_hf.families.webshop.goals` never
have either (no limit is a limit of 1,000,000, as in WebShop; goals without attributes are skipped).

Synthetic goals: WebShop passes ``goal_options.items()``, so each goal option is a ``(name,
value)`` pair. Colour folding (``normalize_color``: the first base colour that is a substring)
then applies to the clicked values only — on a pair, ``"gray" in ("color", "antique graywash")``
tests membership — and thefuzz compares the clicked value with ``str(pair)``. So buying exactly
the goal can score below 1 ("antique graywash" folds to "ash", which does not match the pair).
``variant="corrected"`` compares goal *values*, folded like the clicked ones, and is otherwise
identical; ``"webshop"`` (the default) reproduces the published numbers.

Title nouns for r_type: WebShop tags them with spaCy (``en_core_web_lg`` in its setup and tests,
``en_core_web_sm`` in its current ``goal.py``). ``nouns="auto"`` uses spaCy when it and an English
model are installed (lg, then md, then sm) and otherwise a word heuristic calibrated on WebShop's
own test cases; :func:`title_nouns_backend` says which one scores.

Example:
    >>> token_set_ratio("gluten free", "Gluten-Free")
    100
    >>> normalize_color("heather charcoal"), normalize_color(("color", "black"))
    ('charcoal', 'black')
    >>> option_reward(["antique graywash"], [("color", "antique graywash")])  # WebShop's own
    (0.0, 0)
    >>> option_reward(["antique graywash"], ["antique graywash"])  # a goal given by values
    (1.0, 1)
    >>> price_reward(19.99, 20.0), price_reward(25.0, 20.0)
    (True, False)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mem1_hf.errors import Mem1InputError

#: the fuzzy-match threshold WebShop uses for attributes and options (a match is ``> 85``)
FUZZY_THRESHOLD = 85
#: ``"webshop"``: the published get_reward; ``"corrected"``: synthetic goals compared by value
REWARD_VARIANTS = ("webshop", "corrected")
#: how title nouns are found: spaCy if installed (``auto``), spaCy only, or the word heuristic
NOUN_BACKENDS = ("auto", "spacy", "heuristic")
#: spaCy English pipelines tried in order (WebShop's setup installs lg)
SPACY_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm")

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

OptionValue = str | tuple[str, str]


@dataclass
class RewardConfig:
    """How a WebShop purchase is scored (``mem1 eval`` / ``mem1 webshop`` flags).

    Example:
        >>> RewardConfig().webshop_reward, RewardConfig().title_nouns
        ('webshop', 'auto')
    """

    webshop_reward: str = field(
        default="webshop",
        metadata={
            "help": "webshop: WebShop's published reward; corrected: synthetic goals' options compared "
            "by value",
            "choices": REWARD_VARIANTS,
        },
    )
    title_nouns: str = field(
        default="auto",
        metadata={
            "help": "type-match nouns: spaCy if installed (auto), spaCy only, or the word heuristic",
            "choices": NOUN_BACKENDS,
        },
    )


def normalize_color(value: OptionValue) -> OptionValue:
    """WebShop's ``normalize_color``: the first base colour ``in`` ``value``, else ``value``.

    On a string ``in`` is a substring test; on a ``(name, value)`` pair (WebShop's synthetic goal
    options) it is membership, so a pair folds only when its value *is* a base colour.

    Example:
        >>> normalize_color("dash kit"), normalize_color(("color", "dash kit"))
        ('ash', ('color', 'dash kit'))
    """
    for color in COLOR_SET:
        if color in value:
            return color
    return value


def token_set_ratio(a: OptionValue, b: OptionValue) -> int:
    """thefuzz's ``fuzz.token_set_ratio`` (0..100); a non-string is compared as its ``str()``.

    Example:
        >>> token_set_ratio("natural ingredients", "ingredients natural organic")
        100
        >>> token_set_ratio("xl", ("size", "XL"))  # str(pair) = "('size', 'XL')" -> "size xl"
        100
    """
    from thefuzz import fuzz  # here, not at the top: the pipeline's remote code ships this module

    return int(fuzz.token_set_ratio(a, b))


def _product_text_has(product: Mapping[str, Any], value: str) -> bool:
    """Whether ``value`` occurs in the title, features or description (lower-cased)."""
    return (
        value in product["Title"].lower()
        or value in " ".join(product["BulletPoints"]).lower()
        or value in product["Description"].lower()
    )


def attribute_reward(product: Mapping[str, Any], goal_attributes: Sequence[str]) -> tuple[float, int]:
    """(share of goal attributes the product has, how many): WebShop's ``get_attribute_reward``.

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
    purchased_options: Sequence[str], goal_options: Sequence[OptionValue]
) -> tuple[float | None, int]:
    """WebShop's ``get_option_reward``: (share of goal options some clicked option matches, count).

    ``goal_options`` holds values (human goals) or ``(name, value)`` pairs (synthetic goals, as
    WebShop passes them); the share is None without goal options.

    Example:
        >>> option_reward(["pack of 12", "grey", "XL"], ["grey", "XL", "pack of 12"])
        (1.0, 3)
        >>> option_reward(["x-large"], ["large"])  # fuzzy, sizes too
        (1.0, 1)
        >>> option_reward(["pink", "26 inch x 10 inch"], ["pink"])  # never above 1
        (1.0, 1)
    """
    purchased = [normalize_color(o) for o in purchased_options]
    wanted = [normalize_color(o) for o in goal_options]
    matched = sum(any(token_set_ratio(p, g) > FUZZY_THRESHOLD for p in purchased) for g in wanted)
    return (matched / len(wanted) if wanted else None), matched


def price_reward(price: float, price_upper: float) -> bool | None:
    """Whether the price paid is within the goal's limit (None for a goal with no limit > 0)."""
    return price <= price_upper if price_upper > 0 else None


# ---------------------------------------------------------------------------- title nouns
_NUMBER_LIKE = re.compile(r"[^\W\d_]")  # a token needs a letter to be a noun
_EDGE_PUNCT = re.compile(r"^\W+|[^\w.]+$")  # "(Black)" -> "black"; "D.O.N." stays
_POSSESSIVE = re.compile(r"(?<=\w)['’]s$")  # "men's" -> "men"
# function words and determiners (spaCy never tags them NOUN/PROPN)
_FUNCTION_WORDS = frozenset(
    "a an and are as at be but by for from if in into is it its no not of on or such that the their "
    "then there these they this to was will with without your you our we us all any both each few "
    "more most other some than too very can just per & + x".split()
)
# "Mens"/"Womens" (no apostrophe) modify the type ("Mens Basketball Shoes"); WebShop's tagger
# (en_core_web_lg) evidently did not count them, or its "Mens D.O.N." test could not give 1/3
_MODIFIER_WORDS = frozenset({"mens", "womens"})
# spaCy splits a slash anywhere and a hyphen between letters ("T-Shirt", "DVD/VCR")
_INFIX = re.compile(r"/|(?<=[^\W\d_])-(?=[^\W\d_])")


def _heuristic_word_is_noun(word: str) -> bool:
    if word in _FUNCTION_WORDS or word in _MODIFIER_WORDS or not _NUMBER_LIKE.search(word):
        return False
    # past participles ("Listed", "Padded") are verbs/adjectives; "bed", "speed", "daybed" are not
    return not (len(word) >= 5 and word.endswith("ed") and not word.endswith(("eed", "bed")))


def heuristic_title_nouns(title: str) -> list[str]:
    """The title's noun-like words (lower case, repeats kept): the fallback for spaCy's tagger.

    Whitespace tokens, split at ``/`` and at hyphens between letters, with edge punctuation and
    ``'s`` stripped (``D.O.N.`` stays one word), that have a letter and are not function words,
    ``-ed`` participles or "Mens"/"Womens". On 2,305 (goal, search result) pairs of WebShop's
    catalog its ``r_type`` equals spaCy ``en_core_web_sm`` 3.8's on most pairs (docs/scoring.md).

    Example:
        >>> heuristic_title_nouns("Men's Hollis Sport Sandal - Listed 2 Pack (Black) T-Shirt")
        ['men', 'hollis', 'sport', 'sandal', 'pack', 'black', 't', 'shirt']
    """
    pieces = (piece for token in title.lower().split() for piece in _INFIX.split(token))
    words = (_POSSESSIVE.sub("", _EDGE_PUNCT.sub("", piece)) for piece in pieces)
    return [w for w in words if w and _heuristic_word_is_noun(w)]


@functools.lru_cache(maxsize=1)
def _spacy_pipeline() -> Any | None:
    try:
        import spacy
    except ImportError:
        return None
    for name in SPACY_MODELS:
        try:
            return spacy.load(name, disable=["ner", "parser", "lemmatizer"])
        except OSError:  # not installed
            continue
    return None


def _resolve_backend(nouns: str) -> str:
    if nouns not in NOUN_BACKENDS:
        raise Mem1InputError(f"nouns must be one of {NOUN_BACKENDS}, got {nouns!r}")
    if nouns == "heuristic":
        return "heuristic"
    nlp = _spacy_pipeline()
    if nlp is None:
        if nouns == "spacy":
            raise Mem1InputError(
                "nouns='spacy' needs spaCy and an English model: pip install spacy && "
                "python -m spacy download en_core_web_lg"
            )
        return "heuristic"
    return "spacy"


def title_nouns_backend(nouns: str = "auto") -> str:
    """Which tagger scores the type match: ``"spacy:<model>-<version>"`` or ``"heuristic"``.

    Example:
        >>> title_nouns_backend("heuristic")
        'heuristic'
    """
    if _resolve_backend(nouns) == "heuristic":
        return "heuristic"
    meta = _spacy_pipeline().meta
    return f"spacy:{meta['lang']}_{meta['name']}-{meta['version']}"


@functools.lru_cache(maxsize=65536)
def title_nouns(title: str, nouns: str = "auto") -> tuple[str, ...]:
    """The nouns of a product title, lower case, repeats kept (WebShop's NOUN/PROPN tokens)."""
    if _resolve_backend(nouns) == "heuristic":
        return tuple(heuristic_title_nouns(title))
    return tuple(t.text.lower() for t in _spacy_pipeline()(title) if t.pos_ in ("PNOUN", "NOUN", "PROPN"))


def type_reward(
    product: Mapping[str, Any],
    goal_name: str,
    goal_query: str,
    goal_product_category: str,
    nouns: str = "auto",
) -> dict[str, Any]:
    """WebShop's ``get_type_reward``: ``r_type`` in {1, 0.5, 0.1, 0} and its parts.

    Example:
        >>> p = {"name": "Men's Trail Running Shoes", "query": "running shoes",
        ...      "product_category": "Clothing › Men › Shoes"}
        >>> type_reward(p, "Women's Running Shoes Lightweight", "running shoes", "Clothing › Women › Shoes")["r_type"]
        1.0
        >>> type_reward(p, "Ceramic Coffee Mug", "mugs", "Home › Kitchen", nouns="heuristic")["r_type"]
        0.0
    """
    query_match = product["query"] == goal_query
    levels = {x.strip() for x in product["product_category"].split("›")}
    goal_levels = {x.strip() for x in goal_product_category.split("›")}
    category_match = len(levels & goal_levels) >= 2
    wanted = title_nouns(goal_name, nouns)
    have = set(title_nouns(product["name"], nouns))
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


def goal_option_items(goal_options: Mapping[str, str] | Sequence[str], variant: str) -> list[OptionValue]:
    """The goal options as ``get_option_reward`` receives them in this variant.

    Example:
        >>> goal_option_items({"color": "red"}, "webshop"), goal_option_items({"color": "red"}, "corrected")
        ([('color', 'red')], ['red'])
    """
    if variant not in REWARD_VARIANTS:
        raise Mem1InputError(f"reward variant must be one of {REWARD_VARIANTS}, got {variant!r}")
    if isinstance(goal_options, Mapping):
        return list(goal_options.items()) if variant == "webshop" else list(goal_options.values())
    return list(goal_options)


def _check_goal(g: Mapping[str, Any]) -> None:
    """Refuse the goals WebShop's ``get_reward`` cannot score (it raises on them)."""
    label = f"goal {g['goal_id']}" if g.get("goal_id") else "a goal"
    upper = g["price_upper"]
    if isinstance(upper, bool) or not isinstance(upper, (int, float)) or not upper > 0:
        raise Mem1InputError(
            f"{label}: price_upper must be a number > 0, got {upper!r} (WebShop's get_reward raises "
            "without a price limit; for none use a large one, as WebShop's 1000000)"
        )
    if not g["attributes"]:
        raise Mem1InputError(
            f"{label} has no attributes (WebShop's get_reward divides by their number and raises)"
        )


def get_reward(
    product: Mapping[str, Any],
    goal: Any,
    price: float,
    chosen_options: Mapping[str, str],
    *,
    variant: str = "webshop",
    nouns: str = "auto",
) -> Reward:
    """WebShop's reward for buying ``product`` at ``price`` with ``chosen_options`` for ``goal``.

    ``goal`` is a :class:`~mem1_hf.families.webshop.goals.Goal` (or a WebShop goal dict: keys
    ``attributes``, ``goal_options``, ``price_upper``, ``name``, ``query``, ``product_category``).
    ``variant``: ``"webshop"`` (published) or ``"corrected"`` (synthetic goals compared by value);
    ``nouns``: see :func:`title_nouns_backend`.
    """
    g = goal if isinstance(goal, Mapping) else vars(goal)
    _check_goal(g)
    kind = type_reward(product, g["name"], g["query"], g["product_category"], nouns)
    goal_options = goal_option_items(g["goal_options"], variant)
    r_price = price_reward(price, g["price_upper"])
    r_att, n_att = attribute_reward(product, g["attributes"])
    r_option, n_opt = option_reward(list(chosen_options.values()), goal_options)
    denominator = len(g["attributes"]) + len(goal_options) + 1
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
