"""`prefkit check-env` and `make lab`: what a newcomer runs first."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import prefkit
from prefkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
PREFKIT = Path(sys.executable).parent / "prefkit"


def test_check_env_cli_prints_a_line_per_dependency_and_exits_0():
    proc = subprocess.run([str(PREFKIT), "check-env"], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(ln.startswith(("[OK]", "[--]")) for ln in lines), proc.stdout
    names = " ".join(lines)
    for dep in ("torch", "transformers", "datasets", "trl", "jupyterlab", "device", "reference model", "shipped data"):
        assert dep in names
    assert prefkit.check_env(verbose=False) is True


def test_check_env_fails_when_shipped_files_are_missing(tmp_path):
    env = {**os.environ, "PREFKIT_DATA": str(tmp_path)}
    proc = subprocess.run([str(PREFKIT), "check-env"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1
    assert "[FAIL] reference model" in proc.stdout and "run `make data`" in proc.stdout


def test_cli_without_command_prints_help(capsys):
    assert main([]) == 2
    assert "check-env" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_serves_the_course_on_localhost_with_a_token(tmp_path):
    port, token = _free_port(), "prefkit-test-token"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "s"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    args = f"--no-browser --port {port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}", f"VENV={Path(sys.executable).parents[1]}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        status, deadline = None, time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/status",
                                             headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=5) as resp:
                    status = resp.status, json.loads(resp.read())
                break
            except OSError:
                time.sleep(0.5)
        assert status is not None, f"JupyterLab did not answer on port {port}"
        assert status[0] == 200 and "started" in status[1]
        # without the token the API refuses: authentication stays on
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/chapters", timeout=5)
            raise AssertionError("the server answered without a token")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/contents/chapters",
                                     headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            listing = json.loads(resp.read())
        assert listing["type"] == "directory" and any(c["name"] == "README.md" for c in listing["content"])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    assert "127.0.0.1" in out or "localhost" in out, out[-2000:]
