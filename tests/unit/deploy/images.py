"""What deploy/docker/Dockerfile builds, read with dockerfile-parse, and what .dockerignore keeps
out of its build context.

A stage inherits what it does not set from the stage it is built ``FROM`` (``USER``, ``CMD``,
``HEALTHCHECK``, ``ENV``...): :meth:`Dockerfile.effective` and :meth:`Dockerfile.env` follow that
chain as the builder does.
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dockerfile_parse import DockerfileParser
from dockerfile_parse.util import WordSplitter, get_key_val_dictionary

from tests.conftest import ROOT

DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, COPY, CMD...
    args: str  # the rest, continuation lines joined, runs of blanks as one
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
    global_args: dict[str, str]
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
        """Every ``ENV`` in force in a stage, unexpanded (``$PATH`` stays as written)."""
        env: dict[str, str] = {}
        for stage in reversed(self.chain(name)):
            for instruction in stage.all("ENV"):
                env.update(get_key_val_dictionary(instruction.args))
        return env

    def copies(self, name: str) -> list[tuple[str | None, list[str], str]]:
        """``(from stage or None, sources, destination)`` of each COPY in the stage itself."""
        found = []
        for instruction in self.stages[name].all("COPY"):
            words = list(WordSplitter(instruction.args).split())
            options = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            source_stage = next(
                (o.partition("=")[2] for o in options if o.startswith("--from=")), None
            )
            found.append((source_stage, paths[:-1], paths[-1]))
        return found


def parse(text: str) -> Dockerfile:
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False)
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for item in parser.structure:
        keyword, line = item["instruction"], item["startline"] + 1
        args = " ".join(item["value"].split())
        if keyword == "COMMENT":
            continue
        if keyword == "FROM":
            words = [w for w in WordSplitter(args).split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            current = Stage(name=name or f"stage-{len(stages)}", base=words[0])
            assert current.name not in stages, f"line {line}: stage {current.name} twice"
            stages[current.name] = current
        elif current is None:
            assert keyword == "ARG", f"line {line}: {keyword} before the first FROM"
            global_args.update(get_key_val_dictionary(args))
        else:
            current.instructions.append(Instruction(keyword, args, line))
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
