"""WebShop's product catalog: products, their attributes, goal instructions and prices.

Reads products in WebShop's format, either as ``load_products()`` leaves them (``Title``,
``Description``, ``BulletPoints``, ``options``, ``pricing`` as floats — the small 1,000-product
file in ``../shared/data/webshop``) or as the raw scrape WebShop ships (``items_shuffle*.json``:
``name``, ``full_description``, ``small_description``, ``customization_options``, ``pricing``
as a ``"$a$b"`` string), which is converted the way WebShop's ``load_products`` does. The
attribute file (``items_ins_v2*.json``, keyed by ASIN) gives each product its ``Attributes``
and, for some, a synthetic goal ``instruction`` with its ``instruction_attributes``. Human goals
come either inside the products (``instructions``) or from WebShop's ``items_human_ins.json``.

A product's price is fixed once per catalog: the single price, or, for a price range, a draw
from it with the catalog's seed (WebShop draws with the global ``random`` module).

Example:
    >>> from mem1_hf.families.webshop.catalog import load_catalog
    >>> catalog = load_catalog("webshop_small_1000_products.json.gz", "items_ins_v2_1000.json")  # doctest: +SKIP
    >>> catalog.product("B06Y3VLDFB")["Title"], catalog.price("B06Y3VLDFB")  # doctest: +SKIP
    ('Vhomes Lights Reclaimed Wood Console Table The Genessis Collection Sofa-Tables', 877.8)
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError

#: WebShop's price for a product with no price
DEFAULT_PRICE = 100.0


def read_json(path: str | Path) -> Any:
    """Read a ``.json`` or ``.json.gz`` file, with a one-line error when it is missing or bad."""
    path = Path(path)
    if not path.is_file():
        raise Mem1InputError(f"WebShop file not found: {path}")
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise Mem1InputError(f"{path} is not a JSON file: {err}") from None


def _parse_pricing(pricing: Any) -> list[float]:
    """``"$12.99$15.99"`` (raw scrape) or a list of floats -> at most two floats."""
    if isinstance(pricing, (list, tuple)):
        values = [float(p) for p in pricing]
    elif isinstance(pricing, str) and pricing:
        values = [float(re.sub(r"[^\d.]", "", part) or 0) for part in pricing.split("$")[1:]]
    else:
        values = []
    return values[:2] or [DEFAULT_PRICE]


def _price_tag(pricing: list[float]) -> str:
    return f"${pricing[0]}" if len(pricing) == 1 else f"${pricing[0]} to ${pricing[1]}"


def _raw_options(customization: Any) -> dict[str, list[str]]:
    """Raw ``customization_options`` -> ``{name: [values]}``, lower-cased as WebShop does."""
    options: dict[str, list[str]] = {}
    if not isinstance(customization, dict):
        return options
    for name, contents in customization.items():
        if contents is None:
            continue
        # WebShop shows "a/b" as "a | b" so that a value never looks like a URL path
        options[name.lower()] = [c["value"].strip().replace("/", " | ").lower() for c in contents]
    return options


def normalize_product(raw: dict[str, Any]) -> dict[str, Any]:
    """One product in WebShop's ``load_products()`` form (a no-op for an already loaded one).

    Example:
        >>> p = normalize_product({"asin": "B0", "name": "Red Mug", "full_description": "A mug.",
        ...     "small_description": ["Ceramic"], "pricing": "$4.50", "customization_options": {},
        ...     "query": "Mugs ", "category": "kitchen", "product_category": "Home", "images": [""]})
        >>> p["Title"], p["Price"], p["pricing"], p["query"]
        ('Red Mug', '$4.5', [4.5], 'mugs')
    """
    product = dict(raw)
    product.setdefault("Title", product.get("name", ""))
    product.setdefault("name", product["Title"])
    product.setdefault("Description", product.get("full_description") or "")
    if "BulletPoints" not in product:
        bullets = product.get("small_description") or []
        product["BulletPoints"] = bullets if isinstance(bullets, list) else [bullets]
    pricing = _parse_pricing(product.get("pricing"))
    product["pricing"] = pricing
    product.setdefault("Price", _price_tag(pricing))
    if "options" not in product:
        product["options"] = _raw_options(product.get("customization_options"))
    product.setdefault("Reviews", [])
    product.setdefault("Rating", "N.A.")
    product["query"] = str(product.get("query", "")).lower().strip()
    for key in ("category", "product_category"):
        product.setdefault(key, "")
    return product


@dataclass
class Catalog:
    """The products by ASIN, in file order, with one fixed price each.

    ``human_instructions`` maps an ASIN to WebShop's human goal records for it (``instruction``,
    ``instruction_attributes``, ``instruction_options``).
    """

    products: list[dict[str, Any]]
    prices: dict[str, float]
    human_instructions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_asin = {p["asin"]: p for p in self.products}

    def __len__(self) -> int:
        return len(self.products)

    def __contains__(self, asin: object) -> bool:
        return asin in self.by_asin

    def product(self, asin: str) -> dict[str, Any]:
        """The product with this ASIN (upper case, as WebShop stores it)."""
        try:
            return self.by_asin[asin.upper()]
        except KeyError:
            raise Mem1InputError(f"no product with ASIN {asin!r} in the catalog") from None

    def price(self, asin: str) -> float:
        """The price a buyer pays for this product in this catalog."""
        return self.prices[asin.upper()]


def _draw_prices(products: Iterable[dict[str, Any]], seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    prices = {}
    for product in products:
        pricing = product["pricing"]
        prices[product["asin"]] = pricing[0] if len(pricing) == 1 else rng.uniform(*pricing[:2])
    return prices


def load_catalog(
    products: str | Path,
    attributes: str | Path,
    *,
    human_instructions: str | Path | None = None,
    seed: int = 0,
    num_products: int | None = None,
) -> Catalog:
    """Load products and their attributes/instructions into a :class:`Catalog`.

    Args:
        products: product list (``.json`` or ``.json.gz``), loaded or raw WebShop format.
        attributes: ``items_ins_v2*.json``: ``{asin: {"attributes": [...], "instruction": ...,
            "instruction_attributes": [...]}}``.
        human_instructions: optional ``items_human_ins.json`` (``{asin: [records]}``); human goal
            records inside the products (``instructions``) are used as well.
        seed: seeds the price drawn for products sold at a price range.
        num_products: keep only the first N products (WebShop's 100 / 1k / 100k setups).

    Example:
        >>> catalog = load_catalog("items_shuffle_1000.json", "items_ins_v2_1000.json")  # doctest: +SKIP
    """
    rows = read_json(products)
    attrs = read_json(attributes)
    if not isinstance(rows, list) or not isinstance(attrs, dict):
        raise Mem1InputError(
            f"expected a product list in {products} and an object keyed by ASIN in {attributes}"
        )
    if num_products is not None:
        rows = rows[:num_products]
    loaded: list[dict[str, Any]] = []
    seen: set[str] = set()
    for raw in rows:
        asin = str(raw.get("asin", ""))
        # WebShop drops broken and duplicate ASINs
        if asin == "nan" or not asin or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        product = normalize_product(raw)
        info = attrs.get(asin, {})
        # as WebShop: the attribute file wins (even an empty list); a product it lacks gets a dummy
        if "attributes" in info:
            product["Attributes"] = list(info["attributes"])
        else:
            product["Attributes"] = product.get("Attributes") or ["DUMMY_ATTR"]
        product["instruction_text"] = info.get("instruction")
        product["instruction_attributes"] = info.get("instruction_attributes")
        loaded.append(product)
    if not loaded:
        raise Mem1InputError(f"no products in {products}")
    human: dict[str, list[dict[str, Any]]] = {}
    for product in loaded:
        if product.get("instructions"):
            human[product["asin"]] = list(product["instructions"])
    if human_instructions is not None:
        extra = read_json(human_instructions)
        for asin, records in extra.items():
            if asin in seen:
                human.setdefault(asin, [])
                human[asin] += [r for r in records if r not in human[asin]]
    return Catalog(products=loaded, prices=_draw_prices(loaded, seed), human_instructions=human)
