"""The README's quick-start as data, and a runner that types its commands into bash against a running service.

`python -m tests.integration.readme DIR [SERVE]` runs it all in DIR (the fresh-clone test runs it so, inside a
network namespace of its own) and prints one JSON line: the steps and whether the quick-start held.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.integration.served import Served, served

REPO = Path(__file__).resolve().parents[2]
ID = re.compile(r"\b[a-z]{3}_[0-9a-z]{16,}\b")
PLACEHOLDER = "<id>"
QUICK_START = "## Quick start"


@dataclass
class Step:
    command: str  # as written in the README
    ran: str = ""  # as run: <id> filled, the README's ports replaced by the test's free ones
    exit_status: int | None = None
    output: str = ""


def first_command(readme: str) -> str:
    """The first command of the README: install and run the service."""
    return _blocks(readme)[0][0]


def quick_start(readme: str) -> list[list[str]]:
    """Every shell command of the quick-start, block by block (a command may span lines)."""
    section = readme[readme.index(QUICK_START):]
    section = section[:section.index("\n## ", len(QUICK_START))]
    return _blocks(section)


def _blocks(markdown: str) -> list[list[str]]:
    blocks = re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)
    return [_commands(block) for block in blocks]


def _commands(block: str) -> list[str]:
    """Lines joined into whole commands: a trailing backslash, or a quote still open, continues one."""
    commands: list[str] = []
    pending = ""
    for line in block.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\") or not _complete(pending):
            continue
        commands.append(pending)
        pending = ""
    assert not pending, f"unfinished command in the README: {pending!r}"
    return commands


def _complete(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


# Some steps show a state that takes a moment (a person reads the last output and runs it again): the
# command is run again, as written, until its output shows it. The README's comments say the same.
SETTLED = {
    "egress show": re.compile(r"│ demo +│ active +│"),
    "egress list --room class-1": re.compile(r"│ class-1 +│ active +│"),
    "broadcast show": re.compile(r": live +planned"),
    "sessions list": re.compile(r"class-1 .*composite"),
    "recordings list": re.compile(r"\A(?:(?!rec_).)*rec_\w+[^\n]*ready[^\n]*class-1", re.DOTALL),
}


# What a person types at a command's prompt (the README says the command asks): the password, twice.
TYPED = {"users add": "a long quick-start passphrase\n" * 2}


def run_block(handle: Served, commands: list[str], *, settle_s: float = 30) -> list[Step]:
    """Run a block's commands in order with bash in the service's directory; `<id>` is the first id the
    block's first command printed. Stops at the first command that fails."""
    steps: list[Step] = []
    ident = ""
    for command in commands:
        ran = _localised(command, handle).replace(PLACEHOLDER, ident)
        step = Step(command, ran)
        steps.append(step)
        settled = next((pattern for words, pattern in SETTLED.items() if f"orchestrator {words}" in command), None)
        deadline = time.monotonic() + settle_s
        while True:
            typed = next((text for words, text in TYPED.items() if f"orchestrator {words}" in command), "")
            done = subprocess.run(["bash", "-c", ran], cwd=handle.cwd, env=handle.env, input=typed,
                                  capture_output=True, text=True, timeout=120)
            step.exit_status, step.output = done.returncode, done.stdout + done.stderr
            if settled is None or done.returncode != 0 or settled.search(step.output):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.3)
        if step.exit_status != 0 or '{"error"' in step.output:
            break
        if not ident and PLACEHOLDER not in command:
            found = ID.search(step.output)
            ident = found.group(0) if found else ""
    return steps


def _localised(command: str, handle: Served) -> str:
    """The README's ports (8080, 7880) replaced by the ones this run listens on."""
    return (command.replace("localhost:8080", f"localhost:{handle.port}")
            .replace("localhost:7880", f"localhost:{handle.sandbox_port}"))


def run_quick_start(directory: Path, serve_command: str, readme: str, *, extra_env: dict[str, str] | None = None,
                    timeout_s: float = 120, link_venv: bool = True) -> dict[str, object]:
    """Serve with `serve_command` in `directory`, then run every block of the quick-start."""
    blocks = quick_start(readme)
    steps: list[Step] = []
    with served(directory, serve_command, extra_env=extra_env or {}, timeout_s=timeout_s,
                link_venv=link_venv) as handle:
        for block in blocks:
            ran = run_block(handle, block)
            steps += ran
            if len(ran) < len(block) or ran[-1].exit_status != 0:
                break
        loud = handle.loud_lines()
    expected = sum(len(b) for b in blocks)
    held = len(steps) == expected and all(s.exit_status == 0 and '{"error"' not in s.output for s in steps)
    return {"held": held, "steps": [asdict(s) for s in steps], "expected_steps": expected, "loud_lines": loud}


def main() -> None:
    directory = Path(sys.argv[1])
    readme = (directory / "README.md").read_text()
    command = sys.argv[2] if len(sys.argv) > 2 else first_command(readme)
    result = run_quick_start(directory, command, readme, timeout_s=300, link_venv=False)
    print(json.dumps(result))
    sys.exit(0 if result["held"] else 1)


if __name__ == "__main__":
    main()
