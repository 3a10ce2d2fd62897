"""Fixtures for the real-browser tests: a JupyterLab server and a Chromium page."""
import pytest

import jlab

PORT = 18765   # fixed (first free of 18765..18774): ss -ltnp | grep 1876 finds a stuck run


@pytest.fixture
def jupyterlab(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    server = jlab.start_server(root, PORT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page():
    jlab.require_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = jlab.launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            yield page
        finally:
            browser.close()


@pytest.fixture
def artifacts():
    d = jlab.REPO / "artifacts"
    d.mkdir(exist_ok=True)
    return d
