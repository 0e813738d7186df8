"""A scripted QA expert that writes MEM1 trajectories through the agent loop.

:class:`QAExpertPolicy` plays the agent's part for multi-question QA tasks, so the loop, the
keep rule, the parser and the real retrieval environment all run exactly as they do for a
model. It knows each question's gold answers and gold titles (:class:`QAGold`, from a
composed row), but it uses them only to *judge* what it reads; its memory is built from the
text it has read:

* each turn it reads the newest ``<information>`` block from its own input ids (what a model
  would read, after the observation cut), judges the documents of the question it searched:
  the sentence holding a gold answer (in a gold passage) solves it; a gold passage without
  the answer yields a bridge fact (the sentence naming the next entity);
* its ``<think>`` lists, per question, the answer (once found only the answer is kept: the
  supporting sentence is dropped the turn after), the bridge facts of open questions, and
  which question it searches next;
* queries are short keyword queries; the next hop searches the bridge entity it read; when no
  gold passage came back it refines the query once (the entity named in the question, else
  the whole question), then gives up on that question;
* it answers ``<answer>a1; a2</answer>`` when every question is solved or given up, or when the
  turns run out; an unsolved question gets its best guess from what it read (the title of the
  first document it retrieved, else ``unknown``), so the data holds honest failures;
* with ``fit_tokens`` no turn is longer than that many tokens (where cutting facts can make it
  so): a longer turn cuts every fact to fewer words (:data:`FIT_FACT_WORDS`), then drops them;
  the searches and answers do not change;
* with ``slip_rate > 0`` it sometimes *slips* on a search turn the way the SFT model does
  (:data:`SLIP_KINDS`: a search closed by ``</think>``, a ``<search answer>`` tag, a memory that
  never closes; each run on to the turn budget), and on the next turn writes the clean turn it
  meant to write. The slip stays in the context as the invalid turn's memory, so the row after it
  teaches recovery: the model's invalid turns mostly follow an invalid turn whose memory it copies
  (docs/training.md, "Why the misses"). ``mem1 trajectories`` writes no row for a slip itself.

Example:
    >>> gold = QAGold(["Who wrote Hamlet?"], [["William Shakespeare"]], [["Hamlet"]])
    >>> keywords("Who wrote the play Hamlet?")
    'wrote play Hamlet'
    >>> policy = QAExpertPolicy(tokenizer, {"t0": gold}, max_turns=6)  # doctest: +SKIP
    >>> AgentLoop(policy, env, LoopConfig(max_turns=6)).run([Task("t0", gold.questions)])  # doctest: +SKIP
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mem1_hf.errors import Mem1InputError
from mem1_hf.policy import GenerationRequest, GenerationResult
from mem1_hf.prompts import PromptProfile, get_profile
from mem1_hf.scoring import normalize_answer

#: searches one question may use (two hops plus one refined query)
MAX_SEARCHES_PER_QUESTION = 3
#: words kept in a keyword query
QUERY_WORDS = 8
#: words kept of a fact sentence
FACT_WORDS = 24
#: fact lengths (words) tried in turn when a turn is longer than ``fit_tokens``; 0 drops the facts
FIT_FACT_WORDS = (16, 12, 8, 0)
#: the shapes of the SFT model's invalid turns, imitated by a slip (all run to the turn budget)
SLIP_KINDS = ("bad_close", "tag_typo", "runaway")

_STOPWORDS = frozenset(
    """a an the of in on at to for from by with and or is are was were be been being do does did
    that this these those it its as into than then there their they which whom whose both same
    either neither also about can could would should will shall may might must s""".split()
)
_WH_WORDS = frozenset("what which who whom whose when where why how".split())
_YES_NO_START = frozenset("are is was were do does did can could has have had will would".split())
_WORD = re.compile(r"[\w'’.-]+")
_DOC = re.compile(r"Doc \d+\(Title: (.*?)\) ")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass
class QAGold:
    """What the expert knows about one task: its questions, gold answers and gold titles.

    Args:
        questions: the task's questions, in order.
        answers: per question, the acceptable answers.
        titles: per question, the titles of its gold (supporting) passages (may be empty).
    """

    questions: list[str]
    answers: list[list[str]]
    titles: list[list[str]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> QAGold:
        """From a composed row (``mem1 compose``): ``questions``, ``answers``, ``gold_titles``.

        Example:
            >>> QAGold.from_row({"questions": ["q?"], "answers": [["a"]], "gold_titles": [["T"]]}).titles
            [['T']]
        """
        questions = list(row["questions"])
        titles = [list(t) for t in (row.get("gold_titles") or [[] for _ in questions])]
        return cls(questions, [list(a) for a in row["answers"]], titles)


def keywords(text: str, limit: int = QUERY_WORDS, drop: set[str] | None = None) -> str:
    """A short keyword query: the question's content words, in order, at most ``limit``.

    Example:
        >>> keywords("What year did the series on CBS, starring James Dean, air?")
        'year series CBS starring James Dean air'
        >>> keywords("when did how you remind me come out")
        'you remind me come out'
    """
    drop = drop or set()
    words = [w.strip(".'’-") for w in _WORD.findall(text)]
    kept = [w for w in words if w and w.lower() not in _STOPWORDS | _WH_WORDS and w.lower() not in drop]
    return " ".join(list(dict.fromkeys(kept))[:limit])


def base_title(title: str) -> str:
    """A title without its quotes and disambiguation: ``"Agee (film)"`` -> ``Agee``.

    Example:
        >>> base_title('"Agee (film)"')
        'Agee'
    """
    title = title.strip()
    if len(title) >= 2 and title[0] == title[-1] == '"':
        title = title[1:-1]
    return re.sub(r"\s*\([^)]*\)\s*$", "", title).strip()


def _plain_title(title: str) -> str:
    title = title.strip()
    return title[1:-1] if len(title) >= 2 and title[0] == title[-1] == '"' else title


def read_documents(context: str, observation_tag: str = "information") -> list[tuple[str, str]]:
    """The ``(title, text)`` documents of the newest observation block of a decoded context.

    Example:
        >>> read_documents('<information>\\n[HINT]x[/HINT]\\nDoc 1(Title: "A") a b.\\nDoc 2(Title: B) c\\n</information>')
        [('A', 'a b.'), ('B', 'c')]
    """
    opened = context.rfind(f"<{observation_tag}>")
    if opened < 0:
        return []
    body = context[opened:]
    closed = body.find(f"</{observation_tag}>")
    body = body[:closed] if closed >= 0 else body  # an observation cut short keeps what it has
    parts = _DOC.split(body)
    return [(_plain_title(parts[i]), parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def shorten(sentence: str, focus: str | None = None, words: int = FACT_WORDS) -> str:
    """At most ``words`` words of a sentence, a window around ``focus`` when it is long.

    Example:
        >>> shorten("one two three four five six", "five", words=3)
        '... four five six'
    """
    tokens = sentence.split()
    if len(tokens) <= words:
        return sentence
    start = 0
    if focus:
        low = [t.lower() for t in tokens]
        first = focus.lower().split()[0] if focus.split() else ""
        hits = [i for i, t in enumerate(low) if first and first in t]
        if hits:
            start = max(0, min(hits[0] - words // 3, len(tokens) - words))
    text = " ".join(tokens[start : start + words])
    return ("... " if start else "") + text + (" ..." if start + words < len(tokens) else "")


def _spaced(text: str) -> str:
    # punctuation as a word break too: "1952–1953" holds "1952" (SQuAD's normaliser glues them)
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _contains(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words, after answer normalisation."""
    target = normalize_answer(phrase)
    if not target:
        return False
    return (
        f" {target} " in f" {normalize_answer(text)} "
        or f" {target} " in f" {normalize_answer(_spaced(text))} "
    )


@dataclass
class _Question:
    text: str
    answers: list[str]
    titles: list[str]
    answer: str | None = None
    fresh_fact: str | None = None  # the answer's sentence, written once then dropped
    facts: list[str] = field(default_factory=list)
    seen_titles: set[str] = field(default_factory=set)
    queries: list[str] = field(default_factory=list)
    next_query: str | None = None
    candidate: str | None = None  # an answer read before every gold passage was
    guess: str | None = None
    gave_up: bool = False

    @property
    def open(self) -> bool:
        return self.answer is None and not self.gave_up

    def needs_all_titles(self) -> bool:
        """Yes/no and choose-one comparisons are only answerable after reading every gold passage."""
        norm = [normalize_answer(a) for a in self.answers]
        return any(a in ("yes", "no") for a in norm) or any(_contains(self.text, a) for a in self.answers)


@dataclass
class _TaskState:
    questions: list[_Question]
    turn: int = 0
    current: int | None = None  # the question searched last turn
    retry: str | None = None  # after a slip: the clean response it meant to write
    slipped: bool = False  # at most one slip per task


class QAExpertPolicy:
    """The scripted QA expert (see the module docstring).

    Args:
        tokenizer: the tokenizer whose ids the loop counts (any real model's).
        golds: task id -> :class:`QAGold` (or a composed row).
        profile: the prompt profile (``mem1-qa`` or ``mem1-paper``).
        max_turns: the loop's turn budget (the expert plans its searches within it).
        slip_rate: the chance that a search turn is a slip (at most one per task, never when
            fewer than two turns would be left for the retry and the answer).
        slip_seed: seeds which turns slip and how (per task id and turn: reproducible).
        max_new_tokens: the turn budget in tokens a slip runs on to (the model's).
        fit_tokens: the longest turn (tokens) the expert writes: a longer one shortens its facts
            (:data:`FIT_FACT_WORDS`) until it fits, so no row teaches a turn the model's budget
            would cut (``None``: no limit). The SFT model's invalid turns were mostly a long
            memory whose action the 128-token budget cut, and 2.6% of the expert's rows were
            longer than 128 tokens.
    """

    def __init__(
        self,
        tokenizer,
        golds: Mapping[str, QAGold | Mapping[str, Any]],
        profile: str | PromptProfile = "mem1-qa",
        max_turns: int = 6,
        slip_rate: float = 0.0,
        slip_seed: int = 0,
        max_new_tokens: int = 128,
        fit_tokens: int | None = None,
    ):
        if not 0.0 <= slip_rate <= 1.0:
            raise Mem1InputError(f"slip_rate must be in [0, 1], got {slip_rate}")
        if fit_tokens is not None and fit_tokens < 32:
            raise Mem1InputError(
                f"fit_tokens must be at least 32 (a turn's tags and query), got {fit_tokens}"
            )
        self.tokenizer = tokenizer
        self.golds = {k: g if isinstance(g, QAGold) else QAGold.from_row(g) for k, g in golds.items()}
        self.profile = get_profile(profile)
        if self.profile.search_tag is None:
            raise Mem1InputError(f"the QA expert needs a QA prompt profile, got {self.profile.name!r}")
        self.max_turns = max_turns
        self.slip_rate, self.slip_seed, self.max_new_tokens = slip_rate, slip_seed, max_new_tokens
        self.fit_tokens = fit_tokens
        self._state: dict[str, _TaskState] = {}

    # -- the policy interface ------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results = []
        for request in requests:
            text = self.respond(request)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            slipped = self._state[request.key].retry is not None  # respond() just wrote a slip
            if slipped:  # a slip runs on to the token budget, as a model's invalid turn does
                ids = ids[: self.max_new_tokens]
            results.append(GenerationResult(ids, [0.0] * len(ids), "length" if slipped else "stop_string"))
        return results

    def release(self, key: str) -> None:
        self._state.pop(key, None)

    # -- one turn ------------------------------------------------------------------------
    def _task_id(self, key: str) -> str:
        # the loop keys a task "index:task_id"
        return key if key in self.golds else key.split(":", 1)[-1]

    def _task_state(self, key: str) -> _TaskState:
        if key not in self._state:
            task_id = self._task_id(key)
            gold = self.golds.get(task_id)
            if gold is None:
                raise Mem1InputError(f"the QA expert has no gold answers for task {task_id!r}")
            titles = gold.titles or [[] for _ in gold.questions]
            self._state[key] = _TaskState(
                [_Question(q, list(a), list(t)) for q, a, t in zip(gold.questions, gold.answers, titles)]
            )
        return self._state[key]

    def respond(self, request: GenerationRequest) -> str:
        """The response text for one request (reads the request's own context)."""
        state = self._task_state(request.key)
        if state.retry is not None:  # the turn after a slip: nothing new was read
            text, state.retry = state.retry, None
            state.turn += 1
            return text
        text = self._respond(request, state)
        kind = self._slip_kind(request.key, state) if state.current is not None else None
        if kind is not None:
            state.slipped, state.retry = True, text
            return self.slip(text, kind)
        return text

    def _respond(self, request: GenerationRequest, state: _TaskState) -> str:
        for q in state.questions:
            q.fresh_fact = None
        if state.current is not None:
            context = self.tokenizer.decode(request.context_ids, skip_special_tokens=True)
            self._read(state.questions[state.current], read_documents(context, self.profile.observation_tag))
        searches_left = self.max_turns - state.turn - 1  # one turn stays for the answer
        state.turn += 1
        target = self._pick(state) if searches_left > 0 and not request.last_turn else None
        state.current = target
        if target is None:
            action = f"<answer>{'; '.join(self._final(q) for q in state.questions)}</answer>"
        else:
            query = state.questions[target].next_query or keywords(state.questions[target].text)
            action = f"<search>{query}</search>"
        tag = self.profile.state_tag

        def write(fact_words: int | None) -> str:
            return f"<{tag}>{self._memory(state, target, fact_words)}</{tag}>{action}"

        # the memory describes what was done before this turn, so the query is recorded after it
        # (recorded first, a question's first search read "not found yet ... (new query)")
        text = self._fit(write)
        if target is not None:
            state.questions[target].queries.append(query)
            state.questions[target].next_query = None
        return text

    def _fit(self, write) -> str:
        """``write(fact_words)`` with the longest facts that keep the turn within ``fit_tokens``."""
        text = write(None)
        for words in FIT_FACT_WORDS if self.fit_tokens else ():
            if len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) <= self.fit_tokens:
                break
            text = write(words)
        return text

    # -- slips ---------------------------------------------------------------------------
    def _slip_kind(self, key: str, state: _TaskState) -> str | None:
        """Whether this search turn slips, and how (seeded by task id and turn)."""
        turns_left = self.max_turns - state.turn  # after this one: the retry and the answer need 2
        if self.slip_rate <= 0 or state.slipped or turns_left < 2:
            return None
        rng = random.Random(f"{self.slip_seed}:{self._task_id(key)}:{state.turn}")
        return rng.choice(SLIP_KINDS) if rng.random() < self.slip_rate else None

    def slip(self, text: str, kind: str) -> str:
        """An invalid version of the clean search turn ``text``, run on to the token budget.

        Example:
            >>> expert = QAExpertPolicy(tokenizer, {})  # doctest: +SKIP
            >>> expert.slip("<think>Q1 open.</think><search>Eiffel</search>", "tag_typo")[:42]  # doctest: +SKIP
            '<think>Q1 open.</think><search answer>Eiffel'
        """
        tag, search = self.profile.state_tag, self.profile.search_tag
        memory = text[len(f"<{tag}>") : text.index(f"</{tag}>")]
        query = text[text.index(f"<{search}>") + len(search) + 2 : text.rindex(f"</{search}>")]
        if kind == "bad_close":  # the query closed by the state tag, then the memory again
            head = f"<{tag}>{memory}</{tag}><{search}>{query}</{tag}><{tag}>"
        elif kind == "tag_typo":
            head = f"<{tag}>{memory}</{tag}><{search} answer>{query}</{search}><{tag}>"
        elif kind == "runaway":  # the memory never closes: it copies itself on
            head = f"<{tag}>{memory}"
        else:
            raise Mem1InputError(f"unknown slip kind {kind!r} (choose from {', '.join(SLIP_KINDS)})")
        body = head
        while len(self.tokenizer(body, add_special_tokens=False)["input_ids"]) < self.max_new_tokens:
            body += f" {memory}"
        ids = self.tokenizer(body, add_special_tokens=False)["input_ids"][: self.max_new_tokens]
        return self.tokenizer.decode(ids)

    def _pick(self, state: _TaskState) -> int | None:
        """Keep on the question searched last (its next hop), else the first open one."""
        order = ([state.current] if state.current is not None else []) + list(range(len(state.questions)))
        for i in order:
            q = state.questions[i]
            if q.open and len(q.queries) < MAX_SEARCHES_PER_QUESTION:
                return i
        return None

    # -- reading -------------------------------------------------------------------------
    def _read(self, q: _Question, docs: list[tuple[str, str]]) -> None:
        gold = {_plain_title(t).lower(): t for t in q.titles}
        if docs and q.guess is None:
            q.guess = base_title(docs[0][0])
        gold_docs = [(t, x) for t, x in docs if t.lower() in gold]
        for title, _ in gold_docs:
            q.seen_titles.add(title.lower())
        # a question is answered only once every gold passage has been read (both hops of a
        # multi-hop question); the answer must stand in a gold passage (any, when none is named)
        complete = q.seen_titles >= set(gold)
        answer_doc = None
        if q.candidate is None and not q.needs_all_titles():
            for title, text in gold_docs if gold else docs:
                fact = self._answer_fact(q, title, text)
                if fact:
                    answer_doc = title
                    if complete:
                        q.answer, q.fresh_fact = q.candidate, fact
                        return
                    q.facts = (q.facts + [fact])[-2:]
                    break
        if complete and gold:
            if q.candidate is not None:
                q.answer = q.candidate
            elif q.needs_all_titles():  # yes/no or a choice: decided by reading every gold passage
                q.answer = q.answers[0].replace(";", ",")
                titles = " and ".join(base_title(gold[k]) for k in gold)
                q.fresh_fact = f"I read {titles}; the answer is {q.answer}."
            else:  # every gold passage read and the answer is not written in them
                q.gave_up = True
            return
        unseen = [gold[k] for k in gold if k not in q.seen_titles]
        bridges = [(t, x) for t, x in gold_docs if t != answer_doc]
        if bridges:
            title, text = bridges[0]
            fact = self._bridge_fact(title, text, unseen)
            if fact not in q.facts:
                q.facts = (q.facts + [fact])[-2:]
        if gold_docs:
            read = " ".join(x for _, x in docs) + " " + q.text
            named = [t for t in unseen if base_title(t) and base_title(t).lower() in read.lower()]
            if named:
                entity = base_title(named[0])
                query = f"{entity} {keywords(q.text, 3, set(entity.lower().split()))}".strip()
                if query not in q.queries:
                    q.next_query = query
                    return
        self._refine(q, unseen)

    def _answer_fact(self, q: _Question, title: str, text: str) -> str | None:
        """The shortened sentence holding a gold answer (and remember that answer), if any."""
        for sentence in _sentences(text):
            for alias in q.answers:
                if _contains(sentence, alias):
                    q.candidate = alias.replace(";", ",")
                    return shorten(f"{base_title(title)}: {sentence}", alias)
        return None

    @staticmethod
    def _bridge_fact(title: str, text: str, unseen: list[str]) -> str:
        sentences = _sentences(text) or [text]
        for sentence in sentences:
            for t in unseen:
                if base_title(t) and base_title(t).lower() in sentence.lower():
                    return shorten(f"{base_title(title)}: {sentence}", base_title(t))
        return shorten(f"{base_title(title)}: {sentences[0]}")

    @staticmethod
    def _refine(q: _Question, unseen: list[str]) -> None:
        """The next query after a search that did not bring the passage needed."""
        if len(q.queries) >= MAX_SEARCHES_PER_QUESTION:
            q.gave_up = True
            return
        in_question = [t for t in unseen if base_title(t) and base_title(t).lower() in q.text.lower()]
        tried = set(q.queries)
        options = []
        for title in in_question:
            entity = base_title(title)
            options += [f"{entity} {keywords(q.text, 3, set(entity.lower().split()))}".strip(), entity]
        options += [keywords(q.text, 14), q.text.rstrip("?")]
        fresh = [o for o in options if o and o not in tried]
        if fresh:
            q.next_query = fresh[0]
        else:
            q.gave_up = True

    # -- writing -------------------------------------------------------------------------
    @staticmethod
    def _final(q: _Question) -> str:
        if q.answer is not None:
            return q.answer
        if q.candidate is not None:  # read, but the other hop was not confirmed
            return q.candidate
        if q.text.split()[0].lower() in _YES_NO_START:  # a yes/no question: the guess is a yes/no
            return "yes"
        return (q.guess or "unknown").replace(";", ",")

    def _memory(self, state: _TaskState, target: int | None, fact_words: int | None = None) -> str:
        """The ``<think>`` text; ``fact_words`` cuts every fact to that many words (0: no facts)."""

        def cut(facts: list[str]) -> str:
            if fact_words is None:
                return " ".join(facts)
            return " ".join(shorten(f, words=fact_words) for f in facts) if fact_words else ""

        lines = []
        for n, q in enumerate(state.questions, start=1):
            fresh = cut([q.fresh_fact]) if q.fresh_fact else ""
            known = cut(q.facts)
            if q.answer is not None:
                lines.append(f"Q{n} answer: {q.answer}." + (f" ({fresh})" if fresh else ""))
            elif q.gave_up or (target is None and q.open):
                found = f" Known: {known}" if known else ""
                lines.append(f"Q{n} not found; best guess: {self._final(q)}.{found}")
            elif known:
                lines.append(f"Q{n} open. Known: {known}")
            elif q.facts:
                lines.append(f"Q{n} open.")
            elif q.queries:
                lines.append(f"Q{n} open: not found yet.")
            else:
                lines.append(f"Q{n} open.")
        if target is None:
            lines.append("I answer now.")
        else:
            q = state.questions[target]
            step = "next step" if q.facts else ("new query" if q.queries else "search")
            lines.append(f"Now Q{target + 1} ({step}).")
        return " ".join(lines)
