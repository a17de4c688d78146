"""The README's examples run as written: every fenced `bash` command, `toml` file and `python`
block, in order, in a fresh workspace holding a copy of `data/` (so the README cannot drift
from the tool)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_main

# Commands the README shows but this test does not run, and why.
NOT_RUN = {
    "make ": "builds .venv and runs this very test suite (CI runs `make test`)",
    "pip ": "installs packages: the environment running the tests has them",
    ".venv/bin/python -m pytest": "runs this very test suite",
}
SHELL = re.compile(r"[|<>;&$`]")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Step:
    """One thing the README asks the reader to do: a shell command, a file, Python code."""

    kind: str  # "command" | "file" | "python"
    text: str
    name: str = ""


def readme_steps(text: str) -> list[Step]:
    """The README's runnable steps in reading order.

    Example:
        >>> readme_steps("```bash\\nanomaly models   # list\\n```\\n")
        [Step(kind='command', text='anomaly models   # list', name='')]
    """
    steps: list[Step] = []
    for lang, body in FENCE.findall(text):
        if lang == "bash":
            joined = body.replace("\\\n", " ")
            steps += [Step("command", line.strip()) for line in joined.splitlines()
                      if line.strip() and not line.lstrip().startswith("#")]
        elif lang == "toml" and body.startswith("# "):
            steps.append(Step("file", body, body.splitlines()[0][2:].strip()))
        elif lang == "python":
            steps.append(Step("python", body))
    return steps


def run_step(step: Step, cwd: Path) -> str:
    """Run one step in `cwd`; return an error description, or "" when it worked."""
    if step.kind == "file":
        (cwd / step.name).write_text(step.text, encoding="utf-8")
        return ""
    if step.kind == "python":
        exec(compile(step.text, "README.md", "exec"), {"__name__": "readme"})
        return ""
    words = shlex.split(step.text, comments=True)
    if words[0] == "anomaly" and not SHELL.search(step.text.split("#")[0]):
        result = run_main(*words[1:])
        return "" if result.returncode == 0 else f"exit {result.returncode}: {result.stderr}"
    # a shell line (mkdir, cp, or an anomaly command with a redirection or a pipe): bash runs
    # it, with `anomaly` the CLI of the Python running the tests
    cli = f'anomaly() {{ "{sys.executable}" -m anomaly.cli "$@"; }}\n'
    done = subprocess.run(["bash", "-c", cli + step.text], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    return "" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr}"


def test_readme_lists_runnable_steps() -> None:
    steps = readme_steps((ROOT / "README.md").read_text(encoding="utf-8"))
    commands = [s.text for s in steps if s.kind == "command"]
    for verb in ("train", "score", "explain", "evaluate", "threshold", "batch", "runs",
                 "models", "info"):
        assert any(c.startswith(f"anomaly {verb} ") or c.startswith(f"anomaly {verb}")
                   for c in commands), f"the README has no example of `anomaly {verb}`"
    assert any(s.kind == "file" for s in steps) and any(s.kind == "python" for s in steps)


@pytest.mark.slow
def test_every_readme_example_runs_as_written(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANOMALY_WORKSPACE", raising=False)
    failures = []
    for step in readme_steps((ROOT / "README.md").read_text(encoding="utf-8")):
        if step.kind == "command" and step.text.startswith(tuple(NOT_RUN)):
            continue
        error = run_step(step, tmp_path)
        if error:
            failures.append(f"{step.text.splitlines()[0]}\n    {error.strip()[-600:]}")
    assert not failures, "README examples that fail:\n" + "\n".join(failures)
    scored = (tmp_path / "outbox" / "transactions_test.scored.csv").read_text().splitlines()
    assert len(scored) == 1 + 1500  # the batch example scored the test file once
