"""MEM1 live memory demo (Gradio Space).

Runs the mem1-hf "mem1-agent" pipeline turn by turn, mem1 vs full context, with a live plot of
context tokens per turn. Set MEM1_MODEL to any MEM1 checkpoint (local path, adapter or Hub id).
Locally: `mem1 demo`, or `python space/app.py` from the repository.
"""

import os
import sys
from pathlib import Path

# a pushed Space ships the mem1_hf package next to this file; a checkout uses the installed one
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mem1_hf.demo.app import launch  # noqa: E402

if __name__ == "__main__":
    launch(
        host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1")
    )
