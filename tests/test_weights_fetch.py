"""``srn weights``: real downloads from a local HTTP server (Range, drops, errors), real checks, real files."""

from __future__ import annotations

import functools
import io
import json
import re
import socket
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from srn.cli import main
from srn.weights.authors import AUTHORS_BAIDU_CODE, AUTHORS_BAIDU_URL, AUTHORS_DRIVE_ID
from srn.weights.download import FetchCancelled, FetchError, download_drive
from srn.weights.fetch import fetch, resolve_source

SMALL = {"backbone": "resnet18", "channels": 16}
SMALL_JSON = json.dumps(SMALL)


# -- test data ---------------------------------------------------------------------------------
@functools.cache
def legacy_checkpoint_bytes(seed: int = 0) -> bytes:
    """The authors' layout (``{"state_dict"}``, ``module.`` keys, torch's legacy non-zip format) of a
    small SRN (ResNet-18, 16 channels); float16 to halve the file (shapes are what is checked)."""
    from srn.model.config import SRNConfig
    from srn.model.srn_net import SRN

    torch.manual_seed(seed)
    model = SRN(SRNConfig(**SMALL))
    state = {f"module.{k}": v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"state_dict": state}, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


@functools.cache
def imagenet_resnet18_bytes() -> bytes:
    """A torchvision ResNet-18 state dict (random, float16), as torchvision's weights files are laid out."""
    import torchvision

    torch.manual_seed(1)
    state = {k: v.half() if v.is_floating_point() else v for k, v in torchvision.models.resnet18().state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


# -- a local file server with Range support --------------------------------------------------------
class WeightsServer:
    """``files`` by URL path; ``drop_once[path] = n`` cuts the next response after n body bytes;
    ``ignore_range`` answers 200 with the whole file; ``pause_s`` sleeps after each 256 KiB (a slow
    link, to cancel during); ``requests`` logs (path, Range header)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_once: dict[str, int] = {}
        self.ignore_range = False
        self.pause_s = 0.0
        self.requests: list[tuple[str, str | None]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), name="weights-server",
                                        daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                wanted = self.headers.get("Range")
                server.requests.append((name, wanted))
                data = server.files.get(name)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                body = data[start:]
                cut = server.drop_once.pop(name, None)
                if cut is None and server.pause_s:
                    step = 1 << 18
                    try:
                        for i in range(0, len(body), step):
                            self.wfile.write(body[i:i + step])
                            time.sleep(server.pause_s)
                    except OSError:  # the client went away (cancelled)
                        self.close_connection = True
                    return
                if cut is None:
                    self.wfile.write(body)
                    return
                self.wfile.write(body[:cut])  # then hang up mid-body
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        return Handler


@pytest.fixture
def server():
    s = WeightsServer()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def data_dirs(tmp_path, monkeypatch):
    """The user's data folder and torch's cache live in ``tmp_path``."""
    monkeypatch.setenv("DARKFACE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def srn_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["weights", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- downloads ---------------------------------------------------------------------------------
def test_full_download_is_verified_and_installed_byte_identical(server, tmp_path, capsys):
    data = legacy_checkpoint_bytes()
    server.files["SRN.pth"] = data
    out = tmp_path / "models"
    rc, stdout, err = srn_cli(capsys, "fetch", server.url("SRN.pth"), "--out", f"{out}/", "--srn-config", SMALL_JSON,
                              "--quiet")
    assert rc == 0, err
    assert (out / "SRN.pth").read_bytes() == data
    assert leftovers(out) == ["SRN.pth"]  # no .part left behind
    assert "fetched" in stdout and "SRN resnet18" in stdout and "(authors)" in stdout
    assert server.requests == [("SRN.pth", None)]


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path, capsys):
    data = legacy_checkpoint_bytes()
    half = len(data) // 2
    server.files["SRN.pth"] = data
    server.drop_once["SRN.pth"] = half
    dest = tmp_path / "models" / "SRN.pth"
    argv = ("fetch", server.url("SRN.pth"), "--out", str(dest), "--srn-config", SMALL_JSON, "--quiet")

    rc, _, err = srn_cli(capsys, *argv)
    assert rc == 2
    assert server.url("SRN.pth") in err and "interrupted" in err and f"{half} of {len(data)}" in err
    assert len(err.strip().splitlines()) == 1
    assert not dest.exists()
    part = dest.with_name("SRN.pth.part")
    assert part.stat().st_size == half

    rc, _, err = srn_cli(capsys, *argv)
    assert rc == 0, err
    assert server.requests[-1] == ("SRN.pth", f"bytes={half}-")
    assert dest.read_bytes() == data
    assert not part.exists()


def test_a_server_ignoring_the_range_restarts_the_file(server, tmp_path):
    data = legacy_checkpoint_bytes()
    server.files["SRN.pth"] = data
    server.ignore_range = True
    dest = tmp_path / "SRN.pth"
    dest.with_name("SRN.pth.part").write_bytes(b"\x80stale bytes from another file")
    result = fetch(resolve_source(server.url("SRN.pth"), srn_config=SMALL), dest)
    assert result.downloaded and dest.read_bytes() == data
    assert server.requests[0][1] is not None  # it did ask for a range


def test_a_complete_part_left_by_a_killed_run_is_verified_and_installed(server, tmp_path):
    data = legacy_checkpoint_bytes()
    server.files["SRN.pth"] = data
    dest = tmp_path / "SRN.pth"
    dest.with_name("SRN.pth.part").write_bytes(data)
    fetch(resolve_source(server.url("SRN.pth"), srn_config=SMALL), dest)  # the server answers 416
    assert dest.read_bytes() == data
    assert not dest.with_name("SRN.pth.part").exists()
    assert server.requests == [("SRN.pth", f"bytes={len(data)}-")]


def test_cancel_keeps_the_part_and_the_next_fetch_resumes(server, tmp_path):
    data = legacy_checkpoint_bytes()
    server.files["SRN.pth"] = data
    dest = tmp_path / "SRN.pth"
    source = resolve_source(server.url("SRN.pth"), srn_config=SMALL)
    stop = threading.Event()
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done >= len(data) // 3:
            stop.set()

    with pytest.raises(FetchCancelled, match="cancelled"):
        fetch(source, dest, progress=progress, cancel=stop)
    kept = dest.with_name("SRN.pth.part").stat().st_size
    assert 0 < kept < len(data) and not dest.exists()
    assert seen[0] == (0, len(data))

    seen.clear()
    fetch(source, dest, progress=lambda d, t: seen.append((d, t)))
    assert dest.read_bytes() == data
    assert server.requests[-1][1] == f"bytes={kept}-"
    assert seen[0] == (kept, len(data)) and seen[-1] == (len(data), len(data))


def test_file_urls_and_local_paths_are_fetched_the_same_way(tmp_path, capsys):
    data = legacy_checkpoint_bytes()
    src = tmp_path / "Downloads" / "SRN.pth"
    src.parent.mkdir()
    src.write_bytes(data)
    rc, _, err = srn_cli(capsys, "fetch", src.as_uri(), "--out", str(tmp_path / "a"), "--srn-config", SMALL_JSON,
                         "--quiet")
    assert rc == 0, err
    rc, _, err = srn_cli(capsys, "fetch", str(src), "--out", str(tmp_path / "b.pth"), "--srn-config", SMALL_JSON,
                         "--quiet")
    assert rc == 0, err
    assert (tmp_path / "a").read_bytes() == data == (tmp_path / "b.pth").read_bytes()


# -- refusals ----------------------------------------------------------------------------------
def test_a_corrupt_file_is_refused_and_nothing_is_left(server, tmp_path, capsys):
    server.files["SRN.pth"] = b"<html><body>Google Drive - Virus scan warning</body></html>"
    out = tmp_path / "models"
    rc, _, err = srn_cli(capsys, "fetch", server.url("SRN.pth"), "--out", f"{out}/", "--quiet")
    assert rc == 2
    assert server.url("SRN.pth") in err and "not a PyTorch file" in err and "deleted" in err
    assert leftovers(out) == []


def test_a_truncated_checkpoint_is_refused(server, tmp_path, capsys):
    data = legacy_checkpoint_bytes()
    server.files["SRN.pth"] = data[: len(data) - 1000]  # complete download of a damaged file
    rc, _, err = srn_cli(capsys, "fetch", server.url("SRN.pth"), "--out", str(tmp_path / "SRN.pth"),
                         "--srn-config", SMALL_JSON, "--quiet")
    assert rc == 2 and "truncated or damaged" in err
    assert not (tmp_path / "SRN.pth").exists() and not (tmp_path / "SRN.pth.part").exists()


def test_a_checkpoint_for_another_network_lists_what_does_not_fit(server, tmp_path, capsys):
    server.files["SRN.pth"] = legacy_checkpoint_bytes()
    # default config: the authors' ResNet-50, which the small ResNet-18 file does not fit
    rc, _, err = srn_cli(capsys, "fetch", server.url("SRN.pth"), "--out", str(tmp_path / "SRN.pth"), "--quiet")
    assert rc == 2
    assert "not an SRN checkpoint" in err and "missing key(s)" in err and "shape mismatch" in err
    assert "layer" in err  # names the keys
    assert not (tmp_path / "SRN.pth").exists() and not (tmp_path / "SRN.pth.part").exists()


def test_server_down_is_a_clear_error_naming_the_url(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/SRN.pth"
    rc, _, err = srn_cli(capsys, "fetch", url, "--out", str(tmp_path / "m") + "/", "--quiet")
    assert rc == 2
    assert err.startswith("srn weights: cannot reach " + url) and "network" in err
    assert len(err.strip().splitlines()) == 1
    assert leftovers(tmp_path / "m") == []


def test_http_errors_name_the_status_and_url(server, tmp_path, capsys):
    rc, _, err = srn_cli(capsys, "fetch", server.url("missing.pth"), "--out", str(tmp_path) + "/", "--quiet")
    assert rc == 2 and server.url("missing.pth") in err and "HTTP error 404" in err


def test_size_mismatch_is_refused_before_writing(server, tmp_path, capsys):
    data = legacy_checkpoint_bytes()
    server.files["SRN.pth"] = data
    rc, _, err = srn_cli(capsys, "fetch", server.url("SRN.pth"), "--out", str(tmp_path / "SRN.pth"),
                         "--size", str(len(data) + 1), "--srn-config", SMALL_JSON, "--quiet")
    assert rc == 2 and "size mismatch" in err and str(len(data)) in err and server.url("SRN.pth") in err
    assert not (tmp_path / "SRN.pth").exists() and not (tmp_path / "SRN.pth.part").exists()
    rc, _, err = srn_cli(capsys, "fetch", server.url("SRN.pth"), "--out", str(tmp_path / "SRN.pth"),
                         "--size", str(len(data)), "--srn-config", SMALL_JSON, "--quiet")
    assert rc == 0, err


def test_sha256_is_checked_when_given(server, tmp_path, capsys):
    import hashlib

    data = legacy_checkpoint_bytes()
    server.files["SRN.pth"] = data
    base = ("fetch", server.url("SRN.pth"), "--out", str(tmp_path / "SRN.pth"), "--srn-config", SMALL_JSON, "--quiet")
    rc, _, err = srn_cli(capsys, *base, "--sha256", "0" * 64)
    assert rc == 2 and "sha256 mismatch" in err and not (tmp_path / "SRN.pth").exists()
    rc, _, err = srn_cli(capsys, *base, "--sha256", hashlib.sha256(data).hexdigest())
    assert rc == 0, err
    rc, _, err = srn_cli(capsys, *base, "--sha256", "xyz")
    assert rc == 2 and "64 hexadecimal digits" in err


def test_hostile_out_folder_existing_file_and_force(server, tmp_path, capsys):
    data = legacy_checkpoint_bytes()
    server.files["weights/SRN.pth"] = data
    url = server.url("weights/SRN.pth")
    folder = tmp_path / "existing"
    folder.mkdir()
    rc, _, err = srn_cli(capsys, "fetch", url, "--out", str(folder), "--srn-config", SMALL_JSON, "--quiet")
    assert rc == 0, err
    assert (folder / "SRN.pth").read_bytes() == data  # written inside, with the default name

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    rc, _, err = srn_cli(capsys, "fetch", url, "--out", str(notes), "--srn-config", SMALL_JSON, "--quiet")
    assert rc == 2 and str(notes) in err and "--force" in err
    assert notes.read_text() == "my notes"
    requests = len(server.requests)
    assert requests == 1  # refused before downloading

    rc, _, err = srn_cli(capsys, "fetch", url, "--out", str(notes), "--srn-config", SMALL_JSON, "--quiet", "--force")
    assert rc == 0, err
    assert notes.read_bytes() == data

    rc, _, err = srn_cli(capsys, "fetch", url, "--out", str(notes / "x.pth"), "--quiet")  # under a file
    assert rc == 2 and "cannot write" in err and str(notes) in err

    blocked = tmp_path / "blocked"
    (blocked / "SRN.pth").mkdir(parents=True)
    rc, _, err = srn_cli(capsys, "fetch", url, "--out", str(blocked), "--quiet", "--force")
    assert rc == 2 and "is not a file" in err


def test_known_model_from_a_mirror_is_installed_once(server, tmp_path, capsys):
    data = legacy_checkpoint_bytes()
    server.files["mirror/SRN.pth"] = data
    argv = ("fetch", "srn-r50-wider", "--from", server.url("mirror/SRN.pth"), "--srn-config", SMALL_JSON, "--quiet")
    rc, stdout, err = srn_cli(capsys, *argv)
    assert rc == 0, err
    installed = tmp_path / "data" / "models" / "SRN.pth"
    assert installed.read_bytes() == data and str(installed) in stdout

    rc, stdout, err = srn_cli(capsys, *argv)
    assert rc == 0, err
    assert "already at" in stdout and len(server.requests) == 1

    installed.write_bytes(b"\x80\x02 not really")
    rc, _, err = srn_cli(capsys, *argv)
    assert rc == 2 and "already exists and is not srn-r50-wider" in err and "--force" in err


# -- Google Drive (no network: the gdown call is observed, not made) -----------------------------
def test_the_authors_model_resolves_to_their_google_drive_file():
    source = resolve_source("srn-r50-wider")
    assert source.drive_id == AUTHORS_DRIVE_ID == "1T4Qt99SdM7c8G4ZuC1igensY0bZdEETF"
    assert source.url == f"https://drive.google.com/uc?id={AUTHORS_DRIVE_ID}"
    assert source.file_name == "SRN.pth" and source.kind == "srn" and source.srn_config is None
    assert resolve_source("srn-r50-wider", mirror="http://example.invalid/SRN.pth").drive_id is None


def test_drive_sources_go_through_the_drive_downloader_then_the_same_checks(tmp_path):
    data = legacy_checkpoint_bytes()
    calls = []

    def drive_download(file_id, part, *, progress, cancel):
        calls.append((file_id, Path(part)))
        Path(part).write_bytes(data)
        progress(len(data), len(data))

    source = replace(resolve_source("srn-r50-wider"), srn_config=SMALL)
    seen = []
    result = fetch(source, f"{tmp_path / 'models'}/", drive_download=drive_download,
                   progress=lambda d, t: seen.append((d, t)))
    assert seen == [(len(data), len(data))]
    assert calls == [(AUTHORS_DRIVE_ID, tmp_path / "models" / "SRN.pth.part")]
    assert result.path == tmp_path / "models" / "SRN.pth" and result.path.read_bytes() == data

    def bad_drive(file_id, part, *, progress, cancel):  # Drive's HTML instead of the file
        Path(part).write_bytes(b"<!DOCTYPE html><title>Google Drive</title>")

    with pytest.raises(FetchError, match="drive.google.com/uc.*not a PyTorch file") as info:
        fetch(source, tmp_path / "other.pth", drive_download=bad_drive)
    assert "deleted" in str(info.value)
    assert not (tmp_path / "other.pth").exists() and not (tmp_path / "other.pth.part").exists()


def test_download_drive_calls_gdown_with_the_id_and_resume(tmp_path, monkeypatch):
    import gdown
    import requests

    seen = {}

    def fake_download(**kwargs):
        seen.update(kwargs)
        Path(kwargs["output"]).write_bytes(b"\x80data")
        kwargs["progress"](5, 5)
        return kwargs["output"]

    monkeypatch.setattr(gdown, "download", fake_download)
    progress = []
    download_drive(AUTHORS_DRIVE_ID, tmp_path / "SRN.pth.part", progress=lambda d, t: progress.append((d, t)))
    assert seen["id"] == AUTHORS_DRIVE_ID and seen["output"] == str(tmp_path / "SRN.pth.part")
    assert seen["resume"] is True and seen["quiet"] is True and progress == [(5, 5)]

    def offline(**kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'drive.google.com'")

    monkeypatch.setattr(gdown, "download", offline)
    with pytest.raises(FetchError, match=rf"cannot reach https://drive.google.com/uc\?id={AUTHORS_DRIVE_ID}"):
        download_drive(AUTHORS_DRIVE_ID, tmp_path / "x.part")

    def refused(**kwargs):
        raise gdown.FileURLRetrievalError("Too many users have viewed or downloaded this file recently.")

    monkeypatch.setattr(gdown, "download", refused)
    with pytest.raises(FetchError, match="did not hand out the file: Too many users"):
        download_drive(AUTHORS_DRIVE_ID, tmp_path / "x.part")


# -- ImageNet backbones ------------------------------------------------------------------------
def test_imagenet_backbone_goes_into_torch_hub_where_torchvision_finds_it(server, tmp_path, capsys):
    from torchvision.models import get_weight

    data = imagenet_resnet18_bytes()
    server.files["resnet18.pth"] = data
    official = resolve_source("resnet18")
    assert official.url == get_weight("ResNet18_Weights.IMAGENET1K_V1").url
    assert official.hash_prefix == "f37072fd" and official.kind == "imagenet"

    rc, stdout, err = srn_cli(capsys, "fetch", "resnet18", "--from", server.url("resnet18.pth"), "--quiet")
    assert rc == 0, err
    installed = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert installed.read_bytes() == data and "resnet18" in stdout
    state = get_weight("ResNet18_Weights.IMAGENET1K_V1").get_state_dict(progress=False)  # from the cache, offline
    assert torch.equal(state["conv1.weight"], torch.load(io.BytesIO(data), weights_only=True)["conv1.weight"])

    server.files["srn.pth"] = legacy_checkpoint_bytes()
    rc, _, err = srn_cli(capsys, "fetch", "resnet50", "--from", server.url("srn.pth"), "--quiet")
    assert rc == 2 and "not an ImageNet resnet50 state dict" in err and "unexpected key(s)" in err
    assert sorted(p.name for p in installed.parent.iterdir()) == ["resnet18-f37072fd.pth"]


def test_official_imagenet_files_are_checked_against_the_hash_in_their_name(server, tmp_path):
    server.files["resnet18.pth"] = imagenet_resnet18_bytes()
    source = replace(resolve_source("resnet18"), url=server.url("resnet18.pth"))  # as if from download.pytorch.org
    with pytest.raises(FetchError, match="does not start with f37072fd"):
        fetch(source)
    assert not (tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth.part").exists()


# -- list and help -----------------------------------------------------------------------------
def test_list_shows_every_known_model_and_where_it_is(tmp_path, capsys):
    rc, stdout, _ = srn_cli(capsys, "list")
    assert rc == 0
    for name in ("srn-r50-wider", "resnet18", "resnet50", "resnet101"):
        assert re.search(rf"^{name}\s", stdout, re.MULTILINE)
    assert "WIDER FACE" in stdout and "licence" in stdout and AUTHORS_DRIVE_ID in stdout
    assert f"missing: {tmp_path / 'data' / 'models' / 'SRN.pth'}" in stdout

    (tmp_path / "data" / "models").mkdir(parents=True)
    (tmp_path / "data" / "models" / "SRN.pth").write_bytes(legacy_checkpoint_bytes())
    rc, stdout, _ = srn_cli(capsys, "list", "--json")
    rows = {row["name"]: row for row in json.loads(stdout)}
    assert rows["srn-r50-wider"]["present"] is True
    assert rows["srn-r50-wider"]["path"] == str(tmp_path / "data" / "models" / "SRN.pth")
    assert rows["resnet50"]["present"] is False
    assert rows["resnet50"]["path"] == str(tmp_path / "torch" / "hub" / "checkpoints" / "resnet50-0676ba61.pth")


def test_help_explains_sources_destinations_resume_and_baiduyun(capsys):
    with pytest.raises(SystemExit) as info:
        main(["weights", "fetch", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for needle in (AUTHORS_DRIVE_ID, AUTHORS_BAIDU_URL, AUTHORS_BAIDU_CODE, "resume", "--out", "--from", "--force",
                   "--sha256", "DARKFACE_DATA_DIR", "hub/checkpoints", "resnet50", "Exit status"):
        assert needle in text, needle
    with pytest.raises(SystemExit):
        main(["weights", "--help"])
    assert "fetch" in capsys.readouterr().out


def test_unknown_names_and_bad_options_are_usage_errors(capsys):
    rc, _, err = srn_cli(capsys, "fetch", "srn-r101", "--quiet")
    assert rc == 2 and "neither a known model" in err and "srn-r50-wider" in err
    rc, _, err = srn_cli(capsys, "fetch", "http://127.0.0.1:1/x.pth", "--srn-config", "[1]", "--quiet")
    assert rc == 2 and "--srn-config" in err
    rc, _, err = srn_cli(capsys, "fetch", "ftp://example.org/SRN.pth", "--quiet")
    assert rc == 2 and "neither a known model" in err


def test_a_drive_failure_on_the_command_line_names_the_address_and_the_baiduyun_alternative(tmp_path, capsys,
                                                                                             monkeypatch):
    import gdown
    import requests

    def offline(**kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'drive.google.com'")

    monkeypatch.setattr(gdown, "download", offline)
    rc, _, err = srn_cli(capsys, "fetch", "srn-r50-wider", "--quiet")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert f"cannot reach https://drive.google.com/uc?id={AUTHORS_DRIVE_ID}" in err
    assert AUTHORS_BAIDU_URL in err and AUTHORS_BAIDU_CODE in err and "--from" in err
    assert leftovers(tmp_path / "data" / "models") == []
