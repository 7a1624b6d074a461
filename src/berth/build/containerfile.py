"""A whole Containerfile: the global ARGs and the stages, each a FROM and its instructions.

cf = parse_containerfile(text, "Containerfile")
cf.stage("build").instructions  # the typed records after `FROM ... AS build`
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.build.errors import ContainerfileError
from berth.build.instructions import Arg, From, Instruction, parse_instruction
from berth.build.lines import read_lines


@dataclass(frozen=True, slots=True)
class Stage:
    """One build stage: its position, its ``AS`` name (lower case) if any, and its instructions."""

    index: int
    base: From
    instructions: tuple[Instruction, ...]

    @property
    def name(self) -> str | None:
        return self.base.name


@dataclass(frozen=True, slots=True)
class Containerfile:
    filename: str
    escape: str
    #: The ARGs before the first FROM: only FROM lines (and later ARGs naming them) see them.
    global_args: tuple[Arg, ...]
    stages: tuple[Stage, ...]

    def stage(self, ref: str) -> Stage | None:
        """The stage named ``ref`` (any case) or at index ``ref``, as ``--target`` and ``--from`` say."""
        for stage in self.stages:
            if stage.name is not None and stage.name == ref.lower():
                return stage
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None


def parse_containerfile(text: str, filename: str = "Containerfile") -> Containerfile:
    """``text`` parsed and grouped into stages; ``ContainerfileError`` naming the first bad line."""
    source = read_lines(text, filename)
    global_args: list[Arg] = []
    stages: list[tuple[From, list[Instruction]]] = []
    names: set[str] = set()
    for line in source.lines:
        instruction = parse_instruction(line, filename)
        if isinstance(instruction, From):
            if instruction.name is not None and instruction.name in names:
                raise ContainerfileError(filename, line.number, f"duplicate stage name {instruction.name!r}")
            names.add(instruction.name or "")
            stages.append((instruction, []))
        elif stages:
            stages[-1][1].append(instruction)
        elif isinstance(instruction, Arg):
            global_args.append(instruction)
        else:
            raise ContainerfileError(
                filename, line.number, f"{line.instruction} before the first FROM (only ARG may come first)"
            )
    if not stages:
        last = source.lines[-1].number if source.lines else 1
        raise ContainerfileError(
            filename, last, "no FROM instruction: a Containerfile needs at least one stage"
        )
    return Containerfile(
        filename,
        source.escape,
        tuple(global_args),
        tuple(Stage(index, base, tuple(body)) for index, (base, body) in enumerate(stages)),
    )
