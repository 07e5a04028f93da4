"""The widgets in a real browser: JupyterLab + headless Debian Chromium driven by Playwright.

The conventions are those of docs/design.md, The browser tests.

A copy of tests/notebooks/widgets_demo.ipynb is served from a temporary root by JupyterLab on 127.0.0.1 with a
token, lab settings in a temporary JUPYTERLAB_SETTINGS_DIR (no news or update checks, no autosave, no notebook
windowing). Chromium opens it, runs all cells, and for each explorer focuses a slider handle, presses arrow
keys and checks that the figure (the <img> and its pixels) and the readout text changed. Screenshots go to
test-artifacts/browser/.

Needs /usr/bin/chromium (`apt-get install -y chromium`; never `playwright install`). Without it these tests
skip, unless PREFKIT_REQUIRE_BROWSER=1 (set by .ci/run), where they fail.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "tests" / "notebooks" / "widgets_demo.ipynb"
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
# docs/design.md, The browser tests. Playwright adds --headless itself (headless=True) and refuses --user-data-dir
# (it already uses a fresh profile).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LAB_SETTINGS = {  # JUPYTERLAB_SETTINGS_DIR/<package>/<plugin>.jupyterlab-settings
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    # windowing off keeps every cell in the DOM; without autoStartDefaultKernel JupyterLab 4.6 asks for a kernel
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
}
# (explorer CSS name, slider to move, key, presses)
EXPLORERS = [("beta", "beta", "ArrowRight", 3), ("margin", "eps", "ArrowRight", 2), ("noise", "eps", "ArrowRight", 2),
             ("kl-budget", "budget", "ArrowRight", 4)]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def require_browser():
    """Skip (or fail, with PREFKIT_REQUIRE_BROWSER=1) when Chromium or Playwright is missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (install it with `apt-get install -y chromium`; never `playwright install`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (`pip install -e .[dev]`)")
    if missing:
        message = ("browser tests need " + " and ".join(missing)
                   + ". Set PREFKIT_REQUIRE_BROWSER=1 to make this a failure instead of a skip.")
        if os.environ.get("PREFKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base, token, path, method="GET"):
    request = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
        return response.status, (json.loads(body) if body else None)


class Lab:
    """A JupyterLab server in its own process group, on 127.0.0.1 with a token, serving a temporary root."""

    def __init__(self, tmp):
        self.root, self.tmp = tmp / "root", tmp
        self.root.mkdir()
        shutil.copy(NOTEBOOK, self.root / NOTEBOOK.name)  # never the repository's copy: JupyterLab may save it
        for plugin, values in LAB_SETTINGS.items():
            path = tmp / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        # private Jupyter dirs: no user config, kernelspecs or runtime files leak in (extensions still come from
        # the environment's share/jupyter)
        env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
               "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_DATA_DIR": str(tmp / "data"),
               "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log_path = tmp / "server.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.root,
                                     start_new_session=True)

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if api(self.base, self.token, "/api/status")[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"jupyter lab not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines=40):
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self):
        """Shut the kernels down through the API (they run in their own sessions), then the server group."""
        try:
            if self.proc.poll() is None:
                for kernel in api(self.base, self.token, "/api/kernels")[1] or []:
                    api(self.base, self.token, f"/api/kernels/{kernel['id']}", method="DELETE")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        finally:
            for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
                if self.proc.poll() is not None:
                    break
                try:
                    os.killpg(self.proc.pid, sig)
                    self.proc.wait(timeout=wait)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            self._log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_browser()
    server = Lab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log_path, ARTIFACTS / "server.log")


@pytest.fixture(scope="module")
def page(lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


@pytest.fixture(scope="module")
def notebook(lab, page):
    """The notebook open in JupyterLab with every cell run: returns the page."""
    started = time.monotonic()
    try:
        page.goto(f"{lab.base}/lab/tree/{NOTEBOOK.name}?token={lab.token}", wait_until="domcontentloaded")
        # the panel shows one empty cell before the file's cells arrive: wait for the file's code cells
        n_code = sum(c["cell_type"] == "code" for c in json.loads(NOTEBOOK.read_text())["cells"])
        page.wait_for_function("n => document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell').length === n",
                               arg=n_code, timeout=60_000)
        # kernel connected: the status bar reads "Python 3 (ipykernel) | Idle" (it reads "No Kernel | ..." first,
        # and run-all before that silently clears the cells instead of running them)
        page.wait_for_function(
            r"""() => [...document.querySelectorAll('.jp-StatusBar-Widget')]
                     .some(e => /\| Idle/.test(e.textContent) && !/No Kernel/.test(e.textContent))""",
            timeout=90_000)
        # the Run menu acts on the current widget: focus the notebook first, or run-all silently does nothing
        page.locator(".jp-NotebookPanel .jp-Cell").first.click()
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        page.wait_for_function(
            r"""n => {
                const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')];
                return prompts.length === n && prompts.every(p => /\[\d+\]/.test(p.textContent));
            }""", arg=n_code, timeout=180_000)
        page.locator(".prefkit-explorer").nth(3).wait_for(state="visible", timeout=30_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "run-all-failure.png"))
        raise
    finally:
        print(f"notebook opened and all cells run in {time.monotonic() - started:.1f} s")
    page.screenshot(path=str(ARTIFACTS / "notebook.png"))
    return page


def test_notebook_runs_and_shows_real_widgets(notebook):
    page = notebook
    outputs = page.locator(".jp-NotebookPanel .jp-OutputArea").all_inner_texts()
    joined = "\n".join(outputs)
    assert "Traceback" not in joined, joined[:3000]
    # widgets drawn as text mean the widget manager extension did not load (docs/design.md, Widgets)
    assert "children=" not in joined, "widgets rendered as plain text: is jupyterlab_widgets 3.0.x installed?"
    assert page.locator(".prefkit-explorer").count() == 4
    for name, *_ in EXPLORERS:
        img = page.locator(f".prefkit-{name}-explorer img.prefkit-figure")
        assert img.count() == 1
        size = img.evaluate("e => [e.naturalWidth, e.naturalHeight]")
        assert size[0] > 800 and size[1] > 300, (name, size)  # a decoded PNG, not a broken image


@pytest.mark.parametrize("name, slider, key, presses", EXPLORERS, ids=[e[0] for e in EXPLORERS])
def test_keyboard_on_slider_redraws_figure_and_readout(notebook, name, slider, key, presses):
    page = notebook
    box = page.locator(f".prefkit-{name}-explorer")
    img, readout = box.locator("img.prefkit-figure"), box.locator(".prefkit-readout")
    value = box.locator(f".prefkit-slider-{slider} .widget-readout")
    box.scroll_into_view_if_needed()
    before = {"src": img.get_attribute("src"), "text": readout.inner_text(), "value": value.inner_text(),
              "pixels": img.screenshot()}
    box.screenshot(path=str(ARTIFACTS / f"{name}-before.png"))
    try:
        box.locator(f".prefkit-slider-{slider} .noUi-handle").focus()
        pressed = time.monotonic()
        for _ in range(presses):
            page.keyboard.press(key)
        page.wait_for_function(
            """([img, readout, src, text]) => {
                const i = document.querySelector(img), r = document.querySelector(readout);
                return i && r && i.src !== src && i.complete && i.naturalWidth > 0 && r.innerText !== text;
            }""",
            arg=[f".prefkit-{name}-explorer img.prefkit-figure", f".prefkit-{name}-explorer .prefkit-readout",
                 before["src"], before["text"]], timeout=30_000)
        print(f"{name}: {presses} x {key} -> first new figure and readout after {time.monotonic() - pressed:.2f} s")
        page.wait_for_timeout(300)  # let the last key's render land before the screenshot
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"))
        raise
    box.screenshot(path=str(ARTIFACTS / f"{name}-after.png"))
    assert value.inner_text() != before["value"], "the slider did not move"
    assert img.get_attribute("src") != before["src"]
    assert readout.inner_text() != before["text"]
    assert img.screenshot() != before["pixels"], "the figure's pixels did not change"
