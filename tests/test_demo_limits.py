"""Hardening, round 2 (issue 28): the demo checks its inputs on submit and bounds each request.

The real Gradio app (:func:`mem1_hf.demo.app.build_app`, served by :func:`~mem1_hf.demo.app.serve`
as ``mem1 demo`` and the Space serve it) on 127.0.0.1, driven through the Gradio client and plain
HTTP; its runner is a stand-in that yields one state, so no model loads.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from gradio_client import Client
from gradio_client.exceptions import ValidationError
from serving import free_port

from mem1_hf.demo.app import MAX_REQUEST_BYTES, build_app, serve
from mem1_hf.demo.runner import (
    MAX_QUESTION_CHARS,
    DemoRunner,
    ModeRun,
    RunState,
    check_turns,
    parse_questions,
)
from mem1_hf.errors import Mem1InputError


class InstantRunner(DemoRunner):
    """A runner whose run is one state with nothing done (the app's own code does the rest)."""

    def __init__(self) -> None:
        super().__init__(agent=None, env=["one passage"], model_name="stand-in", max_new_tokens=8)
        self.calls: list[int] = []

    def stream(self, questions, modes, max_turns, golds=None) -> Iterator[RunState]:
        self.calls.append(max_turns)
        yield RunState(list(questions), golds, {m: ModeRun(m) for m in modes})


@pytest.fixture(scope="module")
def served():
    runner = InstantRunner()
    app = build_app(runner)
    port = free_port()
    serve(app, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", runner
    finally:
        app.close()


@pytest.fixture(scope="module")
def client(served):
    return Client(served[0], verbose=False)


def test_a_good_run_goes_through(client, served):
    status, *_ = client.predict("Who wrote Hamlet?", None, "mem1", 3, api_name="/run")
    assert status == "Done." and served[1].calls[-1] == 3


@pytest.mark.parametrize(
    "turns, message",
    [
        (2.5, "max turns must be a whole number from 1 to 10, got 2.5"),
        ("abc", "max turns must be a whole number from 1 to 10, got 'abc'"),
        (0, "max turns must be between 1 and 10, got 0"),
    ],
)
def test_max_turns_is_checked_on_submit(client, served, turns, message):
    before = len(served[1].calls)
    with pytest.raises(ValidationError, match=f"max_turns: {message}"):
        client.predict("Who wrote Hamlet?", None, "mem1", turns, api_name="/run")
    assert len(served[1].calls) == before  # refused before the run was queued


def test_question_length_is_checked_on_submit(client, served):
    before = len(served[1].calls)
    long_question = "x" * (MAX_QUESTION_CHARS + 1)
    with pytest.raises(ValidationError, match=f"the limit is {MAX_QUESTION_CHARS}"):
        client.predict(long_question, None, "mem1", 3, api_name="/run")
    assert len(served[1].calls) == before


def test_the_run_itself_refuses_what_the_validator_would():
    """A client that skips the validator meets the same rule inside the run."""
    for bad in (2.5, "abc", "2.5", float("nan"), True):
        with pytest.raises(Mem1InputError, match="whole number"):
            check_turns(bad)
    assert check_turns(3) == check_turns(3.0) == check_turns("3") == 3
    with pytest.raises(Mem1InputError, match="the questions must be text, got int"):
        parse_questions(123)  # raw values reach the checks: no Textbox preprocessing


def test_request_bodies_are_capped(served, client):
    url = served[0] + "gradio_api/queue/join"
    headers = {"content-type": "application/json"}
    declared = requests.post(url, data=b"x" * (8 * MAX_REQUEST_BYTES), headers=headers, timeout=30)
    assert declared.status_code == 413 and str(MAX_REQUEST_BYTES) in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams in
        for _ in range(8):
            yield b"x" * MAX_REQUEST_BYTES

    streamed = requests.post(url, data=chunks(), headers=headers, timeout=30)
    assert streamed.status_code == 413
    small = requests.post(url, data=b"{}", headers=headers, timeout=30)
    assert small.status_code != 413  # Gradio's own answer to a malformed join
    status, *_ = client.predict("Who wrote Hamlet?", None, "mem1", 2, api_name="/run")
    assert status == "Done."  # the app still serves after refusing
