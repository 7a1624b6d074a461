"""A stage's image as it is built: its config, its layers and history, its ARGs in scope, and the
instructions that only edit the config (Dockerfile reference, one section each).

    state = StageState(ImageConfig("amd64", "linux", diff_ids=()), layers=[], chain=None)
    apply_config_instruction(state, Env(line, (("A", "1"),)))
    state.config.config.env  # ("A=1",)
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.build.expand import Expander
from berth.build.instructions import (
    Arg,
    Cmd,
    Command,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from berth.errors import InvalidArgument
from berth.spec import records
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.image_config import ContainerConfig, History, ImageConfig

#: Dockerfile reference, SHELL: the default shell on Linux.
DEFAULT_SHELL = ("/bin/sh", "-c")
#: The PATH a stage's ENV gets when its base sets none (buildah's and Docker's default).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class StageState:
    """What a stage has built so far; ``chain`` is the snapshot chain ID of its layers."""

    config: ImageConfig
    layers: list[Descriptor]
    chain: Digest | None
    #: The ARG values this stage sees (declared here, given or defaulted), in declaration order.
    args: dict[str, str] = field(default_factory=dict)
    #: ``--build-arg`` values and the built-in ARGs' values, which declarations pick up.
    given_args: Mapping[str, str] = field(default_factory=dict)
    #: Whether this stage set CMD itself (an ENTRYPOINT then keeps it).
    cmd_set: bool = False
    #: (path, USER) of each WORKDIR since the last tree step: buildah 1.28 makes a WORKDIR's
    #: directory at once, as the USER of that moment, so the next tree step makes them first.
    workdirs_to_make: list[tuple[str, str]] = field(default_factory=list)
    escape: str = "\\"

    @property
    def container(self) -> ContainerConfig:
        return self.config.config

    def edit(self, **fields: object) -> None:
        """Replace fields of the container config."""
        self.config = records.replace(self.config, config=records.replace(self.container, **fields))

    def env(self) -> dict[str, str]:
        """The image's environment as a mapping (later entries win)."""
        return dict(entry.partition("=")[::2] for entry in self.container.env)

    def expander(self) -> Expander:
        """Substitutes this stage's ARGs and ENV (ENV wins over an ARG of the same name)."""
        return Expander({**self.args, **self.env()}, self.escape)

    def run_env(self) -> list[str]:
        """The environment of a RUN: the image's ENV, plus the ARGs it does not override."""
        env = self.env()
        return [*self.container.env, *(f"{k}={v}" for k, v in self.args.items() if k not in env)]

    @property
    def shell(self) -> tuple[str, ...]:
        return self.container.shell or DEFAULT_SHELL

    def add_history(self, created_by: str, created: str, empty_layer: bool) -> None:
        entry = History(created=created, created_by=created_by, empty_layer=empty_layer)
        self.config = records.replace(self.config, history=(*self.config.history, entry))


def declare_args(args: dict[str, str], given: Mapping[str, str], instruction: Arg, ex: Expander) -> None:
    """Bring ``instruction``'s ARGs into ``args``: the given value, else the default (expanded)."""
    for name, default in instruction.pairs:
        if name in given:
            args[name] = given[name]
        elif default is not None:
            args[name] = ex.word(default)


def _words(state: StageState, text: str) -> list[str]:
    return state.expander().words(text)


def _env(state: StageState, instruction: Env) -> None:
    # Every pair is expanded with the environment from before the instruction: `ENV a=bye b=$a`
    # gives b the old a (Dockerfile reference, ENV; buildah 1.28 does the same).
    ex = state.expander()
    env = list(state.container.env)
    for key, value in instruction.pairs:
        name, text = ex.word(key), ex.word(value)
        if not name:
            raise InvalidArgument("ENV names can not be blank")
        env = [*(e for e in env if e.partition("=")[0] != name), f"{name}={text}"]
    state.edit(env=tuple(env))


def _label(state: StageState, instruction: Label) -> None:
    ex = state.expander()
    labels = dict(state.container.labels)
    for key, value in instruction.pairs:
        labels[ex.word(key)] = ex.word(value)
    state.edit(labels=labels)


def workdir_path(state: StageState, path: str) -> str:
    """``path`` made absolute against the current WORKDIR (Dockerfile reference, WORKDIR)."""
    return posixpath.normpath(posixpath.join("/", state.container.working_dir or "/", path))


def _workdir(state: StageState, instruction: Workdir) -> None:
    path = workdir_path(state, state.expander().word(instruction.path))
    state.edit(working_dir=path)
    state.workdirs_to_make.append((path, state.container.user))


def _user(state: StageState, instruction: User) -> None:
    user = state.expander().word(instruction.user)
    if not user:
        raise InvalidArgument("USER needs a user")
    state.edit(user=user)


def _expose(state: StageState, instruction: Expose) -> None:
    from berth.image.changes import apply_changes

    words = [w for text in instruction.ports for w in _words(state, text)]
    if words:
        state.config = records.replace(
            state.config, config=apply_changes(state.container, [f"EXPOSE {' '.join(words)}"])
        )


def _volume(state: StageState, instruction: Volume) -> None:
    ex = state.expander()
    volumes = list(state.container.volumes)
    for path in instruction.paths:
        value = ex.word(path)
        if not value:
            raise InvalidArgument("VOLUME needs non-empty paths")
        if value not in volumes:
            volumes.append(value)
    state.edit(volumes=tuple(volumes))


def config_command(state: StageState, command: Command) -> tuple[str, ...]:
    """A CMD or ENTRYPOINT as the config holds it: the exec form's list, or SHELL plus the text."""
    return command.args if command.json else (*state.shell, command.args[0])


def _cmd(state: StageState, instruction: Cmd) -> None:
    state.edit(cmd=config_command(state, instruction.command))
    state.cmd_set = True


def _entrypoint(state: StageState, instruction: Entrypoint) -> None:
    # Dockerfile reference, ENTRYPOINT: a CMD from the base image is reset, one set here stays.
    if state.cmd_set:
        state.edit(entrypoint=config_command(state, instruction.command))
    else:
        state.edit(entrypoint=config_command(state, instruction.command), cmd=None)


def _healthcheck(state: StageState, instruction: Healthcheck) -> None:
    check: dict[str, object] = {"Test": list(instruction.test)}
    for key, value in (
        ("Interval", instruction.interval),
        ("Timeout", instruction.timeout),
        ("StartPeriod", instruction.start_period),
        ("StartInterval", instruction.start_interval),
        ("Retries", instruction.retries),
    ):
        if value:
            check[key] = value
    state.edit(healthcheck=check)


def _stopsignal(state: StageState, instruction: Stopsignal) -> None:
    from berth.image.changes import check_signal

    state.edit(stop_signal=check_signal(state.expander().word(instruction.signal)))


def _maintainer(state: StageState, instruction: Maintainer) -> None:
    state.config = records.replace(state.config, author=instruction.name)


def _onbuild(state: StageState, instruction: Onbuild) -> None:
    state.edit(on_build=(*state.container.on_build, instruction.text))


def _shell(state: StageState, instruction: Shell) -> None:
    state.edit(shell=instruction.args)


_CONFIG_HANDLERS: dict[type[Instruction], Callable[[StageState, Any], None]] = {
    Env: _env,
    Label: _label,
    Workdir: _workdir,
    User: _user,
    Expose: _expose,
    Volume: _volume,
    Cmd: _cmd,
    Entrypoint: _entrypoint,
    Healthcheck: _healthcheck,
    Stopsignal: _stopsignal,
    Maintainer: _maintainer,
    Onbuild: _onbuild,
    Shell: _shell,
}


def is_config_instruction(instruction: Instruction) -> bool:
    """Whether ``instruction`` only edits the config (no layer, ``empty_layer`` in history)."""
    return type(instruction) in _CONFIG_HANDLERS


def apply_config_instruction(state: StageState, instruction: Instruction) -> None:
    """Apply a config-only instruction to ``state``; ``InvalidArgument`` when its values are bad."""
    _CONFIG_HANDLERS[type(instruction)](state, instruction)
