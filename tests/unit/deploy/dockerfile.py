"""deploy/docker/Dockerfile and .dockerignore, read as the builder reads them, for the tests.

Enough of the Dockerfile syntax for what the file uses: comments, ``\\`` continuations, global
``ARG``s, ``FROM image AS name`` stages, and instructions that a stage inherits from the stage
it is built ``FROM`` (``USER``, ``CMD``, ``HEALTHCHECK``, ``ENV``...).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tests.conftest import ROOT

DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, COPY, CMD...
    args: str  # the rest, continuation lines joined
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/RUN (after HEALTHCHECK's ``CMD``)."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = re.sub(r"^(--\S+\s+)*CMD\s+", "", text)
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        return None


@dataclass
class Stage:
    name: str
    base: str  # an image, or the name of an earlier stage
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str | None]
    stages: dict[str, Stage]

    def chain(self, name: str) -> list[Stage]:
        """The stage and each stage it is built on, nearest first."""
        chain = [self.stages[name]]
        while chain[-1].base in self.stages:
            chain.append(self.stages[chain[-1].base])
        return chain

    def effective(self, name: str, keyword: str) -> Instruction | None:
        """The instruction in force in a stage: its own last one, else its base stage's."""
        for stage in self.chain(name):
            found = stage.all(keyword)
            if found:
                return found[-1]
        return None

    def env(self, name: str) -> dict[str, str]:
        """Every ``ENV`` in force in a stage (``KEY=value`` form)."""
        env: dict[str, str] = {}
        for stage in reversed(self.chain(name)):
            for instruction in stage.all("ENV"):
                for pair in shlex.split(instruction.args):
                    key, _, value = pair.partition("=")
                    env[key] = value
        return env

    def copies(self, name: str) -> list[tuple[str | None, list[str], str]]:
        """``(from stage or None, sources, destination)`` of each COPY in the stage itself."""
        found = []
        for instruction in self.stages[name].all("COPY"):
            words = instruction.args.split()
            options = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            source_stage = next(
                (o.partition("=")[2] for o in options if o.startswith("--from=")), None
            )
            found.append((source_stage, paths[:-1], paths[-1]))
        return found


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):  # comments may sit inside a continuation
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append((start, pending + stripped))
        pending = ""
    return lines


def parse(text: str) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for number, line in _logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), re.sub(r"\s+", " ", args).strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--\S+ )*(\S+)(?: AS (\S+))?", args, re.IGNORECASE)
            assert match, f"line {number}: FROM {args}"
            base, name = match.groups()
            current = Stage(name=name or f"stage-{len(stages)}", base=base)
            assert current.name not in stages, f"line {number}: stage {current.name} twice"
            stages[current.name] = current
        elif current is None:
            assert keyword == "ARG", f"line {number}: {keyword} before the first FROM"
            key, sep, value = args.partition("=")
            global_args[key] = value if sep else None
        else:
            current.instructions.append(Instruction(keyword, args, number))
    return Dockerfile(global_args, stages)


@cache
def dockerfile() -> Dockerfile:
    return parse(DOCKERFILE.read_text())


def ignore_patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path`` (relative to the context) out of the build context:
    the last pattern that matches the path or one of its parent folders decides, ``!`` lets in.
    """
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        if any(_matches(glob, candidate) for candidate in candidates):
            verdict = not negated
    return verdict


def _matches(glob: str, path: str) -> bool:
    """Go's filepath.Match per path segment, with ``**`` for any number of segments."""
    pattern_parts, path_parts = glob.split("/"), path.split("/")

    def match(i: int, j: int) -> bool:
        if i == len(pattern_parts):
            return j == len(path_parts)
        if pattern_parts[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(path_parts) + 1))
        return (
            j < len(path_parts)
            and fnmatch.fnmatchcase(path_parts[j], pattern_parts[i])
            and match(i + 1, j + 1)
        )

    return match(0, 0)
