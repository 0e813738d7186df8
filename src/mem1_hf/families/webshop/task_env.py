"""WebShop episodes: the action inside ``<answer>`` is a ``search[...]`` / ``click[...]`` step.

Task ids are goal ids. The prompt holds the instruction and the first page; each step's
observation is the new page with its available actions; Buy Now ends the task with WebShop's
reward, which is also its score (success: reward = 1).

Example:
    >>> WebShopTaskEnv.turn_budget(1), WebShopTaskEnv.turn_budget(1, override=4)
    (10, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mem1_hf.errors import Mem1InputError
from mem1_hf.families.webshop.env import WebShopEnv, WebShopSession
from mem1_hf.task_env import (
    Finished,
    Outcome,
    ReportSpec,
    StepItem,
    Task,
    TaskEnvironment,
    fmt_number,
    mean,
    register_family,
)

#: WebShop episodes get 10 turns (the mem1-webshop profile's budget) unless overridden
WEBSHOP_MAX_TURNS = 10
#: the goal splits of WebShop
SPLITS = ("train", "test", "human", "all")


REPORT = ReportSpec(
    title="WebShop evaluation",
    by_objectives=False,
    sections=(
        (
            None,
            None,
            (
                ("Avg reward", lambda c: fmt_number(c["reward"], 3)),
                ("Success", lambda c: fmt_number(c["success_rate"], 3)),
                ("Peak (×10²)", lambda c: fmt_number(c["peak_tokens"] / 100)),
                ("Dep. (×10⁶)", lambda c: fmt_number(c["dependency"] / 1e6)),
                ("Time (s)", lambda c: fmt_number(c["time_s"])),
                ("invalid", lambda c: fmt_number(c["invalid_rate"], 3)),
                ("turns", lambda c: fmt_number(c["turns"], 1)),
                ("ctx-limit", lambda c: str(c["context_limit_stops"])),
                ("episodes", lambda c: str(c["n_tasks"])),
            ),
        ),
    ),
    footer="Reward is WebShop's final reward per episode; success is reward = 1.",
    plots=(
        ("reward", "reward", "average final reward"),
        ("success", "success_rate", "success rate"),
        ("peak_tokens", "peak_tokens", "peak tokens"),
        ("time", "time_s", "time per episode (s)"),
    ),
    noted_settings=("webshop_reward", "title_nouns"),
)


@register_family
class WebShopTaskEnv(TaskEnvironment):
    """WebShop sessions, one per running task (see the module docstring)."""

    name = "webshop"
    env_type = WebShopEnv
    profiles = ("mem1-webshop",)
    modes = ("mem1", "full_context")
    report = REPORT
    has_expert = True

    def __init__(self, env: WebShopEnv, profile, topk: int | None = None):
        super().__init__(env, profile, topk)
        self._sessions: dict[str, WebShopSession] = {}

    def task(self, index: int, questions: Sequence[str]) -> Task:
        """Through the pipeline a WebShop task is a goal id (an unknown one: a one-line error)."""
        return Task.from_row(self.env.goal(questions[0].strip()))

    def session(self, key: str) -> WebShopSession:
        """The running session of the task ``key`` (the scripted expert reads its page)."""
        return self._sessions[key]

    def start(self, key: str, task: Task) -> str:
        session = self.env.reset(self.env.goal(task.id))
        self._sessions[key] = session
        return (
            self.profile.build_prompt([session.goal.instruction]) + "\nCurrent page:\n" + session.observation
        )

    def step(self, items: Sequence[StepItem]) -> list[Outcome]:
        outcomes = []
        for item in items:
            session = self._sessions[item.key]
            if item.parsed.action != self.profile.final_tag:
                outcomes.append(
                    Outcome(False, observation=f"{self.profile.invalid_message}\n{session.observation}")
                )
                continue
            result = session.step(item.parsed.content)
            reward = result.reward if result.done else None
            stop = "bought" if result.done else None
            outcomes.append(
                Outcome(result.done, result.observation, reward=reward, stop_reason=stop, info=result.info)
            )
        return outcomes

    def finish(self, key: str) -> None:
        self._sessions.pop(key, None)

    def score(self, trajectory: Finished, **options: Any) -> dict[str, Any]:
        reward = trajectory.reward or 0.0
        return {"reward": reward, "success": reward >= 1.0}

    @classmethod
    def turn_budget(cls, objectives: int, override: int | None = None) -> int:
        if override is not None and override < 1:
            raise Mem1InputError(f"--max-turns must be >= 1, got {override}")
        return override or WEBSHOP_MAX_TURNS

    @classmethod
    def summarize(cls, records: Sequence[dict[str, Any]]) -> dict[str, float]:
        return {
            "reward": mean([r["reward"] for r in records]),
            "success_rate": mean([float(r["success"]) for r in records]),
        }

    @classmethod
    def load_eval(cls, settings: Any) -> tuple[Any, dict[int, list[Task]], dict[str, Any]]:
        from mem1_hf.families.webshop.play import env_from_args

        if settings.data or settings.source or settings.corpus or settings.index:
            raise Mem1InputError(
                "--env webshop takes --products/--attributes, not --data/--source/--corpus/--index"
            )
        if settings.split not in SPLITS:
            raise Mem1InputError(f"--split {settings.split!r}: WebShop has train, test, human and all")
        shop = env_from_args(settings)
        goals = shop.goals(settings.split)
        goals = goals[: settings.limit] if settings.limit else goals
        extra = {
            "products": settings.products,
            "attributes": settings.attributes,
            **shop.reward_settings(),
            **_fingerprint(settings, shop),
        }
        return shop, {1: [Task.from_row(g) for g in goals]}, extra

    def expert_policy(self, tokenizer: Any, max_turns: int) -> Any:
        from mem1_hf.families.webshop.expert_policy import WebShopExpertPolicy

        return WebShopExpertPolicy(tokenizer, self, max_turns)


def _fingerprint(settings: Any, shop: Any) -> dict[str, Any]:
    """Hashes of WebShop's files and the split's goals: a resume with others is refused."""
    from mem1_hf.data.fingerprint import sha256_file, sha256_json
    from mem1_hf.families.webshop.play import data_files

    products, attributes, query_map = data_files(settings)
    return {
        "products_sha256": sha256_file(products),
        "attributes_sha256": sha256_file(attributes),
        "goal_query_map": query_map,
        "goal_query_map_sha256": sha256_file(query_map) if query_map else None,
        "goals_sha256": sha256_json([(g.goal_id, g.instruction) for g in shop.goals(settings.split)]),
    }
