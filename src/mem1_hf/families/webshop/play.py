"""``mem1 webshop play``: shop through WebShop's text pages yourself; ``mem1 webshop expert``.

``play`` prints each page with its available actions and reads one action a line from stdin
(``search[red mug]``, ``click[buy now]``; ``quit`` or end of input stops). ``expert`` runs the
scripted expert over a split and prints its summary as JSON. Paths come from ``--products`` /
``--attributes`` or the ``MEM1_WEBSHOP_PRODUCTS`` / ``MEM1_WEBSHOP_ATTRIBUTES`` variables.

Example:
    $ export MEM1_WEBSHOP_PRODUCTS=../shared/data/webshop/webshop_small_1000_products.json.gz
    $ export MEM1_WEBSHOP_ATTRIBUTES=../shared/data/webshop/items_ins_v2_1000.json
    $ mem1 webshop play --goal syn-B087TR48KK-0
    $ mem1 webshop expert --split test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from mem1_hf.errors import Mem1InputError

PRODUCTS_VAR = "MEM1_WEBSHOP_PRODUCTS"
ATTRIBUTES_VAR = "MEM1_WEBSHOP_ATTRIBUTES"
QUERY_MAP_VAR = "MEM1_WEBSHOP_GOAL_QUERY_MAP"


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--products", default=None, help=f"WebShop product file (default: ${PRODUCTS_VAR})")
    parser.add_argument(
        "--attributes", default=None, help=f"items_ins_v2 attribute file (default: ${ATTRIBUTES_VAR})"
    )
    parser.add_argument(
        "--goal-query-map", default=None, help=f"optional goal_query_map.json (default: ${QUERY_MAP_VAR})"
    )
    parser.add_argument("--seed", type=int, default=0, help="prices, price limits and the train/test split")
    add_reward_args(parser)


def add_reward_args(parser: Any) -> None:
    """``--webshop-reward`` and ``--title-nouns`` from :class:`RewardConfig` (play, expert)."""
    import dataclasses

    from mem1_hf.families.webshop.reward import RewardConfig

    for f in dataclasses.fields(RewardConfig):
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            default=f.default,
            choices=f.metadata["choices"],
            help=f.metadata["help"],
        )


def register_cli(subparsers: Any) -> None:
    """Add ``mem1 webshop play`` and ``mem1 webshop expert`` to the ``mem1`` command line."""
    webshop = subparsers.add_parser("webshop", help="the WebShop text shopping environment")
    sub = webshop.add_subparsers(dest="webshop_command", required=True)
    play = sub.add_parser("play", help="shop through the text pages yourself (actions on stdin)")
    play.add_argument("--goal", default=None, help="goal id (default: the first goal of --split)")
    play.add_argument("--split", default="test", help="train, test, human or all")
    _add_data_args(play)
    play.set_defaults(func=cmd_play)
    expert = sub.add_parser("expert", help="run the scripted expert over a split, print JSON")
    expert.add_argument("--split", default="test", help="train, test, human or all")
    expert.add_argument("--limit", type=int, default=None, help="only the first N goals")
    _add_data_args(expert)
    expert.set_defaults(func=cmd_expert)


def data_files(args: argparse.Namespace) -> tuple[str, str, str | None]:
    """``(products, attributes, goal_query_map or None)`` from the flags or their variables."""
    products = args.products or os.environ.get(PRODUCTS_VAR)
    attributes = args.attributes or os.environ.get(ATTRIBUTES_VAR)
    if not products:
        raise Mem1InputError(f"no WebShop product file: pass --products or set {PRODUCTS_VAR}")
    if not attributes:
        raise Mem1InputError(f"no WebShop attribute file: pass --attributes or set {ATTRIBUTES_VAR}")
    query_map = args.goal_query_map or os.environ.get(QUERY_MAP_VAR) or None
    return products, attributes, query_map


def env_from_args(args: argparse.Namespace) -> Any:
    """Build the environment from ``--products`` / ``--attributes`` or their variables."""
    from mem1_hf.families.webshop.env import WebShopEnv

    products, attributes, query_map = data_files(args)
    return WebShopEnv.from_files(
        products,
        attributes,
        goal_query_map=query_map,
        seed=args.seed,
        reward_variant=getattr(args, "webshop_reward", "webshop"),
        title_nouns=getattr(args, "title_nouns", "auto"),
    )


def play(session: Any, stdin: TextIO, stdout: TextIO) -> float:
    """Print pages and apply one action a line until Buy Now, ``quit`` or end of input.

    Returns the final reward (0 when nothing was bought).
    """
    print(
        f"Goal {session.goal.goal_id}. Type an action, e.g. search[red mug] or click[buy now]; quit stops.",
        file=stdout,
    )
    print(session.observation, file=stdout)
    interactive = stdin.isatty()
    while True:
        if interactive:  # a person at a terminal gets a prompt; piped input does not
            print("action> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            break
        action = line.strip()
        if not action:
            continue
        if action.lower() in ("quit", "exit", "q"):
            break
        result = session.step(action)
        print(f"\n> {action}\n{result.observation}", file=stdout)
        if result.done:
            parts = result.info["reward_parts"]
            print(f"reward {result.reward:.4f} · success {result.info['success']} · {parts}", file=stdout)
            return result.reward
    print("no purchase", file=stdout)
    return 0.0


def cmd_play(args: argparse.Namespace) -> None:
    """``mem1 webshop play``."""
    env = env_from_args(args)
    if args.goal:
        goal = env.goal(args.goal)
    else:
        goals = env.goals(args.split)
        if not goals:
            raise Mem1InputError(f"the {args.split} split has no goals")
        goal = goals[0]
    play(env.reset(goal), sys.stdin, sys.stdout)


def cmd_expert(args: argparse.Namespace) -> None:
    """``mem1 webshop expert``."""
    from mem1_hf.families.webshop.expert import run_expert

    summary = run_expert(env_from_args(args), args.split, limit=args.limit)
    summary["failures"] = [{k: f[k] for k in ("goal_id", "reward", "actions")} for f in summary["failures"]]
    print(json.dumps(summary, indent=2))
