"""Looking at and interrupting the processes a test started (by pid, never by name)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def process_tree(root: int) -> set[int]:
    """``root`` and every process below it, read from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def interrupt(process: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """Ctrl-C for ``process`` (SIGINT to it alone); its remaining (stdout, stderr). Killed
    if it has not ended within ``timeout``, so a test never leaves it behind."""
    try:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return out or "", err or ""
