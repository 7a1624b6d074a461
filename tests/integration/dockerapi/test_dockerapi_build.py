"""``POST /build``: a tar context built by Berth's builder, answered with dockerd's build stream."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any
from urllib.parse import urlencode

from tests.integration.dockerapi.client import DockerAPI
from tests.integration.dockerapi.conftest import IMAGE, api, berth, busybox_root, service
from tests.integration.engine_cli.conftest import Berth

__all__ = ["api", "berth", "busybox_root", "service"]


def _context(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


def _build(api: DockerAPI, body: bytes, **params: Any) -> tuple[int, list[dict[str, Any]]]:
    query = urlencode([(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])])
    tar = {"Content-Type": "application/x-tar"}
    answer = api.request("POST", f"/v1.41/build?{query}", raw=body, headers=tar)
    if answer.status != 200:
        return answer.status, [answer.json()]
    return 200, [json.loads(line) for line in answer.body.splitlines() if line.strip()]


def test_build_tags_labels_args_and_streams_output(api: DockerAPI, berth: Berth) -> None:
    dockerfile = "\n".join(
        [
            f"FROM {IMAGE}",
            "ARG GREETING=bye",
            "COPY hello.txt /hello.txt",
            "RUN echo out:$GREETING && echo err >&2",
            "LABEL from=file",
        ]
    )
    body = _context({"Dockerfile": dockerfile, "hello.txt": "hi\n"})
    status, lines = _build(
        api, body, t=["made:1", "made:2"], buildargs=json.dumps({"GREETING": "hello"}),
        labels=json.dumps({"from": "query"}), networkmode="none",
    )  # fmt: skip
    assert status == 200
    streams = [line.get("stream", "") for line in lines]
    assert any(s.startswith("STEP 1/5: FROM") for s in streams)
    assert "out:hello\n" in streams
    assert "\x1b[91merr\n\x1b[0m" in streams  # stderr marked red, as dockerd does
    image_id = next(line["aux"]["ID"] for line in lines if "aux" in line)
    assert streams[-3:] == [f"Successfully built {image_id[7:19]}\n", "Successfully tagged made:1\n",
                            "Successfully tagged made:2\n"]  # fmt: skip
    inspected = api.get("/images/made:2/json").json()
    assert inspected["Id"] == image_id
    assert inspected["Config"]["Labels"] == {"from": "query"}
    assert berth("run", "--rm", "--network", "none", "localhost/made:1", "cat", "/hello.txt").stdout == "hi\n"


def test_quiet_gzip_context_and_dockerfile_name(api: DockerAPI) -> None:
    body = gzip.compress(_context({"sub/Build.file": f"FROM {IMAGE}\nRUN echo noisy\n"}))
    status, lines = _build(api, body, q="1", dockerfile="sub/Build.file", networkmode="none")
    assert status == 200
    assert [line["stream"] for line in lines if "stream" in line] == [lines[0]["aux"]["ID"] + "\n"]


def test_failing_run_is_an_error_line_with_its_code(api: DockerAPI) -> None:
    body = _context({"Dockerfile": f"FROM {IMAGE}\nRUN exit 3\n"})
    status, lines = _build(api, body, t="never", networkmode="none")
    assert status == 200
    assert lines[-1]["errorDetail"]["code"] == 3
    assert lines[-1]["error"] == "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    assert api.get("/images/never/json").status == 404


def test_bad_requests_are_400s(api: DockerAPI) -> None:
    good = _context({"Dockerfile": f"FROM {IMAGE}\n"})
    assert _build(api, good, dockerfile="Nope")[1][0]["message"] == "Cannot locate specified Dockerfile: Nope"
    assert _build(api, good, dockerfile="../Dockerfile")[0] == 400
    assert "buildargs" in _build(api, good, buildargs="[1]")[1][0]["message"]
    assert _build(api, good, remote="https://example.com/x.git")[0] == 400
    assert _build(api, b"not a tarball")[0] == 400
    status, lines = _build(api, _context({"Dockerfile": "RUN true\n"}))
    assert status == 400 and "before the first FROM" in lines[0]["message"]
    assert api.get("/_ping").status == 200
