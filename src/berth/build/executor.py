"""Runs a parsed Containerfile: each stage a chain of snapshots, each tree step one layer.

A stage starts from ``scratch``, an earlier stage or an image (in the store, or pulled). Config
instructions edit the stage's config and add an ``empty_layer`` history entry; COPY, ADD and RUN
work in a writable root prepared on the stage's snapshot chain, whose changes become one layer
(written through the content store's verifying ingest, then unpacked as the next snapshot). Only
the stages the target needs are built. The target's image is stored under each tag.

    stored = Builder(engine, images, BuildOptions(containerfile=cf, context=ctx, tags=["app"])).build()
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import posixpath
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from berth.build.add import fetch, is_archive, is_url, unpack_archive, url_name
from berth.build.cache import CachedLayer, LayerCache, state_id, step_key, tree_digest
from berth.build.containerfile import Containerfile, Stage
from berth.build.context import BuildContext
from berth.build.copier import (
    Owner,
    copy_paths,
    make_parents,
    parse_chown,
    user_owner,
    write_file,
)
from berth.build.errors import ContainerfileError, RunFailed
from berth.build.expand import Expander
from berth.build.ignore import IgnoreRules
from berth.build.instructions import Add, Arg, Copy, From, Instruction, Run, Workdir, parse_instruction
from berth.build.lines import Line, heredoc_specs, split_keyword
from berth.build.state import (
    DEFAULT_PATH,
    StageState,
    apply_config_instruction,
    declare_args,
    is_config_instruction,
    workdir_path,
)
from berth.engine.engine import Engine
from berth.engine.images.store import hold_chains, owned_root_key, release_chains
from berth.errors import BerthError, InvalidArgument, NotFound
from berth.image.catalog import local_name
from berth.image.images import ImageStore
from berth.image.importer import (
    StoredImage,
    now_rfc3339,
    record_image,
    store_image,
    store_lease,
    write_layer_blob,
)
from berth.image.snapshots import chain_ids
from berth.spec import mediatypes, records
from berth.spec.descriptor import Descriptor
from berth.spec.digest import Digest
from berth.spec.image_config import ImageConfig
from berth.spec.platform import host

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.engine.containers.attach import OutputSink


@dataclass
class BuildOptions:
    """What ``berth build`` was asked for (the CLI's flags, parsed)."""

    containerfile: Containerfile
    context: BuildContext
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    pull: str = "missing"
    tls_verify: bool | None = None
    network: str = ""
    #: ``--add-host HOST:IP``: extra /etc/hosts lines for RUN
    add_hosts: list[str] = field(default_factory=list)
    docker_format: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    #: ``--annotation``: the manifest's annotations.
    annotations: dict[str, str] = field(default_factory=dict)
    #: ``--squash``: the target stage's steps make one layer (the cache is not used for them).
    squash: bool = False
    #: ``--no-cache``: run every step (finished steps are still recorded for later builds).
    no_cache: bool = False
    #: ``--layers=false``: neither read nor write the layer cache.
    layers: bool = True
    #: ``--secret`` id -> value, for ``RUN --mount=type=secret``.
    secrets: dict[str, bytes] = field(default_factory=dict)
    #: ``-q``: RUN's output is not shown.
    quiet: bool = False
    #: Where the build's temporary files go (default: the system's temporary directory); the CLI
    #: gives one named after its process, so a killed build's are swept (``owned_scratch``).
    scratch: Path | None = None
    progress: Callable[[str], None] = lambda _line: None
    #: Warnings (shown even with ``-q``), e.g. config fields the OCI format can not hold.
    warn: Callable[[str], None] = lambda _line: None
    #: Where RUN's output goes (the Docker API's build stream); ``None``: this process's stdout
    #: and stderr.
    output: OutputSink | None = None


def builtin_args() -> dict[str, str]:
    """The platform ARGs every build defines (Dockerfile reference, "Automatic platform ARGs")."""
    plat = host()
    text = f"{plat.os}/{plat.architecture}" + (f"/{plat.variant}" if plat.variant else "")
    values = {}
    for prefix in ("TARGET", "BUILD"):
        values.update(
            {
                f"{prefix}PLATFORM": text,
                f"{prefix}OS": plat.os,
                f"{prefix}ARCH": plat.architecture,
                f"{prefix}VARIANT": plat.variant,
            }
        )
    return values


class Builder:
    """One build: the stages the target needs, in order, then the stored image."""

    def __init__(self, engine: Engine, images: ImageStore, opts: BuildOptions) -> None:
        from berth.engine.images.store import snapshotter

        self.engine = engine
        self.images = images
        self.opts = opts
        self.cf = opts.containerfile
        self.snaps = snapshotter(engine.config)
        self.cache = LayerCache(engine.config.root, images.content)
        self.given = {**builtin_args(), **opts.build_args}
        self.global_args: dict[str, str] = {}
        self.built: dict[int, StageState] = {}
        self.step = 0
        self.line = 0  # the line of the step running (for an interrupt's message)
        #: With --squash, the target stage's one writable root, and its last tree step's history.
        self.squash_root: Path | None = None
        self.squash_last: int | None = None
        #: The key under which this build holds its stages' snapshots against a prune.
        self.hold_key = owned_root_key("build-held")

    def build(self) -> StoredImage:
        """Build the target (the last stage unless ``--target``) and store it under each tag."""
        from berth.engine.containers.owned import sweep_dead_owners

        sweep_dead_owners(self.engine)  # what killed builds left: containers, roots, holds, scratch
        target = self._target()
        needed = self._needed(target)
        for arg in self.cf.global_args:
            self._in_line(arg, functools.partial(self._declare_global, arg))
        self.total = sum(1 + len(s.instructions) for s in self.cf.stages if s.index in needed)
        try:
            with store_lease(self.images) as lease:
                self.lease = lease
                for stage in self.cf.stages:
                    if stage.index in needed:
                        squash = self.opts.squash and stage is target
                        self.built[stage.index] = self._stage(stage, squash)
                return self._store(self.built[target.index])
        except KeyboardInterrupt:
            # SIGINT: the steps' own cleanup has run on the way here; say where it stopped.
            raise ContainerfileError(self.cf.filename, self.line, "build interrupted") from None
        finally:
            release_chains(self.engine.config, self.hold_key)

    def _declare_global(self, arg: Arg) -> None:
        """A global ARG: only FROM lines (and stages' ARGs of the same name) see it."""
        declare_args(self.global_args, self.given, arg, Expander(self.global_args, self.cf.escape))

    def _target(self) -> Stage:
        if self.opts.target is None:
            return self.cf.stages[-1]
        stage = self.cf.stage(self.opts.target)
        if stage is None:
            raise InvalidArgument(f"--target {self.opts.target}: no such stage in {self.cf.filename}")
        return stage

    def _needed(self, target: Stage) -> set[int]:
        """The indexes of ``target`` and the stages it reads from (FROM, COPY --from, mounts)."""
        needed, todo = set(), [target]
        while todo:
            stage = todo.pop()
            if stage.index in needed:
                continue
            needed.add(stage.index)
            refs = [stage.base.image]
            for ins in stage.instructions:
                if isinstance(ins, Copy) and ins.from_stage:
                    refs.append(ins.from_stage)
                if isinstance(ins, Run):
                    refs.extend(m.from_stage for m in ins.mounts if m.from_stage)
            for ref in refs:
                found = self.cf.stage(ref)
                if found is not None and found.index < stage.index:
                    todo.append(found)
        return needed

    def _in_line(self, ins: Instruction, action: Callable[[], object]) -> None:
        """Run ``action``; a BerthError it raises is reported at ``ins``'s line."""
        try:
            action()
        except ContainerfileError:
            raise
        except BerthError as err:
            run = err if isinstance(err, RunFailed) else None
            raise ContainerfileError(self.cf.filename, ins.line.number, str(err), run) from None

    def _announce(self, ins: Instruction) -> None:
        self.line = ins.line.number
        self.step += 1
        self.opts.progress(f"STEP {self.step}/{self.total}: {ins.line.original}")

    # -- stages ---------------------------------------------------------------------------

    def _stage(self, stage: Stage, squash: bool) -> StageState:
        self._announce(stage.base)
        state = self._base(stage.base)
        # Dockerfile reference, ONBUILD: the base's triggers run first, and are not inherited.
        triggers = [self._trigger(stage.base, text) for text in state.container.on_build]
        state.edit(on_build=())
        with self._squashed(state) if squash else contextlib.nullcontext():
            for ins in triggers:
                self._instruction(state, ins)
            # WORKDIRs after the last tree step make their directories in a layer of their own.
            last_tree = max((i for i, ins in enumerate(stage.instructions) if _is_tree_step(ins)), default=-1)
            last_workdir = max(
                (i for i, ins in enumerate(stage.instructions) if isinstance(ins, Workdir)), default=-1
            )
            for index, ins in enumerate(stage.instructions):
                self._announce(ins)
                if index == last_workdir > last_tree:
                    self._workdir_step(state, ins)
                else:
                    self._instruction(state, ins)
        return state

    @contextlib.contextmanager
    def _squashed(self, state: StageState) -> Iterator[None]:
        """``--squash``: the stage's steps work in one writable root on its base, whose changes
        become one layer at the end (the base's layers stay as they are, as in buildah)."""
        key = owned_root_key("build")
        self.squash_root = self.snaps.prepare(key, state.chain).rootfs
        try:
            yield
            if self.squash_last is not None:
                layer, diff_id = write_layer_blob(
                    self.images, self.lease, lambda out: self.snaps.diff(key, out)
                )
        finally:
            self.squash_root = None
            self.snaps.release(key)
        if self.squash_last is not None:
            self._add_layer(state, CachedLayer(layer, diff_id, "", ""), history=False)
            # The layer's history entry is that of the last step that changed the tree.
            history = list(state.config.history)
            history[self.squash_last] = records.replace(history[self.squash_last], empty_layer=False)
            state.config = records.replace(state.config, history=tuple(history))

    def _trigger(self, base: From, text: str) -> Instruction:
        keyword, rest = split_keyword(text.strip())
        return parse_instruction(
            Line(base.line.number, keyword.upper(), rest, escape=self.cf.escape), self.cf.filename
        )

    def _new_state(self, config: ImageConfig, layers: list[Descriptor], chain: Digest | None) -> StageState:
        state = StageState(config, layers, chain, given_args=self.given, escape=self.cf.escape)
        # buildah 1.28 (and BuildKit): a base without PATH gets the default one in its ENV.
        if "PATH" not in state.env():
            state.edit(env=(*state.container.env, f"PATH={DEFAULT_PATH}"))
        return state

    def _base(self, base: From) -> StageState:
        ref = Expander(self.global_args, self.cf.escape).word(base.image)
        earlier = self.cf.stage(ref)
        if earlier is not None and earlier.index in self.built:
            done = self.built[earlier.index]
            return self._new_state(done.config, list(done.layers), done.chain)
        if ref == "scratch":
            plat = host()
            config = ImageConfig(
                architecture=plat.architecture, os=plat.os, variant=plat.variant, diff_ids=()
            )
            return self._new_state(config, [], None)
        return self._image(base, ref)

    def _image(self, base: From, ref: str) -> StageState:
        from berth.engine.images.pull import local_names, pull_image
        from berth.engine.images.store import unpack_layers
        from berth.image.catalog import resolve_first

        try:
            if self.opts.pull == "always":
                raise NotFound(ref)
            resolved = resolve_first(self.images, local_names(ref))
        except NotFound:
            if self.opts.pull == "never":
                raise ContainerfileError(
                    self.cf.filename, base.line.number, f"image {ref} not found"
                ) from None
            self.opts.progress(f"Trying to pull {ref}...")  # buildah's line
            name = pull_image(self.engine.config, ref, self.opts.tls_verify)
            resolved = self.images.resolve(name)
        chain = unpack_layers(self.images, self.snaps, resolved, ref)
        return self._new_state(resolved.config, list(resolved.manifest.layers), chain)

    # -- instructions ---------------------------------------------------------------------

    def _instruction(self, state: StageState, ins: Instruction) -> None:
        if isinstance(ins, Arg):
            # A stage's ARG without a default takes a global one of the same name.
            given = {**self.global_args, **self.given}
            self._in_line(ins, lambda: declare_args(state.args, given, ins, state.expander()))
        elif is_config_instruction(ins):
            self._in_line(ins, lambda: apply_config_instruction(state, ins))
            state.add_history(_nop(ins), now_rfc3339(), empty_layer=True)
        elif isinstance(ins, Run):
            # A RUN sees every ARG in scope in its environment, so all of them key it (as
            # buildah's history line `|N K=V ...` does).
            self._in_line(ins, lambda: self._run_step(state, ins))
        elif isinstance(ins, Copy):
            self._in_line(ins, lambda: self._copy_step(state, ins))
        else:  # the parser makes no other kind
            raise ContainerfileError(
                self.cf.filename, ins.line.number, f"{ins.line.instruction} is not supported"
            )

    def _workdir_step(self, state: StageState, ins: Instruction) -> None:
        """A WORKDIR no tree step follows: a step of its own, whose layer holds the directories."""
        self._in_line(ins, lambda: apply_config_instruction(state, ins))
        self._in_line(ins, lambda: self._tree_step(state, ins, lambda _root: _nop(ins), {}))

    def _tree_step(
        self,
        state: StageState,
        ins: Instruction,
        work: Callable[[Path], str],
        uses: Mapping[str, str | None],
        sources: str = "",
    ) -> None:
        """Take the step's layer from the cache, or run ``work`` in a writable root on the stage's
        chain and commit what it changed as a layer (then cache it). With ``--squash`` ``work``
        runs in the stage's one root and the step has no layer of its own."""
        work = functools.partial(_after_workdirs, state, work)
        if self.squash_root is not None:
            state.add_history(work(self.squash_root), now_rfc3339(), empty_layer=True)
            self.squash_last = len(state.config.history) - 1
            state.workdirs_to_make.clear()
            return
        key = step_key(state_id(state), _text(ins), uses, sources) if self.opts.layers else None
        hit = self._cached(key) if key is not None and not self.opts.no_cache else None
        if hit is not None:
            self.opts.progress("--> Using cache")
        made = hit or self._commit_step(state, work)
        state.workdirs_to_make.clear()  # in the layer, now
        self._add_layer(state, made)
        if hit is None and key is not None:
            self.cache.put(key, made)

    def _commit_step(self, state: StageState, work: Callable[[Path], str]) -> CachedLayer:
        """Run ``work`` in a writable root on the stage's chain; what it changed, as a layer."""
        snap = owned_root_key("build")
        active = self.snaps.prepare(snap, state.chain)
        try:
            created_by = work(active.rootfs)
            layer, diff_id = write_layer_blob(self.images, self.lease, lambda out: self.snaps.diff(snap, out))
        finally:
            self.snaps.release(snap)
        return CachedLayer(layer, diff_id, created_by, now_rfc3339())

    def _add_layer(self, state: StageState, made: CachedLayer, history: bool = True) -> None:
        """Unpack ``made``'s layer as the stage's next snapshot; add it to the config (and its
        history entry, unless not ``history``)."""
        layer = made.layer
        if self.opts.docker_format:
            layer = records.replace(layer, media_type=mediatypes.DOCKER_LAYER_GZIP)
        # Held before it exists, so no prune removes it before the image is stored.
        next_chain = chain_ids([*state.config.diff_ids, made.diff_id])[-1]
        held = [s.chain for s in (*self.built.values(), state) if s.chain is not None]
        hold_chains(self.engine.config, self.hold_key, [*held, next_chain])
        with self.images.content.open(layer.digest) as blob:
            state.chain = self.snaps.unpack(
                blob, state.chain, media_type=layer.media_type, diff_id=made.diff_id
            ).chain_id
        state.layers.append(layer)
        state.config = records.replace(state.config, diff_ids=(*state.config.diff_ids, made.diff_id))
        if history:
            state.add_history(made.created_by, made.created, empty_layer=False)

    def _cached(self, key: str) -> CachedLayer | None:
        """The cache's entry for ``key``, its blob then held by this build's lease too (checked
        again once held, so a concurrent prune can not free it before the image is stored)."""
        hit = self.cache.get(key)
        if hit is None:
            return None
        self.images.content.lease_content(self.lease.id, hit.layer.digest)
        return hit if self.images.content.exists(hit.layer.digest) else None

    def _run_step(self, state: StageState, ins: Run) -> None:
        """RUN, keyed by every ARG in scope (all are in its environment, as buildah's history line
        `|N K=V ...` has them) and by what its bind mounts show it."""
        ex = state.expander()
        ins = _expand_mounts(ins, ex)
        binds = [
            f"from {self._chain_of(m.from_stage, ins)} {m.source}"
            if m.from_stage
            else tree_digest(*_walk_all(self.opts.context, m.source or "."))
            for m in ins.mounts
            if m.type == "bind"
        ]
        self._tree_step(state, ins, lambda root: self._run(state, ins, root), state.args, " ".join(binds))

    def _run(self, state: StageState, ins: Run, root: Path) -> str:
        from berth.build.run_mounts import MountSources, run_mounts
        from berth.build.runner import run_in_root, shell_command

        argv = shell_command(state, ins)
        workdir = state.container.working_dir or "/"
        # buildah 1.28: a RUN makes the WORKDIR (as the USER) and the VOLUMEs (root's, 0755).
        make_parents(root, workdir, user_owner(root, state.container.user))
        for volume in state.container.volumes:
            make_parents(root, volume, Owner(0, 0))
        sources = MountSources(
            self.opts.context, self.engine.config.root, self.opts.secrets, self._from_root, self.opts.scratch
        )
        with run_mounts(ins.mounts, sources, workdir, root, state.container.volumes) as made:
            code = run_in_root(
                self.engine,
                root,
                argv,
                state,
                ins.network or self.opts.network,
                made.volumes,
                made.tmpfs,
                made.targets,
                quiet=self.opts.quiet,
                output=self.opts.output,
                add_hosts=self.opts.add_hosts,
            )
        if code != 0:
            raise RunFailed(code, ins.line.original, argv)
        prefix = (
            ""
            if not state.args
            else f"|{len(state.args)} " + " ".join(f"{k}={v}" for k, v in state.args.items()) + " "
        )
        return prefix + " ".join(argv)

    def _copy_step(self, state: StageState, ins: Copy) -> None:
        """COPY or ADD, keyed by the ARGs its words use and the digest of what it copies (a URL's
        file is fetched first, so its content keys the step as a context file's does)."""
        ex = state.expander()
        words = [ex.word(w) for w in ins.sources if not w.startswith("<<")]
        for text in (ins.dest, ins.chown or "", ins.chmod or ""):
            ex.word(text)
        for doc in ins.heredocs:
            if doc.expand:
                ex.word(doc.content)
        uses = {name: ex.variables.get(name) for name in sorted(ex.used)}
        urls = [w for w in words if isinstance(ins, Add) and is_url(w)]
        with tempfile.TemporaryDirectory(prefix="berth-build-add-", dir=self.opts.scratch) as scratch:
            checksum = ins.checksum if isinstance(ins, Add) and ins.checksum else None
            fetched = {url: fetch(url, Path(scratch), checksum and ex.word(checksum)) for url in urls}
            if ins.from_stage:
                sources = f"from {self._chain_of(ins.from_stage, ins)} {words}"
            else:
                ctx = self.opts.context
                local = [w for w in words if w not in fetched]
                paths = [p for w in local for rel in ctx.resolve(w) for p in ctx.walk(ctx.follow(rel))]
                sources = tree_digest(ctx.root, paths) + tree_digest(
                    Path(scratch), sorted(os.listdir(scratch))
                )
            work = functools.partial(self._copy, state, ins, fetched=fetched)
            self._tree_step(state, ins, work, uses, sources)

    def _copy(self, state: StageState, ins: Copy, root: Path, fetched: Mapping[str, Path]) -> str:
        ex = state.expander()
        written = ex.word(ins.dest)
        # Dockerfile reference, COPY: a relative destination is relative to WORKDIR; a trailing
        # slash (also `.`) means "into this directory".
        dest = workdir_path(state, written)
        if written.endswith(("/", "/.")) or written == ".":
            dest = dest.rstrip("/") + "/"
        owner = parse_chown(ex.word(ins.chown), root) if ins.chown else Owner(0, 0)
        chmod = int(ex.word(ins.chmod), 8) if ins.chmod else None
        heredocs = {h.name: h for h in ins.heredocs}
        unpack = isinstance(ins, Add) and not ins.from_stage
        with self._source(ins) as source:
            files = []
            for word in ins.sources:
                if word.startswith("<<"):
                    ((name, *_),) = heredoc_specs(word, self.cf.escape)
                    doc = heredocs[name]
                    content = ex.word(doc.content) if doc.expand else doc.content
                    target = dest if not dest.endswith("/") else posixpath.join(dest, doc.name)
                    write_file(root, target, content.encode(), owner, chmod or 0o644)
                    continue
                expanded = ex.word(word)
                if expanded in fetched:
                    # Dockerfile reference, ADD: a URL's file is 0600 unless --chmod says.
                    os.chmod(fetched[expanded], 0o600)
                    files.append((fetched[expanded], url_name(expanded)))
                    continue
                for rel in source.resolve(expanded):
                    path = source.root / source.follow(rel)
                    if unpack and is_archive(path):
                        unpack_archive(path, make_parents(root, dest, owner))
                    else:
                        files.append((path, rel))
            if files:
                skip = None if ins.from_stage else _skipper(source)
                copy_paths(root, files, dest, owner, chmod, skip)
        # buildah 1.28: a COPY or ADD makes the WORKDIR too (as the USER), if nothing made it.
        make_parents(root, state.container.working_dir or "/", user_owner(root, state.container.user))
        what = "ADD" if isinstance(ins, Add) else "COPY"
        return f"/bin/sh -c #(nop) {what} {' '.join(ins.sources)} {dest}"

    @contextlib.contextmanager
    def _source(self, ins: Copy) -> Iterator[BuildContext]:
        """Where ``ins`` reads: the context, or the root of a stage or image (``--from``)."""
        if not ins.from_stage:
            yield self.opts.context
            return
        with self._from_root(ins.from_stage, ins) as root:
            yield BuildContext(root, IgnoreRules([]))

    @contextlib.contextmanager
    def _from_root(self, name: str, ins: Instruction | None = None) -> Iterator[Path]:
        """A root of the stage or image ``name`` (``--from``, ``from=``) for the ``with`` block."""
        key = owned_root_key("build-from")
        active = self.snaps.prepare(key, self._chain_of(name, ins))
        try:
            yield active.rootfs
        finally:
            self.snaps.release(key)

    def _chain_of(self, name: str, ins: Instruction | None) -> Digest | None:
        """The snapshot chain of the stage or image ``name`` that ``ins`` reads from."""
        stage = self.cf.stage(name)
        if stage is not None and stage.index in self.built:
            return self.built[stage.index].chain
        if stage is not None:
            raise InvalidArgument(f"--from={name}: the stage is not built before this one")
        line = ins.line if ins is not None else self.cf.stages[0].base.line
        # A FROM standing for it, so the image is found (or pulled) as FROM finds it.
        return self._image(From(line, name), name).chain

    # -- the result -----------------------------------------------------------------------

    def _store(self, state: StageState) -> StoredImage:
        config = state.config if self.opts.docker_format else self._oci_config(state.config)
        if self.opts.labels:
            labels = {**config.config.labels, **self.opts.labels}
            config = records.replace(config, config=records.replace(config.config, labels=labels))
        config = records.replace(config, created=now_rfc3339())
        names = [local_name(tag) for tag in self.opts.tags]
        stored = store_image(
            self.images,
            self.lease,
            config,
            state.layers,
            names[0] if names else None,
            docker=self.opts.docker_format,
            annotations=self.opts.annotations,
        )
        for name in names[1:]:
            record_image(self.images, name, stored.manifest)
        return stored

    def _oci_config(self, config: ImageConfig) -> ImageConfig:
        """``config`` without what the OCI image config has no field for (image-spec config.md
        lists none for them): buildah 1.28 drops HEALTHCHECK, ONBUILD and SHELL with a warning."""
        inner = config.config
        dropped = {
            "HEALTHCHECK": inner.healthcheck,
            "ONBUILD": inner.on_build,
            "SHELL": inner.shell,
        }
        for name, value in dropped.items():
            if value:
                self.opts.warn(
                    f"{name} is not supported by the OCI image format and is left out; use --format docker"
                )
        return records.replace(config, config=records.replace(inner, healthcheck=None, on_build=(), shell=()))


def _expand_mounts(ins: Run, ex: Expander) -> Run:
    """``ins`` with its mounts' targets, sources, stages and ids substituted (ARG and ENV)."""

    def expand(text: str | None) -> str | None:
        return None if text is None else ex.word(text)

    mounts = tuple(
        dataclasses.replace(
            m,
            target=ex.word(m.target),
            source=expand(m.source),
            from_stage=expand(m.from_stage),
            id=expand(m.id),
        )
        for m in ins.mounts
    )
    return dataclasses.replace(ins, mounts=mounts)


def _walk_all(ctx: BuildContext, source: str) -> tuple[Path, list[str]]:
    """The context and every path under ``source`` in it (a bind mount shows them all)."""
    top = ctx.confine(source)
    paths = [top]
    for parent, dirs, files in os.walk(ctx.root / top):
        dirs.sort()
        rel = os.path.relpath(parent, ctx.root)
        paths += [os.path.normpath(os.path.join(rel, name)) for name in sorted(dirs + files)]
    return ctx.root, paths


def _is_tree_step(ins: Instruction) -> bool:
    return isinstance(ins, (Run, Copy))  # ADD is a Copy


def _after_workdirs(state: StageState, work: Callable[[Path], str], root: Path) -> str:
    """``work`` in ``root``, after making the directories of the WORKDIRs since the last tree
    step (0755, each owned by the USER of its moment, as buildah 1.28 makes them)."""
    for path, user in state.workdirs_to_make:
        make_parents(root, path, user_owner(root, user))
    return work(root)


def _skipper(ctx: BuildContext) -> Callable[[Path], bool]:
    def skip(path: Path) -> bool:
        return ctx.ignore.excludes(os.path.relpath(path, ctx.root))

    return skip


def _text(ins: Instruction) -> str:
    """The instruction as written, heredocs included (all of it is the cache key's)."""
    docs = getattr(ins, "heredocs", ())
    return ins.line.original + "".join(f"\n{doc.content}{doc.name}" for doc in docs)


def _nop(ins: Instruction) -> str:
    """A config instruction's history ``created_by``, as buildah writes it."""
    return f"/bin/sh -c #(nop) {ins.line.original}"
