"""Text pages of WebShop, as its ``text`` observation mode shows them.

WebShop's text mode is the visible text of each HTML page joined with ``" [SEP] "``; the
buttons, product links (ASINs) and option values in it are what can be clicked. The pages:

* search: ``WebShop [SEP] Instruction: [SEP] <goal> [SEP] Search``
* results: ``Back to Search``, ``Page 1 (Total results: 50)``, ``< Prev`` / ``Next >`` when there
  is a page before / after, then per product ``<ASIN> [SEP] <title> [SEP] <price>``
* item: ``Back to Search [SEP] < Prev``, each option name followed by its values, title,
  ``Price: ...``, ``Rating: ...``, ``Description``, ``Features``, ``Reviews``, ``Buy Now``;
  chosen options are announced first (``You have clicked large.``), as WebShop's rich text mode does
* description / features / reviews: ``Back to Search [SEP] < Prev`` then that text
* done: the purchase and its score; nothing is clickable.

Example:
    >>> page = render_search_page("i need a red mug")
    >>> page.text
    'WebShop [SEP] Instruction: [SEP] i need a red mug [SEP] Search'
    >>> page.has_search_bar, page.clickables
    (True, [])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SEP = " [SEP] "
BACK_TO_SEARCH = "Back to Search"
PREV_PAGE = "< Prev"
NEXT_PAGE = "Next >"
BUY_NOW = "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")


@dataclass
class Page:
    """A rendered page: its text, what can be clicked on it (as shown) and whether it has a search bar."""

    kind: str
    text: str
    clickables: list[str] = field(default_factory=list)
    has_search_bar: bool = False


def _instruction(instruction: str) -> list[str]:
    return ["Instruction:", instruction]


def render_search_page(instruction: str) -> Page:
    """The start page: the instruction and a search bar."""
    return Page("search", SEP.join(["WebShop", *_instruction(instruction), "Search"]), [], True)


def render_results_page(
    instruction: str, products: Sequence[Mapping[str, Any]], page: int, total: int, page_size: int = 10
) -> Page:
    """Results page ``page`` (1-based) of a search with ``total`` hits, showing ``products``."""
    buttons = [BACK_TO_SEARCH]
    if page > 1:
        buttons.append(PREV_PAGE)
    if page * page_size < total:
        buttons.append(NEXT_PAGE)
    parts = [
        *_instruction(instruction),
        BACK_TO_SEARCH,
        f"Page {page} (Total results: {total})",
        *buttons[1:],
    ]
    for product in products:
        parts += [product["asin"], product["Title"], product["Price"]]
    return Page("results", SEP.join(parts), buttons + [p["asin"] for p in products])


def render_item_page(instruction: str, product: Mapping[str, Any], chosen: Mapping[str, str]) -> Page:
    """A product's page: its option buttons, title, price, rating, sub-page buttons and Buy Now."""
    parts = [*_instruction(instruction), BACK_TO_SEARCH, PREV_PAGE]
    option_values: list[str] = []
    for name, values in product["options"].items():
        parts += [name, *values]
        option_values += [v for v in values if v not in option_values]
    parts += [product["Title"], f"Price: {product['Price']}", f"Rating: {product.get('Rating', 'N.A.')}"]
    parts += [*SUB_PAGES, BUY_NOW]
    clicked = "".join(f"You have clicked {value}.\n" for value in chosen.values())
    clickables = [BACK_TO_SEARCH, PREV_PAGE, *option_values, *SUB_PAGES, BUY_NOW]
    return Page("item", clicked + SEP.join(parts), clickables)


def _sub_page_body(product: Mapping[str, Any], sub_page: str) -> list[str]:
    if sub_page == "Description":
        return [product.get("Description") or "No Description"]
    if sub_page == "Features":
        bullets = [b.strip() for b in product.get("BulletPoints") or [] if b and b.strip()]
        return bullets or ["No Features"]
    reviews = product.get("Reviews") or []
    if not reviews:
        return ["No reviews found"]
    body = []
    for review in reviews:
        body += [f'"{review.get("title", "")}"', str(review.get("score", "")), review.get("body", "")]
    return body


def render_sub_page(instruction: str, product: Mapping[str, Any], sub_page: str) -> Page:
    """A product's ``Description``, ``Features`` or ``Reviews`` page."""
    if sub_page not in SUB_PAGES:
        raise ValueError(f"unknown item sub-page {sub_page!r}")
    parts = [*_instruction(instruction), BACK_TO_SEARCH, PREV_PAGE, *_sub_page_body(product, sub_page)]
    return Page(sub_page.lower(), SEP.join(parts), [BACK_TO_SEARCH, PREV_PAGE])


def render_done_page(product: Mapping[str, Any], chosen: Mapping[str, str], reward: float) -> Page:
    """The page after Buy Now: what was bought and the score."""
    options = ", ".join(f"{k}: {v}" for k, v in chosen.items()) or "none"
    parts = [
        "Thank you for shopping with us!",
        f"Purchased: {product['asin']}",
        product["Title"],
        f"Options: {options}",
        "Your score (min 0.0, max 1.0)",
        f"{reward:.4f}",
    ]
    return Page("done", SEP.join(parts), [])
