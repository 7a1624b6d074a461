"""``berth.image.catalog``: images grouped by target, looked up by name or ID prefix, filtered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.errors import InvalidArgument, NotFound
from berth.image.catalog import check_filter, find_image, history, list_images, matches, needed_chain_ids
from berth.image.images import ImageStore
from berth.image.importer import import_image, record_image
from berth.image.snapshots import chain_ids


@pytest.fixture
def images(tmp_path: Path) -> Iterator[ImageStore]:
    store = ImageStore(tmp_path / "store")
    yield store
    store.close()


def _tree(root: Path, content: str) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/f").write_text(content)
    return root


def test_grouping_lookup_and_filters(images: ImageStore, tmp_path: Path) -> None:
    a = import_image(images, _tree(tmp_path / "a", "a"), "app:1", changes=["LABEL tier=web"], message="hi")
    record_image(images, "quay.io/x/app:2", a.manifest)
    b = import_image(images, _tree(tmp_path / "b", "b"))  # untagged
    listed = list_images(images)
    assert len(listed) == 2
    first, _ = find_image(images, "app:1")
    assert first.id == a.image_id and sorted(first.names) == ["localhost/app:1", "quay.io/x/app:2"]
    assert first.repo_digests == sorted(
        f"{r}@{a.manifest.digest}" for r in ("localhost/app", "quay.io/x/app")
    )
    assert first.labels == {"tier": "web"} and first.size > 0 and first.created > 0
    by_id, record = find_image(images, f"sha256:{b.image_id[:5]}")
    assert record is None and by_id.names == [] and matches(by_id, "dangling=true")
    assert matches(first, "reference=app") and matches(first, "reference=quay.io/*")
    assert matches(first, "reference=app:2")  # quay.io/x/app:2 by its last component, as podman
    assert matches(first, "label=tier=web") and not matches(first, "label=tier=db")
    with pytest.raises(NotFound, match="image not known"):
        find_image(images, "nope:1")
    for bad in ("dangling", "dangling=maybe", "since=x"):
        with pytest.raises(InvalidArgument, match="invalid filter"):
            check_filter(bad)
    assert first.resolved is not None
    (row,) = history(first.resolved)
    assert (row.id, row.comment, row.size) == (a.image_id, "hi", first.resolved.manifest.layers[0].size)
    needed = needed_chain_ids(listed)
    assert set(chain_ids(first.resolved.config.diff_ids)) <= needed and len(needed) == 2
