"""The live memory demo: ``mem1 demo`` (and the Gradio Space in ``space/``).

``runner`` holds the UI-free part (model resolution, corpus, example tasks, streamed runs),
``app`` the Gradio Blocks, ``space`` writes and checks the Space folder that ``mem1 push space``
uploads. Importing this package does not import gradio.

Example:
    $ mem1 demo --port 7860            # MEM1_MODEL=<checkpoint or Hub id> to run another model
"""

from __future__ import annotations

import argparse
from typing import Any


def _cmd_demo(args: argparse.Namespace) -> None:
    try:
        from mem1_hf.demo.app import launch
    except ImportError as err:  # gradio is an extra
        from mem1_hf.errors import Mem1InputError

        raise Mem1InputError(f"the demo needs gradio: pip install 'mem1-hf[demo]' ({err})") from err
    launch(model=args.model, corpus=args.corpus, host=args.host, port=args.port, share=args.share)


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mem1 demo`` (see ``mem1_hf.cli.PLUGINS``).

    Example:
        >>> parser = argparse.ArgumentParser(prog="mem1")
        >>> _ = register_cli(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["demo", "--port", "7861"]).port
        7861
    """
    parser = subparsers.add_parser(
        "demo",
        help="serve the live memory demo (Gradio) on the demo corpus",
        description="Serve the Gradio demo: watch the agent work turn by turn, mem1 vs full context. "
        "The model is --model, else $MEM1_MODEL, else the trained default agent "
        "(SmolLM2-135M-Instruct + the shipped adapter); 'base' names the untrained base model.",
    )
    parser.add_argument("--model", default=None, help="checkpoint path or Hub id (default: see above)")
    parser.add_argument(
        "--corpus", default=None, help="corpus JSONL (default: $MEM1_DEMO_CORPUS or demo/corpus.jsonl)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860 or $GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public share link")
    parser.set_defaults(func=_cmd_demo)
    return parser
