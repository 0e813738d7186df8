"""WebShop's product search: BM25 over each product's text, 50 hits, 10 per results page.

WebShop indexes, per product, ``Title + Description + first bullet point + option text``
lower-cased (``search_engine/convert_product_file_format.py``) with Pyserini/Lucene (English
stopwords, Porter stemming) and returns the top 50. Here the same documents are ranked with
``bm25s`` (Lucene BM25 variant, the same 33 Lucene stopwords). PyStemmer is not a dependency,
so the default stemmer is a light English plural folder (``shoes`` -> ``shoe``, ``batteries``
-> ``battery``) rather than Porter; ``stemmer="snowball"`` uses PyStemmer when installed.

Example:
    >>> engine = SearchEngine([
    ...     {"asin": "B1", "Title": "Red running shoes", "Description": "", "BulletPoints": [""], "options": {}},
    ...     {"asin": "B2", "Title": "Blue coffee mug", "Description": "", "BulletPoints": [""], "options": {}},
    ... ])
    >>> engine.search("running shoe")[:1]
    ['B1']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mem1_hf.errors import Mem1InputError

#: hits per search, as WebShop's ``SEARCH_RETURN_N``
SEARCH_RETURN_N = 50
#: products per results page, as WebShop's ``PRODUCT_WINDOW``
PRODUCT_WINDOW = 10


def light_stem(word: str) -> str:
    """Fold common English plurals: ``batteries`` -> ``battery``, ``boxes`` -> ``box``.

    Example:
        >>> [light_stem(w) for w in ["shoes", "batteries", "boxes", "glass", "jeans", "us"]]
        ['shoe', 'battery', 'box', 'glass', 'jean', 'us']
    """
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _stemmer(name: str | None) -> Callable[[list[str]], list[str]] | None:
    if name is None:
        return None
    if name == "light":
        return lambda words: [light_stem(w) for w in words]
    if name == "snowball":
        try:
            import Stemmer  # PyStemmer
        except ImportError:
            raise Mem1InputError("stemmer='snowball' needs PyStemmer: pip install PyStemmer") from None
        return Stemmer.Stemmer("english").stemWords
    raise Mem1InputError(f"stemmer must be 'light', 'snowball' or None, got {name!r}")


def product_document(product: dict[str, Any]) -> str:
    """The text WebShop indexes for a product (title, description, first bullet, options)."""
    option_text = ", and ".join(
        f"{name}: {', '.join(values)}" for name, values in (product.get("options") or {}).items()
    )
    bullets = product.get("BulletPoints") or [""]
    parts = [product.get("Title", ""), product.get("Description", ""), bullets[0], option_text]
    return " ".join(parts).lower()


class SearchEngine:
    """BM25 over WebShop product documents; :meth:`search` returns ASINs, best first.

    Args:
        products: products in WebShop's loaded format (``asin``, ``Title``, ``Description``,
            ``BulletPoints``, ``options``).
        stemmer: ``"light"`` (default, no extra package), ``"snowball"`` (PyStemmer) or None.
        k1, b: BM25 parameters (Lucene's / Pyserini's defaults 0.9 and 0.4).
    """

    def __init__(
        self,
        products: Sequence[dict[str, Any]],
        *,
        stemmer: str | None = "light",
        k1: float = 0.9,
        b: float = 0.4,
    ) -> None:
        import bm25s

        if not products:
            raise Mem1InputError("SearchEngine needs at least one product")
        self.asins = [p["asin"] for p in products]
        self._stem = _stemmer(stemmer)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        self._bm25.index(self._tokenize([product_document(p) for p in products]), show_progress=False)

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(
            texts, stopwords="en", stemmer=self._stem, return_ids=False, show_progress=False
        )

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[str]:
        """The ``k`` best ASINs for ``query``; a query with no indexed word returns nothing."""
        tokens = [t for t in self._tokenize([query])[0] if t in self._bm25.vocab_dict]
        if not tokens:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens))
        # stable sort: equal scores keep catalog order, so results never depend on the run
        order = np.argsort(-scores, kind="stable")[:k]
        return [self.asins[i] for i in order if scores[i] > 0]


def results_page(asins: Sequence[str], page: int) -> list[str]:
    """The ASINs shown on results page ``page`` (1-based)."""
    return list(asins[(page - 1) * PRODUCT_WINDOW : page * PRODUCT_WINDOW])
