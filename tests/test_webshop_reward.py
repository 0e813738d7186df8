"""WebShop's reward, part by part, on real products of WebShop's 1,000-product catalog."""

from __future__ import annotations

import random

import pytest
from conftest import SHARED_DATA

from mem1_hf.envs.webshop import WebShopEnv
from mem1_hf.envs.webshop.reward import (
    _lcs_length,
    attribute_reward,
    get_reward,
    indel_ratio,
    normalize_color,
    option_reward,
    price_reward,
    token_set_ratio,
    type_reward,
)

WEBSHOP = SHARED_DATA / "webshop"
SANDAL = "syn-B07NZ173GY-0"  # FitFlop Men's Hollis Neoprene Sport Sandal: size x colour, men's sandals
RAZOR = "syn-B087TR48KK-0"  # Minkissy eyebrow razors "... for Women and Men": no options
TABLE = "B06Y3VLDFB"  # Vhomes reclaimed wood console table


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv.from_files(
        WEBSHOP / "webshop_small_1000_products.json.gz", WEBSHOP / "items_ins_v2_1000.json", seed=0
    )


# ------------------------------------------------------------------ fuzzy matching (thefuzz's definitions)
def _lcs_dp(a: str, b: str) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal, row[0] = 0, 0
        for j, y in enumerate(b, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def test_bit_parallel_lcs_equals_dynamic_programming():
    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choice("abcde ") for _ in range(rng.randint(0, 30)))
        b = "".join(rng.choice("abcde ") for _ in range(rng.randint(0, 30)))
        assert _lcs_length(a, b) == _lcs_dp(a, b)


def test_token_set_ratio_known_values():
    # values thefuzz documents / returns for these pairs
    assert token_set_ratio("fuzzy was a bear", "fuzzy fuzzy was a bear") == 100
    assert round(indel_ratio("this is a test", "this is a test!")) == 97
    assert token_set_ratio("Gluten-Free", "gluten free") == 100
    assert token_set_ratio("natural ingredients", "ingredients natural organic") == 100
    assert token_set_ratio("", "anything") == 0
    assert token_set_ratio("high heel", "high heels") == 95  # > 85: a match
    # "wash" shared; best is "wash machine" vs "wash hand": LCS 7 of 12 + 9 characters -> 67
    assert token_set_ratio("machine wash", "hand wash") == 67  # <= 85: no match


def test_normalize_color():
    # WebShop's own test cases for normalize_color
    cases = [
        ("", ""),
        ("black forest", "black"),
        ("violet lavender", "lavender"),
        ("steelivy fuchsia", "fuchsia"),
    ]
    cases += [("123alabaster", "alabaster"), ("webshop", "webshop")]
    for value, expected in cases:
        assert normalize_color(value) == expected


# ------------------------------------------------------------------ attributes
def test_attribute_reward_on_real_products(env):
    goal = env.goal(SANDAL)
    sandal = env.catalog.product(goal.asin)
    assert attribute_reward(sandal, goal.attributes) == (1.0, 2)
    razor = env.catalog.product(env.goal(RAZOR).asin)
    # the razor has neither "day comfort" nor "rubber sole" in its attributes or text
    assert attribute_reward(razor, goal.attributes) == (0.0, 0)
    # not among the sandal's attributes, but in its title: found in the text
    assert all(token_set_ratio(a, "neoprene") <= 85 for a in sandal["Attributes"])
    assert attribute_reward(sandal, ["neoprene", "gluten free"]) == (0.5, 1)


def test_attribute_reward_is_fuzzy(env):
    sandal = env.catalog.product(env.goal(SANDAL).asin)
    assert "rubber sole" in sandal["Attributes"]
    assert attribute_reward(sandal, ["rubber soles"]) == (1.0, 1)  # token_set_ratio 96


# ------------------------------------------------------------------ options
def test_option_reward_on_real_products(env):
    goal = env.goal(SANDAL)  # {"color": "black", "size": "11"}
    sandal = env.catalog.product(goal.asin)
    wanted = goal.option_values()
    assert option_reward(sandal, wanted, {"color": "black", "size": "11"}) == (1.0, 2)
    # size is matched exactly: 12 is not 11 (and "12" is not in the sandal's text)
    assert option_reward(sandal, wanted, {"color": "black", "size": "12"}) == (0.5, 1)
    assert option_reward(sandal, wanted, {"color": "light grey", "size": "11"}) == (0.5, 1)
    assert option_reward(sandal, wanted, {}) == (0.0, 0)
    # colours are folded to a base colour before the fuzzy match
    assert option_reward(sandal, ["grey"], {"color": "light grey"}) == (1.0, 1)
    razor = env.catalog.product(env.goal(RAZOR).asin)
    assert option_reward(razor, [], {}) == (None, 0)
    # a chosen value found in the product text counts even when no goal option matches it
    assert "stainless steel" in razor["Description"].lower()
    assert option_reward(razor, ["plastic"], {"material": "stainless steel"}) == (1.0, 1)


# ------------------------------------------------------------------ price
def test_price_reward_on_real_prices(env):
    goal = env.goal(SANDAL)
    price = env.catalog.price(goal.asin)
    assert price_reward(price, goal.price_upper) is True
    assert price_reward(price, 10.0) is False
    assert price_reward(price, 0) is None


# ------------------------------------------------------------------ type match
def test_type_reward_on_real_products(env):
    goal = env.goal(SANDAL)
    catalog = env.catalog
    same = type_reward(catalog.product(goal.asin), goal.name, goal.query, goal.product_category)
    assert same == {"r_type": 1.0, "query_match": True, "category_match": True, "title_score": 1.0}
    # another men's sandal: same search query, so the type matches
    other = next(p for p in catalog.products if p["query"] == goal.query and p["asin"] != goal.asin)
    assert type_reward(other, goal.name, goal.query, goal.product_category)["r_type"] == 1.0
    # the eyebrow razor shares only "men" with the sandal's 6 title words: 1/6 <= 0.2 -> 0.5
    razor = catalog.product(env.goal(RAZOR).asin)
    half = type_reward(razor, goal.name, goal.query, goal.product_category)
    assert half["r_type"] == 0.5 and half["title_score"] == pytest.approx(1 / 6)
    assert not half["query_match"] and not half["category_match"]
    # the console table shares no title word with it: type 0
    wrong = type_reward(catalog.product(TABLE), goal.name, goal.query, goal.product_category)
    assert wrong == {"r_type": 0.0, "query_match": False, "category_match": False, "title_score": 0.0}


def test_type_reward_levels():
    product = {"name": "Men's Hollis Sport Sandal", "query": "men's sandals", "product_category": "A › B › C"}
    # title noun overlap 1/4 > 0.2 without query or category match: still 1
    assert type_reward(product, "Leather Sandal Comfort Strap", "x", "X")["r_type"] == 1.0
    # overlap 1/5 = 0.2: no match -> 0.5
    assert type_reward(product, "Leather Sandal Comfort Strap Buckle", "x", "X")["r_type"] == 0.5
    # overlap 1/11 < 0.1 but > 0: 0.1, whatever else matches
    long_name = "Sandal " + " ".join(f"word{c}" for c in "abcdefghij")
    assert type_reward(product, long_name, "men's sandals", "A › B")["r_type"] == 0.1


# ------------------------------------------------------------------ the total
def test_total_reward_combines_the_parts(env):
    goal = env.goal(SANDAL)
    sandal = env.catalog.product(goal.asin)
    price = env.catalog.price(goal.asin)
    best = get_reward(sandal, goal, price, {"color": "black", "size": "11"})
    assert best.total == 1.0 and best.success
    # (2 attributes + 1 option + price) / (2 + 2 + 1)
    assert get_reward(sandal, goal, price, {"color": "black"}).total == pytest.approx(4 / 5)
    # over the price limit: (2 + 2 + 0) / 5
    assert get_reward(
        sandal, goal, goal.price_upper + 1, {"color": "black", "size": "11"}
    ).total == pytest.approx(4 / 5)
    # the razor: no attribute, both chosen options found in its text ("black", "11"), price ok,
    # halved by the type match: (0 + 2 + 1) / 5 * 0.5
    razor = env.catalog.product(env.goal(RAZOR).asin)
    half = get_reward(razor, goal, 5.0, {"color": "black", "size": "11"})
    assert (half.num_attr_matches, half.num_option_matches, half.r_type) == (0, 2, 0.5)
    assert half.total == pytest.approx(0.3) and not half.success
    # a product of another type is worth nothing, whatever else matches
    wrong = get_reward(env.catalog.product(TABLE), goal, 5.0, {"color": "black", "size": "11"})
    assert wrong.r_type == 0.0 and wrong.total == 0.0


def test_total_is_scaled_by_the_type_match(env):
    goal = env.goal(SANDAL)
    others = [p for p in env.catalog.products if p["query"] == goal.query and p["asin"] != goal.asin]
    assert others
    other = others[0]
    reward = get_reward(other, goal, env.catalog.price(other["asin"]), {})
    parts = reward.num_attr_matches + reward.num_option_matches + float(bool(reward.r_price))
    assert reward.total == pytest.approx(parts / (len(goal.attributes) + 2 + 1) * reward.r_type)
    assert reward.to_dict()["success"] is False
