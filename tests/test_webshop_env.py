"""The WebShop text environment on WebShop's real 1,000-product catalog: pages, navigation,
invalid actions, goals and splits, the scripted expert and the interactive player."""

from __future__ import annotations

import argparse
import gzip
import io
import json

import pytest
from conftest import SHARED_DATA

from mem1_hf.errors import Mem1InputError
from mem1_hf.families.webshop import WebShopEnv, get_reward, load_catalog, run_expert
from mem1_hf.families.webshop.engine import light_stem
from mem1_hf.families.webshop.goals import NO_PRICE_LIMIT, PRICE_RANGE
from mem1_hf.families.webshop.play import play, register_cli

WEBSHOP = SHARED_DATA / "webshop"
PRODUCTS = WEBSHOP / "webshop_small_1000_products.json.gz"
ATTRIBUTES = WEBSHOP / "items_ins_v2_1000.json"
QUERY_MAP = WEBSHOP / "goal_query_map.json"
SIZED = "syn-B07NZ173GY-0"  # FitFlop men's sandal, options size (4) x colour (2), a test goal


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv.from_files(PRODUCTS, ATTRIBUTES, goal_query_map=QUERY_MAP, seed=0)


# ------------------------------------------------------------------ catalog, goals, splits
def test_catalog_and_goal_counts(env):
    assert len(env.catalog) == 1000
    synthetic = env.goals("train") + env.goals("test")
    # one goal per option combination of the 415 products with a generated instruction
    assert len({g.asin for g in synthetic}) == 415 and len(synthetic) == 6910
    assert len(env.goals("human")) == 13
    assert not {g.asin for g in env.goals("train")} & {g.asin for g in env.goals("test")}
    assert env.describe() == {"products": 1000, "train": 5527, "test": 1383, "human": 13}


def test_split_is_fixed_by_the_seed():
    ids = lambda e: [g.goal_id for g in e.goals("test")]  # noqa: E731
    first, again = (WebShopEnv.from_files(PRODUCTS, ATTRIBUTES, seed=0) for _ in range(2))
    other = WebShopEnv.from_files(PRODUCTS, ATTRIBUTES, seed=1)
    assert ids(first) == ids(again) and ids(first) != ids(other)


def test_goal_instruction_options_and_price(env):
    goal = env.goal(SIZED)
    assert goal.goal_options == {"color": "black", "size": "11"}
    assert goal.instruction == (
        f"{goal.base_instruction} with color: black, and size: 11, and price lower than {goal.price_upper:.2f} dollars"
    )
    price = env.catalog.price(goal.asin)
    # WebShop: the limit is one of the (up to) four multiples of 10 above the price, not the first
    above = [p for p in PRICE_RANGE if p > price][:4]
    assert goal.price_upper in above[1:]
    human = env.goals("human")
    assert all(isinstance(g.goal_options, tuple) for g in human)
    for goal in env.goals("all"):
        assert goal.price_upper == NO_PRICE_LIMIT or goal.price_upper > env.catalog.price(goal.asin)
    with pytest.raises(Mem1InputError, match="unknown WebShop goal id"):
        env.goal("syn-nope-0")
    with pytest.raises(Mem1InputError, match="unknown goal split"):
        env.goals("dev")


def test_price_ranges_are_drawn_once_with_the_seed(env):
    ranged = [p for p in env.catalog.products if len(p["pricing"]) == 2]
    assert len(ranged) == 93
    for product in ranged:
        # some ranges are stored high to low; WebShop's random.uniform takes either order
        low, high = sorted(product["pricing"])
        assert low <= env.catalog.price(product["asin"]) <= high


def test_raw_webshop_catalog_format_is_converted(tmp_path):
    """A real user's catalog is WebShop's raw scrape (items_shuffle*.json): convert it the same way."""
    with gzip.open(PRODUCTS, "rt") as handle:
        loaded = json.load(handle)[:50]
    raw = []
    for p in loaded:
        custom = {name: [{"value": v} for v in values] for name, values in p["options"].items()}
        raw.append(
            {
                "asin": p["asin"],
                "name": p["name"],
                "full_description": p["full_description"],
                "small_description": p["small_description"],
                "pricing": "".join(f"${x}" for x in p["pricing"]),
                "customization_options": custom or "",
                "query": p["query"].upper() + " ",
                "category": p["category"],
                "product_category": p["product_category"],
                "images": p["images"],
            }
        )
    path = tmp_path / "items_shuffle_50.json"
    path.write_text(json.dumps(raw))
    catalog = load_catalog(path, ATTRIBUTES)
    for original in loaded:
        converted = catalog.product(original["asin"])
        for key in (
            "Title",
            "Description",
            "BulletPoints",
            "pricing",
            "Price",
            "options",
            "query",
            "Attributes",
        ):
            assert converted[key] == original[key], key


def test_missing_files_are_one_line_errors(tmp_path):
    with pytest.raises(Mem1InputError, match="not found"):
        WebShopEnv.from_files(tmp_path / "nope.json", ATTRIBUTES)


# ------------------------------------------------------------------ search
def test_light_stemmer():
    assert [light_stem(w) for w in ("sandals", "batteries", "boxes", "dress", "glass")] == [
        "sandal",
        "battery",
        "box",
        "dress",
        "glass",
    ]


def test_search_finds_the_goal_product(env):
    goals = env.goals("test")[::10]
    hits = [g.asin in env.search(g.instruction.split(", and price")[0])[:10] for g in goals]
    assert sum(hits) / len(hits) > 0.85
    assert env.search("zzzz qqqq") == []


# ------------------------------------------------------------------ pages and navigation
def test_search_page(env):
    session = env.reset(SIZED)
    assert session.observation.startswith("WebShop [SEP] Instruction: [SEP] Find me")
    assert session.observation.endswith("Available actions: search[<content>]")
    assert session.available_actions() == {"has_search_bar": True, "clickables": []}


def test_results_pages_next_prev(env):
    session = env.reset(SIZED)
    result = session.step("search[men's sandals]")
    assert result.info["valid"] and not result.done and result.reward == 0
    assert "Page 1 (Total results: 50)" in result.observation
    actions = session.available_actions()
    assert not actions["has_search_bar"]
    assert actions["clickables"][:2] == ["back to search", "next >"] and "< prev" not in actions["clickables"]
    first = session.state.page_asins()
    assert len(first) == 10 and actions["clickables"][2:] == [a.lower() for a in first]
    title = env.catalog.product(first[0])["Title"]
    assert f"{first[0]} [SEP] {title} [SEP] $" in session.observation
    session.step("click[Next >]")
    assert "Page 2 (Total results: 50)" in session.observation and "click[< prev]" in session.observation
    assert session.state.page_asins() != first
    for _ in range(3):
        session.step("click[next >]")
    assert "Page 5" in session.observation and "click[next >]" not in session.observation
    assert not session.step("click[next >]").info["valid"]
    for _ in range(4):
        session.step("click[< prev]")
    assert session.state.page_asins() == first and "click[< prev]" not in session.observation


def test_item_page_options_and_sub_pages(env):
    goal = env.goal(SIZED)
    session = env.reset(goal)
    session.step("search[fitflop neoprene sport sandal]")
    session.step("click[next >]")  # remember the results page we came from
    session.step("click[< prev]")
    assert goal.asin in session.state.page_asins()
    result = session.step(f"click[{goal.asin.lower()}]")
    page = result.observation
    assert result.info["page"] == "item" and result.info["asin"] == goal.asin
    assert (
        "Back to Search [SEP] < Prev [SEP] size [SEP] 11 [SEP] 12 [SEP] 12.5 [SEP] 13 [SEP] color [SEP] black"
        in page
    )
    product = env.catalog.product(goal.asin)
    assert product["Price"] == "$26.44 to $69.99"  # a price range; the buyer pays a seeded draw from it
    assert f"{product['Title']} [SEP] Price: $26.44 to $69.99 [SEP] Rating: N.A." in page
    assert "Description [SEP] Features [SEP] Reviews [SEP] Buy Now" in page
    assert session.available_actions()["clickables"] == [
        "back to search", "< prev", "11", "12", "12.5", "13", "black", "light grey",
        "description", "features", "reviews", "buy now",
    ]  # fmt: skip
    session.step("click[12.5]")
    result = session.step("click[Light Grey]")
    assert result.info["options"] == {"size": "12.5", "color": "light grey"}
    assert result.observation.startswith("You have clicked 12.5.\nYou have clicked light grey.\n")
    session.step("click[13]")  # choosing again replaces the size
    assert session.state.options == {"size": "13", "color": "light grey"}
    sub = session.step("click[description]")
    assert sub.info["page"] == "description" and product["Description"][:40] in sub.observation
    assert session.available_actions()["clickables"] == ["back to search", "< prev"]
    session.step("click[< prev]")
    features = session.step("click[features]").observation
    assert all(b.strip()[:30] in features for b in product["BulletPoints"])
    session.step("click[< prev]")
    assert "No reviews found" in session.step("click[reviews]").observation
    back = session.step("click[< prev]")
    assert back.info["page"] == "item" and back.info["options"] == {"size": "13", "color": "light grey"}
    results = session.step("click[< prev]")  # item page -> the results page it came from
    assert results.info["page"] == "results" and "Page 1 (Total results" in results.observation
    assert session.state.options == {}
    start = session.step("click[back to search]")
    assert start.info["page"] == "search" and session.available_actions()["has_search_bar"]


def test_buy_now_ends_with_the_reward(env):
    goal = env.goal(SIZED)
    session = env.reset(goal)
    for action in ("search[fitflop sandal]", f"click[{goal.asin}]", "click[black]", "click[11]"):
        assert session.step(action).info["valid"]
    result = session.step("click[Buy Now]")
    assert result.done and result.reward == 1.0 and result.info["success"]
    assert result.info["purchased_asin"] == goal.asin and result.info["reward_parts"]["r_option"] == 1.0
    assert "Your score (min 0.0, max 1.0) [SEP] 1.0000" in result.observation
    assert session.available_actions() == {"has_search_bar": False, "clickables": []}
    # the same purchase with the wrong size: one option of 2 + 2 attributes + price missed
    session = env.reset(goal)
    for action in ("search[fitflop sandal]", f"click[{goal.asin}]", "click[black]", "click[13]"):
        session.step(action)
    result = session.step("click[buy now]")
    expected = get_reward(
        env.catalog.product(goal.asin), goal, env.catalog.price(goal.asin), {"color": "black", "size": "13"}
    )
    assert result.reward == pytest.approx(expected.total) == pytest.approx(4 / 5)


@pytest.mark.parametrize(
    ("setup", "action", "why"),
    [
        ([], "buy the sandals", "is not search[query] or click[button]"),
        ([], "search[]", "the search query is empty"),
        ([], "click[search]", "use search[your query]"),
        ([], "click[buy now]", "is not clickable on this page"),
        (["search[sandals]"], "search[shoes]", "there is no search bar"),
        (["search[sandals]"], "click[< prev]", "is not clickable"),
        (["search[sandals]"], "click[B000000000]", "is not clickable"),
        (["search[sandals]", "click[next >]"], "click[description]", "is not clickable"),
    ],
)
def test_invalid_actions_keep_the_page(env, setup, action, why):
    session = env.reset(SIZED)
    for step in setup:
        session.step(step)
    before = session.observation
    result = session.step(action)
    assert not result.info["valid"] and not result.done and result.reward == 0.0
    assert (
        why in result.info["error"]
        and result.observation == f"Invalid action: {result.info['error']}\n{before}"
    )
    assert session.observation == before and session.num_steps == len(setup) + 1


def test_actions_after_the_purchase_are_invalid(env):
    goal = env.goal(SIZED)
    session = env.reset(goal)
    for action in ("search[fitflop sandal]", f"click[{goal.asin}]", "click[buy now]"):
        session.step(action)
    result = session.step("click[back to search]")
    assert not result.info["valid"] and not result.done and "episode is over" in result.observation


def test_sessions_are_independent(env):
    first, second = env.reset_batch([SIZED, env.goals("test")[0].goal_id])
    first.step("search[sandals]")
    assert second.state.kind == "search" and second.num_steps == 0
    second.step("search[hair razor]")
    assert first.state.keywords == "sandals" and first.state.results != second.state.results


# ------------------------------------------------------------------ expert and player
def test_expert_on_the_test_goals(env):
    summary = run_expert(env, "test")
    # measured with WebShop's published reward: 1383 test goals, average reward 0.982, success
    # 0.908 (its (name, value) option rule scores some exact purchases below 1), 5.3 turns, ~1 s
    assert summary["episodes"] == 1383
    assert summary["avg_reward"] > 0.97 and 0.88 < summary["success_rate"] < 0.93
    assert summary["avg_turns"] <= 10
    # the same purchases with options compared by value: 0.995 / 0.995 (the target was found)
    corrected = run_expert(
        WebShopEnv(env.catalog, env.goal_set, env.engine, reward_variant="corrected"), "test"
    )
    assert corrected["success_rate"] == pytest.approx(corrected["found_target_rate"])
    assert corrected["success_rate"] > 0.98
    human = run_expert(env, "human")
    assert human["avg_reward"] > 0.9


def test_play_reads_actions_from_stdin(env):
    goal = env.goal(SIZED)
    stdin = io.StringIO(
        f"search[fitflop sandal]\n\nclick[nope]\nclick[{goal.asin}]\nclick[black]\nclick[11]\nclick[buy now]\n"
    )
    stdout = io.StringIO()
    assert play(env.reset(goal), stdin, stdout) == 1.0
    text = stdout.getvalue()
    assert "Invalid action" in text and "> click[black]" in text and "reward 1.0000 · success True" in text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mem1")
    register_cli(parser.add_subparsers(dest="command", required=True))
    return parser


def test_play_command(monkeypatch, capsys):
    monkeypatch.setenv("MEM1_WEBSHOP_PRODUCTS", str(PRODUCTS))
    monkeypatch.setenv("MEM1_WEBSHOP_ATTRIBUTES", str(ATTRIBUTES))
    monkeypatch.setattr("sys.stdin", io.StringIO("search[fitflop sandal]\nquit\n"))
    args = _parser().parse_args(["webshop", "play", "--goal", SIZED])
    args.func(args)
    out = capsys.readouterr().out
    assert (
        out.startswith(f"Goal {SIZED}.") and "Page 1 (Total results" in out and out.endswith("no purchase\n")
    )


def test_play_command_without_paths(monkeypatch):
    monkeypatch.delenv("MEM1_WEBSHOP_PRODUCTS", raising=False)
    monkeypatch.delenv("MEM1_WEBSHOP_ATTRIBUTES", raising=False)
    args = _parser().parse_args(["webshop", "play"])
    with pytest.raises(Mem1InputError, match="MEM1_WEBSHOP_PRODUCTS"):
        args.func(args)
    args = _parser().parse_args(["webshop", "play", "--products", str(PRODUCTS)])
    with pytest.raises(Mem1InputError, match="MEM1_WEBSHOP_ATTRIBUTES"):
        args.func(args)


def test_expert_command(capsys):
    args = _parser().parse_args(
        [
            "webshop",
            "expert",
            "--split",
            "human",
            "--products",
            str(PRODUCTS),
            "--attributes",
            str(ATTRIBUTES),
        ]
    )
    args.func(args)
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes"] == 13 and summary["avg_reward"] == 1.0


def test_reward_flags_reach_the_environment():
    from mem1_hf.families.webshop.play import env_from_args

    argv = ["webshop", "expert", "--products", str(PRODUCTS), "--attributes", str(ATTRIBUTES)]
    default = env_from_args(_parser().parse_args(argv))
    assert (default.reward_variant, default.title_nouns) == ("webshop", "auto")
    flags = ["--webshop-reward", "corrected", "--title-nouns", "heuristic"]
    chosen = env_from_args(_parser().parse_args(argv + flags))
    assert chosen.reward_settings() == {"webshop_reward": "corrected", "title_nouns": "heuristic"}
    with pytest.raises(SystemExit):
        _parser().parse_args(argv + ["--webshop-reward", "generous"])
    with pytest.raises(Mem1InputError, match="reward variant"):
        WebShopEnv(default.catalog, default.goal_set, default.engine, reward_variant="generous")
