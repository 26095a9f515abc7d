"""The wheel is the app: built from a copy of the checkout, installed into a folder of its
own, and run from elsewhere, it serves the seed programme with its templates and styles.

templates/, static/ and seed.json stay at the top of the repository; pyproject.toml maps
them into the package (festival/data/), and festival.core.settings finds them there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "festival", "templates", "static", "seed.json")
UNREACHABLE = ("Could not find a version that satisfies", "No matching distribution",
               "Failed to establish a new connection", "Temporary failure in name resolution",
               "Network is unreachable")


def _builds_offline() -> bool:
    """Whether this interpreter's own setuptools can build the wheel, so that pip need not
    fetch the build requirements (setuptools>=68; bdist_wheel is built in from 70.1)."""
    try:
        major, minor = (int(part) for part in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1) or (major >= 68 and find_spec("wheel") is not None)


def build_wheel(tmp_path: Path) -> Path:
    # A copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path / "dist"
    offline = _builds_offline()
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
               "--retries", "1", "--timeout", "15", "--wheel-dir", str(out), str(source)]
    if offline:
        command.insert(4, "--no-build-isolation")
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        if not offline and any(sign in output for sign in UNREACHABLE):
            pytest.skip("cannot build a wheel here: this interpreter's setuptools cannot build "
                        "one offline and pip cannot fetch setuptools>=68 (" +
                        output.strip().splitlines()[-1] + ")")
        pytest.fail(f"building the wheel failed:\n{output}")
    wheels = list(out.glob("festival-*.whl"))
    assert len(wheels) == 1, output
    return wheels[0]


def test_the_wheel_carries_and_serves_its_files(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)

    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("festival/data/seed.json", "festival/data/templates/base.html",
                     "festival/data/templates/admin/door/door.html",
                     "festival/data/templates/mail/confirmed.txt",
                     "festival/data/static/css/site.css",
                     "festival/core/migrations/0001_initial.sql",
                     "festival/locale/en/LC_MESSAGES/messages.po"):
        assert expected in names
    for stray in ("README.md", "pyproject.toml", "PKG-INFO"):  # only the files asked for
        assert not any(name.startswith("festival/") and name.endswith(stray)
                       and not name.startswith("festival/data/static/vendor/")
                       for name in names)  # a vendored library ships with its notes
    shipped_templates = {n.removeprefix("festival/data/") for n in names
                         if n.startswith("festival/data/templates/")}
    assert shipped_templates == {p.relative_to(REPO).as_posix()
                                 for p in (REPO / "templates").rglob("*") if p.is_file()}

    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--target", str(target), str(wheel)],
                   capture_output=True, check=True, timeout=120)

    # This interpreter brings the dependencies; festival itself must come from `target`,
    # not from the checkout's editable install, and run from a folder without its files.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FESTIVAL_")}
    env["PYTHONPATH"] = str(target)
    where = subprocess.run(
        [sys.executable, "-c", "import festival, festival.core.settings as s; "
         "print(festival.__file__); print(s.ROOT)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True, timeout=60)
    module_file, root = where.stdout.split()
    assert Path(module_file).is_relative_to(target)
    assert Path(root) == target / "festival" / "data"

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "festival", "serve", "--db", str(tmp_path / "f.db"),
             "--port", str(port)], cwd=elsewhere, env=env, stdout=out, stderr=out)
    try:
        page = wait_for_page(f"http://127.0.0.1:{port}/", server, log)
        assert page.status_code == 200
        assert "Wallah, Je te jure" in page.text  # the seed programme, loaded on first start

        stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text)
        assert stylesheet, "the page links no stylesheet"
        css = httpx.get(f"http://127.0.0.1:{port}{stylesheet.group(1)}", timeout=10)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "Empty database: loaded" in log.read_text("utf-8", "replace")


def wait_for_page(url: str, server: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server stopped ({server.returncode}):\n"
                        + log.read_text("utf-8", "replace"))
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("the server did not answer within 20 s:\n" + log.read_text("utf-8", "replace"))
