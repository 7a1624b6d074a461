"""The Containerfile parser: directives, continuations, heredocs, forms, flags, stages, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.build.containerfile import parse_containerfile
from berth.build.errors import ContainerfileError
from berth.build.instructions import (
    Add,
    Arg,
    Cmd,
    Command,
    Copy,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Label,
    Onbuild,
    Run,
    Shell,
    Volume,
    go_duration,
)


def body(text: str) -> list[object]:
    """The instructions of the only stage of ``FROM scratch`` followed by ``text``."""
    (stage,) = parse_containerfile("FROM scratch\n" + text).stages
    return list(stage.instructions)


def error(text: str) -> str:
    with pytest.raises(ContainerfileError) as info:
        parse_containerfile(text)
    return str(info.value)


def test_stages_names_and_global_args() -> None:
    cf = parse_containerfile("ARG V=1\nFROM busybox:$V AS Build\nRUN true\nFROM build\nFROM scratch\n")
    assert [a.pairs for a in cf.global_args] == [(("V", "1"),)]
    assert [(s.index, s.name, s.base.image) for s in cf.stages] == [
        (0, "build", "busybox:$V"),
        (1, None, "build"),
        (2, None, "scratch"),
    ]
    assert cf.stage("BUILD") is cf.stages[0] and cf.stage("2") is cf.stages[2] and cf.stage("x") is None


def test_from_platform_flag() -> None:
    (stage,) = parse_containerfile("FROM --platform=$BUILDPLATFORM busybox\n").stages
    assert stage.base.platform == "$BUILDPLATFORM"


def test_directives_comments_and_continuations() -> None:
    text = "# syntax=docker/dockerfile:1\n# escape=`\n\nFROM scratch\nRUN echo a `\n# gone\n\n  b\n"
    cf = parse_containerfile(text)
    assert cf.escape == "`"
    (run,) = cf.stages[0].instructions
    assert isinstance(run, Run) and run.command == Command(False, ("echo a   b",))
    assert run.line.number == 5


def test_directive_after_a_comment_is_a_comment() -> None:
    assert parse_containerfile("# hello\n# escape=`\nFROM scratch\n").escape == "\\"
    assert parse_containerfile("# unknown=1\n# escape=`\nFROM scratch\n").escape == "\\"


def test_bad_directives() -> None:
    assert error("# escape=x\nFROM scratch\n") == "Containerfile:1: invalid escape token 'x': want \\ or `"
    assert "only one escape parser directive" in error("# escape=`\n# ESCAPE=\\\nFROM scratch\n")


def test_json_and_shell_forms() -> None:
    cmd, entry, run, shell = body(
        'CMD ["a", "b c"]\nENTRYPOINT [not json]\nRUN ["x"]\nSHELL ["/bin/ash", "-eo"]\n'
    )
    assert isinstance(cmd, Cmd) and cmd.command == Command(True, ("a", "b c"))
    assert isinstance(entry, Entrypoint) and entry.command == Command(False, ("[not json]",))
    assert isinstance(run, Run) and run.command.json
    assert isinstance(shell, Shell) and shell.args == ("/bin/ash", "-eo")


def test_env_label_arg_pairs_keep_quotes_for_the_expander() -> None:
    env, legacy, label, arg = body('ENV A=1 B="x y"\nENV OLD some value\nLABEL "k"=v\nARG X Y=2\n')
    assert isinstance(env, Env) and env.pairs == (("A", "1"), ("B", '"x y"'))
    assert isinstance(legacy, Env) and legacy.pairs == (("OLD", "some value"),)
    assert isinstance(label, Label) and label.pairs == (('"k"', "v"),)
    assert isinstance(arg, Arg) and arg.pairs == (("X", None), ("Y", "2"))


def test_copy_add_flags_and_forms() -> None:
    copy, add, as_json = body(
        "COPY --from=0 --chown=1:2 --chmod=0755 --link a b* /d/\n"
        "ADD --checksum=sha256:00 http://127.0.0.1/x /x\n"
        'COPY ["a b", "/c"]\n'
    )
    assert isinstance(copy, Copy) and not isinstance(copy, Add)
    assert (copy.sources, copy.dest, copy.from_stage, copy.chown, copy.chmod, copy.link) == (
        ("a", "b*"),
        "/d/",
        "0",
        "1:2",
        "0755",
        True,
    )
    assert isinstance(add, Add) and add.checksum == "sha256:00"
    assert isinstance(as_json, Copy) and as_json.sources == ("a b",)


def test_heredocs() -> None:
    run, copy, raw = body(
        "RUN <<EOF\necho $A\nEOF\nCOPY <<-A <<B /d/\n\tone\n\tA\ntwo\nB\nRUN <<'Q' python3\nprint('$X')\nQ\n"
    )
    assert isinstance(run, Run) and run.heredocs[0].content == "echo $A\n" and run.heredocs[0].expand
    assert isinstance(copy, Copy) and [(h.name, h.content, h.chomp) for h in copy.heredocs] == [
        ("A", "one\n", True),
        ("B", "two\n", False),
    ]
    assert isinstance(raw, Run) and not raw.heredocs[0].expand and raw.heredocs[0].content == "print('$X')\n"


def test_heredoc_words_inside_quotes_or_json_are_text() -> None:
    quoted, as_json = body('RUN echo "<<EOF"\nRUN ["<<EOF"]\n')
    assert isinstance(quoted, Run) and not quoted.heredocs
    assert isinstance(as_json, Run) and not as_json.heredocs


def test_run_mounts_and_network() -> None:
    (run,) = body(
        "RUN --mount=type=cache,target=/c,sharing=locked --mount=type=secret,id=tok "
        "--mount=type=bind,from=build,source=/o,target=/i,rw --network=none make\n"
    )
    assert isinstance(run, Run) and run.network == "none"
    cache, secret, bind = run.mounts
    assert (cache.type, cache.target, cache.sharing) == ("cache", "/c", "locked")
    assert (secret.type, secret.target, secret.id) == ("secret", "/run/secrets/tok", "tok")
    assert (bind.from_stage, bind.source, bind.readonly) == ("build", "/o", False)


def test_healthcheck() -> None:
    check, shell_check, none = body(
        'HEALTHCHECK --interval=1m30s --timeout=500ms --retries=2 CMD ["true"]\n'
        "HEALTHCHECK CMD wget -q x\nHEALTHCHECK NONE\n"
    )
    assert isinstance(check, Healthcheck)
    assert (check.test, check.interval, check.timeout, check.retries) == (
        ("CMD", "true"),
        90 * 10**9,
        5 * 10**8,
        2,
    )
    assert isinstance(shell_check, Healthcheck) and shell_check.test == ("CMD-SHELL", "wget -q x")
    assert isinstance(none, Healthcheck) and none.test == ("NONE",)


def test_onbuild_expose_volume() -> None:
    onbuild, expose, volume, volumes = body(
        'ONBUILD COPY . /app\nEXPOSE 80 53/udp\nVOLUME ["/a"]\nVOLUME /b /c\n'
    )
    assert (
        isinstance(onbuild, Onbuild) and onbuild.text == "COPY . /app" and isinstance(onbuild.trigger, Copy)
    )
    assert isinstance(expose, Expose) and expose.ports == ("80", "53/udp")
    assert isinstance(volume, Volume) and volume.paths == ("/a",)
    assert isinstance(volumes, Volume) and volumes.paths == ("/b", "/c")


def test_go_durations() -> None:
    assert go_duration("0") == 0
    assert go_duration("1h2m3.5s") == (3723 * 10**9 + 5 * 10**8)
    assert go_duration("250us") == 250_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM scratch\nRUN true\n\nRUNN x\n", 'Containerfile:4: unknown instruction "RUNN"'),
        ("FROM scratch\nCOPY --frm=a b c\n", "Containerfile:2: unknown flag --frm for COPY"),
        ("FROM scratch\nADD --from=a b c\n", "Containerfile:2: unknown flag --from for ADD"),
        ("FROM scratch\nRUN <<EOF\necho\n", "Containerfile:2: unterminated heredoc 'EOF'"),
        ("FROM scratch\nCOPY a\n", "Containerfile:2: COPY needs at least one source and a destination"),
        (
            "FROM scratch\nCOPY --chmod=999 a b\n",
            "Containerfile:2: --chmod=999: want an octal mode such as 755",
        ),
        (
            "FROM scratch\nRUN --network=wifi x\n",
            "Containerfile:2: RUN --network=wifi: want one of default, none, host, bridge",
        ),
        (
            "FROM scratch\nRUN --mount=type=nfs,target=/x x\n",
            "Containerfile:2: RUN --mount: unsupported type 'nfs': want one of bind, cache, tmpfs, secret",
        ),
        (
            "FROM scratch\nRUN --mount=type=cache x\n",
            "Containerfile:2: RUN --mount: type=cache needs target=",
        ),
        (
            "FROM scratch\nHEALTHCHECK --interval=1 CMD x\n",
            "Containerfile:2: invalid duration '1': want e.g. 30s, 1m30s",
        ),
        (
            "FROM scratch\nHEALTHCHECK --timeout=1us CMD x\n",
            "Containerfile:2: HEALTHCHECK --timeout must be at least 1ms",
        ),
        ("FROM scratch\nONBUILD FROM x\n", "Containerfile:2: FROM is not allowed as an ONBUILD trigger"),
        ("FROM scratch\nSHELL sh -c\n", 'Containerfile:2: SHELL needs a JSON array, e.g. ["/bin/sh", "-c"]'),
        ("FROM scratch\nENV A\n", "Containerfile:2: ENV A needs a value (KEY=VALUE or KEY VALUE)"),
        ("FROM scratch\nLABEL a=1 b\n", "Containerfile:2: LABEL: want KEY=VALUE, not 'b'"),
        ("FROM a b\n", "Containerfile:1: FROM needs IMAGE [AS NAME]"),
        (
            "FROM a AS 1x\n",
            "Containerfile:1: invalid stage name '1x': want a letter, then letters, digits, -_.",
        ),
        ("FROM a AS x\nFROM b AS X\n", "Containerfile:2: duplicate stage name 'x'"),
        ("ARG A\nRUN true\nFROM a\n", "Containerfile:2: RUN before the first FROM (only ARG may come first)"),
        (
            "# only a comment\n",
            "Containerfile:1: no FROM instruction: a Containerfile needs at least one stage",
        ),
        ("FROM scratch\nWORKDIR\n", "Containerfile:2: WORKDIR needs an argument"),
    ],
)
def test_errors_name_file_and_line(text: str, message: str) -> None:
    assert error(text) == message


def test_error_is_an_engine_error_of_the_cli() -> None:
    from berth.errors import BerthError

    with pytest.raises(BerthError):
        parse_containerfile("FROM scratch\nNOPE\n", "dir/Dockerfile")


_PIECES = st.sampled_from(
    ["FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "LABEL", "HEALTHCHECK", "ONBUILD", "SHELL", "VOLUME",
     "EXPOSE", "CMD", "AS", "scratch", " ", "\t", "\n", "\\", "`", "#", "=", "--", "--mount=", "<<", "<<-",
     "EOF", "'", '"', "[", "]", ",", "$", "{", "}", ":-", "type=cache", "escape", "syntax"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=40))
def test_random_text_raises_only_the_parse_error(pieces: list[str]) -> None:
    try:
        parse_containerfile("".join(pieces))
    except ContainerfileError as err:
        assert str(err).startswith("Containerfile:") and "\n" not in str(err)
