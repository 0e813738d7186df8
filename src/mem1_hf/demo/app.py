"""The Gradio demo: watch a MEM1 agent keep a constant-size memory, turn by turn.

A user types questions (one per line) or picks a composed example task with gold answers,
picks the mode (``mem1``, ``full_context`` or both side by side) and the max turns, and watches
each turn stream in (internal state, query, retrieved documents, answer) with a live plot of
context tokens per turn per mode; at the end: answers, EM/F1 against the golds, peak tokens,
dependency, time. Runs go through a queue (one at a time on the loaded model); the UI has no
file inputs or outputs.

Inputs are checked on submit, before a run is queued (Gradio's ``validator``: the message shows on
the input in the page), and again when the run starts (a client may skip the validator). Every
HTTP request is bounded: a body over :data:`MAX_REQUEST_BYTES` gets 413, one not received within
:data:`READ_TIMEOUT_S` seconds 408 (:func:`serve`).

Run it with ``mem1 demo`` or ``python space/app.py`` (``$MEM1_MODEL`` picks the checkpoint).

Example:
    >>> app = build_app(DemoRunner.from_env(), example_tasks())  # doctest: +SKIP
    >>> app.queue(default_concurrency_limit=1).launch(server_name="127.0.0.1")  # doctest: +SKIP
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from typing import Any

import gradio as gr
from matplotlib.figure import Figure

from mem1_hf.demo.runner import (
    MAX_QUESTIONS,
    MAX_TURNS,
    DemoRunner,
    RunState,
    check_turns,
    example_tasks,
    parse_questions,
)
from mem1_hf.errors import Mem1InputError

MODE_CHOICES = {
    "mem1": ["mem1"],
    "full_context": ["full_context"],
    "both (side by side)": ["mem1", "full_context"],
}
MAX_QUEUE = 16
#: the largest request body served (HTTP 413 above it, declared or streamed): a run's inputs are a
#: few KB (4 questions of 300 characters) and the UI uploads no files
MAX_REQUEST_BYTES = 64 * 1024
#: seconds a client has to send a request body after its headers (HTTP 408 after)
READ_TIMEOUT_S = 10.0
_STYLE = {"mem1": ("#1f77b4", "o", "-"), "full_context": ("#d62728", "s", "--")}


def _clip(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _esc(text: str | None, width: int = 600) -> str:
    return html.escape(_clip(text, width))


def render_turns(run, active: bool) -> str:
    """One mode's turns as Markdown: context size, internal state, query, documents, answer."""
    if run is None:
        return "_not run_"
    lines = [f"### {run.mode}"]
    for turn in run.turns:
        lines.append(
            f"**Turn {turn['turn'] + 1}** · context {turn['context_tokens']} tokens · "
            f"generated {turn['generated_tokens']} · action `{turn['action']}`"
        )
        lines.append(f"> **internal state:** {_esc(turn['internal_state'] or turn['response'])}")
        if turn.get("query"):
            lines.append(f"> **query:** {_esc(turn['query'], 200)}")
        if turn.get("observation"):
            docs = html.escape(turn["observation"][:1500])
            lines.append(f"<details><summary>retrieved documents</summary><pre>{docs}</pre></details>")
        if turn.get("answer") is not None:
            lines.append(f"> **answer:** {_esc(turn['answer'], 300)}")
        lines.append("")
    if active and not run.done:
        lines.append("_running…_")
    elif not run.turns and not run.done:
        lines.append("_waiting…_")
    return "\n".join(lines)


def context_plot(state: RunState | None) -> Figure:
    """Context tokens per turn, one line per mode: the memory story at a glance."""
    fig = Figure(figsize=(7, 3.2), dpi=100)
    ax = fig.add_subplot()
    for mode, run in state.runs.items() if state else []:
        if run.turns:
            color, marker, style = _STYLE.get(mode, ("#444444", "^", ":"))
            xs = [t["turn"] + 1 for t in run.turns]
            ax.plot(
                xs,
                [t["context_tokens"] for t in run.turns],
                label=mode,
                color=color,
                marker=marker,
                linestyle=style,
            )
    ax.set_xlabel("turn")
    ax.set_ylabel("context tokens")
    ax.set_title("Context tokens per turn")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if ax.has_data():
        ax.legend(loc="upper left")
        ax.set_xticks(range(1, 1 + max(len(r.turns) for r in state.runs.values())))
    fig.tight_layout()
    return fig


def render_results(state: RunState) -> str:
    """Final answers and numbers per mode (EM/F1 only when gold answers are known)."""
    finished = [run for run in state.runs.values() if run.done]
    if not finished:
        return ""
    lines = ["### Results", "", "| question | gold | " + " | ".join(r.mode for r in finished) + " |"]
    lines.append("|---" * (2 + len(finished)) + "|")
    for i, question in enumerate(state.questions):
        gold = " / ".join(state.golds[i]) if state.golds else "—"
        answers = [r.result["answers"][i] or "(none)" for r in finished]
        lines.append(
            "| " + " | ".join(_esc(x, 120).replace("|", "\\|") for x in (question, gold, *answers)) + " |"
        )
    lines += ["", "| | " + " | ".join(r.mode for r in finished) + " |", "|---" * (1 + len(finished)) + "|"]
    rows: list[tuple[str, list[str]]] = []
    if state.golds:
        rows.append(
            ("EM (sum / mean)", [f"{r.scores['em_sum']:.0f} / {r.scores['em']:.2f}" for r in finished])
        )
        rows.append(
            ("F1 (sum / mean)", [f"{r.scores['f1_sum']:.2f} / {r.scores['f1']:.2f}" for r in finished])
        )
    rows += [
        ("peak tokens", [str(r.result["peak_tokens"]) for r in finished]),
        ("dependency", [f"{r.result['dependency']:.0f}" for r in finished]),
        ("turns", [str(len(r.result["turns"])) for r in finished]),
        ("stop", [r.result["stop_reason"] for r in finished]),
        ("time (s)", [f"{r.result['time_s']:.1f}" for r in finished]),
    ]
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in rows]
    return "\n".join(lines)


def _example_label(index: int, task: dict[str, Any]) -> str:
    return f"{index + 1}. " + " · ".join(_clip(q, 60) for q in task["questions"])


def check_mode(mode_choice: Any) -> list[str]:
    """The modes of a Mode choice, else one :class:`Mem1InputError` listing the choices."""
    if not isinstance(mode_choice, str) or mode_choice not in MODE_CHOICES:
        raise Mem1InputError(f"pick a mode: {', '.join(MODE_CHOICES)}")
    return MODE_CHOICES[mode_choice]


def _verdict(check: Any, value: Any) -> dict[str, Any]:
    """``gr.validate`` of one input: the rule's own message when ``check(value)`` refuses it."""
    try:
        check(value)
    except Mem1InputError as err:
        return gr.validate(False, str(err))
    return gr.validate(True, "")


def validate_inputs(text: Any, label: Any, mode_choice: Any, max_turns: Any) -> list[dict[str, Any]]:
    """The submit-time check of the Run button's inputs (the same rules as the run itself)."""
    return [
        _verdict(parse_questions, text),
        gr.validate(True, ""),  # the example picker: any value (unknown labels are ignored)
        _verdict(check_mode, mode_choice),
        _verdict(check_turns, max_turns),
    ]


def build_app(runner: DemoRunner, examples: Sequence[dict[str, Any]] = ()) -> gr.Blocks:
    """The Blocks app around a loaded :class:`DemoRunner`."""
    labels = {_example_label(i, t): t for i, t in enumerate(examples)}

    def pick_example(label: str | None):
        task = labels.get(label or "")
        return "\n".join(task["questions"]) if task else gr.update()

    def run(text: str, label: str | None, mode_choice: str, max_turns: Any):
        try:  # validate_inputs ran on submit; an API client may call this directly
            questions = parse_questions(text)
            turns = check_turns(max_turns)
            modes = check_mode(mode_choice)
        except Mem1InputError as err:
            raise gr.Error(str(err)) from None
        task = labels.get(label) if isinstance(label, str) else None
        golds = task["answers"] if task and list(task["questions"]) == questions else None
        yield (
            "Running… (queued runs start when the current one finishes)",
            render_turns(None, False) if "mem1" not in modes else "### mem1\n_starting…_",
            render_turns(None, False) if "full_context" not in modes else "### full_context\n_waiting…_",
            context_plot(None),
            "",
        )
        state = None
        for state in runner.stream(questions, modes, turns, golds=golds):
            yield (
                f"Running `{state.active}`…" if state.active else "Done.",
                render_turns(state.runs.get("mem1"), state.active == "mem1"),
                render_turns(state.runs.get("full_context"), state.active == "full_context"),
                context_plot(state),
                render_results(state),
            )

    with gr.Blocks(title="MEM1 agent: constant memory, live") as app:
        gr.Markdown(
            "# MEM1: an agent with a constant-size memory\n"
            "At every turn the agent rewrites one internal state (`<think>`) and everything older is "
            "pruned (`mem1`); `full_context` keeps the whole history. Ask up to "
            f"{MAX_QUESTIONS} questions at once (one per line) over a Wikipedia corpus, and watch the "
            f"context size per turn.\n\nModel: `{os.path.basename(runner.model_name.rstrip('/'))}`"
            f" · corpus: {len(runner.env)} passages · {runner.max_new_tokens} new tokens per turn"
        )
        with gr.Row():
            with gr.Column(scale=3):
                questions = gr.Textbox(
                    label=f"Questions (one per line, at most {MAX_QUESTIONS})", lines=4, elem_id="questions"
                )
                example = gr.Dropdown(
                    choices=list(labels),
                    value=None,
                    label="…or an example task (gold answers known)",
                    elem_id="example",
                )
            with gr.Column(scale=2):
                mode = gr.Radio(list(MODE_CHOICES), value="both (side by side)", label="Mode", elem_id="mode")
                max_turns = gr.Slider(1, MAX_TURNS, value=4, step=1, label="Max turns", elem_id="max-turns")
                button = gr.Button("Run", variant="primary", elem_id="run")
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            mem1_log = gr.Markdown("### mem1", elem_id="log-mem1")
            full_log = gr.Markdown("### full_context", elem_id="log-full_context")
        plot = gr.Plot(label="Context tokens per turn", elem_id="plot")
        results = gr.Markdown(elem_id="results")
        example.change(pick_example, example, questions, queue=False)
        button.click(
            run,
            [questions, example, mode, max_turns],
            [status, mem1_log, full_log, plot, results],
            concurrency_limit=1,
            validator=validate_inputs,
            # raw values reach the checks: the Slider's own preprocessing turns "abc" into a
            # TypeError that Gradio shows as a bare "Error", and would round 2.5
            preprocess=False,
        )
    return app


def serve(app: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, **launch_kwargs: Any) -> Any:
    """Queue and launch ``app`` with every request bounded (:data:`MAX_REQUEST_BYTES`,
    :data:`READ_TIMEOUT_S`; the retrieval server's :class:`~mem1_hf.retrieval.server.RequestGuard`);
    ``launch_kwargs`` go to ``gr.Blocks.launch`` (``share``, ``prevent_thread_lock``, ``quiet``)."""
    from starlette.middleware import Middleware

    from mem1_hf.retrieval.server import RequestGuard

    guard = Middleware(RequestGuard, max_bytes=MAX_REQUEST_BYTES, read_timeout=READ_TIMEOUT_S)
    app.queue(default_concurrency_limit=1, max_size=MAX_QUEUE)
    return app.launch(
        server_name=host,
        server_port=port,
        app_kwargs={"middleware": [guard]},  # Gradio's routes only cap multipart uploads
        **launch_kwargs,
    )


def launch(
    model: str | None = None,
    corpus: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
) -> None:
    """Load the model and corpus, build the app and serve it (blocking)."""
    runner = DemoRunner.from_env(model=model, corpus=corpus)
    app = build_app(runner, example_tasks())
    port = port or int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    serve(app, os.environ.get("GRADIO_SERVER_NAME", host), port, share=share)
