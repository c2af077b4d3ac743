"""A real browser: JupyterLab on loopback, Debian's Chromium through Playwright.

The test starts JupyterLab itself (a free port on 127.0.0.1, no token, HOME and every Jupyter
folder in a temporary directory), opens ``tests/browser/explorer.ipynb``, runs all cells, and
checks what the browser shows: the ``draw`` output is an SVG with the expected number of nodes,
the ``BackwardExplorer`` widget rendered its graph with the start node highlighted, clicking
"Next ▶" moves the highlight to the first op and puts its numbers in the panel, and the
``LiveLossPlot`` of a short training run ended at 20/20 epochs. It saves
screenshots to ``build/browser/`` (or ``$AGK_SCREENSHOT_DIR``), and stops everything it started.

It skips (with the reason) only when Playwright or a Chromium binary is missing; ``./run setup``
installs Chromium with apt-get. Never ``playwright install``: it downloads a browser.
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unicodedata
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "tests" / "browser" / "explorer.ipynb"
SHOTS = Path(os.environ.get("AGK_SCREENSHOT_DIR", ROOT / "build" / "browser"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
NODES = 8          # a, b, c, f, three ops, the output L


def _chromium():
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome", "google-chrome-stable"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def _requirements():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright; ./run setup does it)"
    if _chromium() is None:
        return ("no Chromium binary found (chromium, chromium-browser or $CHROMIUM); "
                "./run setup installs Debian's chromium with apt-get when run as root")
    for module in ("jupyterlab", "ipykernel", "ipywidgets"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed"
    return None


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server serving a copy of the test notebook; yields (base URL, log path)."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    data = home / "jupyter-data"
    kernel_dir = data / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({          # this interpreter, for sure
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(       # no "news?" toast
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "jupyter-config"),
               JUPYTER_DATA_DIR=str(data), JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
               IPYTHONDIR=str(home / "ipython"), MPLCONFIGDIR=str(home / "mpl"),
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                          if p))
    env.pop("JUPYTER_PATH", None)
    port = _free_port()
    log = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
           "--ip=127.0.0.1", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
           f"--ServerApp.root_dir={work}",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start in 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield base, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)         # the server and the kernels it started
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def _svg_from_img_src(src):
    head, _, body = src.partition(",")
    if ";base64" in head:
        return base64.b64decode(body).decode("utf-8")
    return urllib.parse.unquote(body)


def _nfc(text):
    return unicodedata.normalize("NFC", text)


@pytest.mark.slow
def test_notebook_graph_and_backward_explorer_in_chromium(jupyterlab):
    reason = _requirements()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    base, log = jupyterlab
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(Path(log).parent / "chromium-profile"), executable_path=_chromium(),
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}")
            # the kernel is really up (the toolbar says "idle" before a kernel exists)
            page.wait_for_selector("#jp-main-statusbar >> text=/ipykernel\\) \\| Idle/",
                                   timeout=45_000)
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

            # 1. draw(): an SVG image with one <g class="node"> per graph node
            img = page.wait_for_selector(".jp-RenderedSVG img[src^='data:image/svg+xml']")
            svg = html.unescape(_svg_from_img_src(img.get_attribute("src")))
            assert svg.count('class="node agk-node') == NODES, svg[:2000]
            assert "MulBackward0" in svg and "grad: not computed yet" in svg

            # 2. the explorer: its graph is live SVG in the page, the output highlighted
            explorer = page.locator(".agk-backward-explorer")
            explorer.locator(".agk-graph svg g.node").first.wait_for()
            assert explorer.locator(".agk-graph svg g.node").count() == NODES
            current = explorer.locator(".agk-graph svg g.agk-current > title")
            assert current.text_content() == "o0"
            panel = explorer.locator(".agk-panel")
            assert "∂L/∂L = 1" in panel.inner_text()
            explorer.scroll_into_view_if_needed()
            explorer.screenshot(path=str(SHOTS / "backward_explorer_start.png"))

            # 3. Next ▶: the first backward step, L = d·f, highlighted with its numbers
            explorer.locator("button.agk-next").click()
            page.wait_for_function(
                "() => { const t = document.querySelector("
                "'.agk-backward-explorer .agk-graph svg g.agk-current > title');"
                " return t && t.textContent === 'n0'; }")
            expect(panel).to_contain_text("Step 1 of 3")       # widget updates arrive one by one
            text = _nfc(panel.inner_text())
            assert "Step 1 of 3 · MulBackward0 → L" in text
            assert _nfc("input ①a ← d (AddBackward0): ①ā = ḡ × ∂out/∂①a = 1 × -2 = -2") in text
            assert _nfc("input ②b ← f: ②b̄ = ḡ × ∂out/∂②b = 1 × 4 = 4") in text
            hot = explorer.locator(".agk-graph svg g.edge text", has_text="← -2")
            assert hot.count() == 1                         # the gradient sent back to d
            explorer.scroll_into_view_if_needed()
            explorer.screenshot(path=str(SHOTS / "backward_explorer_step1.png"))
            page.screenshot(path=str(SHOTS / "jupyterlab.png"))

            # 4. LiveLossPlot: one widget, updated in place while training ran
            live = page.locator(".agk-live-loss")
            expect(live).to_contain_text("20/20 epochs", timeout=30_000)
            assert live.count() == 1
            live.scroll_into_view_if_needed()
            live.screenshot(path=str(SHOTS / "live_loss_plot.png"))
            assert live.locator("img").get_attribute("src").startswith("blob:") or \
                live.locator("img").get_attribute("src").startswith("data:")
        finally:
            ctx.close()
