"""The pytest plugin, used as a user's project uses it: test files in a temporary
directory with their own pytest configuration, run by ``python -m pytest`` in a
subprocess, the plugin found through its ``pytest11`` entry point.

(``examples/test_my_app.py``, run by ``test_examples.py``, is the other user of it.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")

#: A user's project: pytest-asyncio in strict mode, markers strict.
PYTEST_INI = """\
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
addopts = --strict-markers -p no:cacheprovider
"""


def run_project(
    tmp_path: Path,
    tests: str,
    *,
    shadow: tuple[str, ...] = (),
    args: tuple[str, ...] = (),
    ini: str = PYTEST_INI,
) -> subprocess.CompletedProcess[str]:
    """Write ``tests`` as ``test_app.py`` in a fresh project and run pytest on it.

    ``shadow``: modules made unimportable (as in an environment without them).
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text(ini)
    (project / "test_app.py").write_text(textwrap.dedent(tests))
    path = [SRC]
    if shadow:
        fake = tmp_path / "shadow"
        for name in shadow:
            (fake / name).mkdir(parents=True)
            (fake / name / "__init__.py").write_text(
                f'raise ModuleNotFoundError("No module named {name}", name="{name}")\n'
            )
        path.insert(0, str(fake))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env["PYTHONPATH"] = os.pathsep.join(path)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_entry_point_names_the_plugin() -> None:
    from importlib.metadata import entry_points

    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("api_gemini") == "api_gemini.pytest_plugin"


def test_fixtures_in_a_users_project(tmp_path: Path) -> None:
    result = run_project(
        tmp_path,
        """
        import pytest
        from api_gemini.errors import DisconnectedError, ServiceUnavailableError

        LIVE = "gemini-3.8-live"


        def test_sync_client(gemini_sync_client, gemini_emulator):
            flash = gemini_sync_client.models.by_name("gemini-2.5-flash")
            assert flash.generate_content("echo: plain sync").text == "plain sync"
            assert gemini_emulator.stats.http_requests == 1
            assert gemini_emulator.base_url.startswith("http://127.0.0.1:")


        @pytest.mark.asyncio
        async def test_async_client_and_a_fault_header(gemini_client, gemini_fault):
            from api_gemini import AsyncClient

            headers = gemini_fault.headers("first-1-http-503")
            async with AsyncClient("any-key", base_url=gemini_client.settings.base_url,
                                   headers=headers) as client:
                flash = client.models.by_name("gemini-2.5-flash")
                with pytest.raises(ServiceUnavailableError):
                    await flash.generate_content("echo: x")
                assert (await flash.generate_content("echo: x")).text == "x"


        def test_every_request_and_bad_specs(gemini_sync_client, gemini_fault):
            flash = gemini_sync_client.models.by_name("gemini-2.5-flash")
            with gemini_fault.every_request("http-503"):
                with pytest.raises(ServiceUnavailableError):
                    flash.generate_content("hi")
            assert flash.generate_content("echo: back").text == "back"
            with pytest.raises(ValueError, match="fault spec"):
                gemini_fault.prompt("first-x-nonsense")


        @pytest.mark.gemini_emulator(default_max_output_tokens=3)
        def test_the_marker_configures_the_emulator(gemini_sync_client):
            flash = gemini_sync_client.models.by_name("gemini-2.5-flash")
            assert len(flash.generate_content("anything").text.split()) == 3


        @pytest.mark.asyncio
        async def test_async_control_hooks(gemini_client, gemini_emulator):
            model = gemini_client.models.by_name(LIVE)
            async with await model.connect() as session:
                assert await gemini_emulator.aclose_live_sessions(1011) == 1
                with pytest.raises(DisconnectedError):
                    async for _ in session:
                        pass


        def test_tls(gemini_emulator_tls):
            from api_gemini import Client

            assert gemini_emulator_tls.base_url.startswith("https://")
            with Client("k", base_url=gemini_emulator_tls.base_url,
                        verify=str(gemini_emulator_tls.ca_file)) as client:
                model = client.models.by_name(LIVE)
                with model.connect() as session:
                    session.send_text("echo: over wss")
                    text = "".join(e.text for e in session.receive_turn() if hasattr(e, "text"))
            assert text == "over wss"


        def test_an_unmodified_google_genai_app(gemini_env):
            from google import genai

            client = genai.Client()  # GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY: set
            response = client.models.generate_content(
                model="gemini-2.5-flash", contents="echo: genai reached the emulator"
            )
            assert response.text == "genai reached the emulator"
            assert gemini_env.stats.http_requests == 1
        """,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout


def test_without_trustme_the_tls_fixture_skips_saying_why(tmp_path: Path) -> None:
    result = run_project(
        tmp_path,
        """
        def test_tls(gemini_emulator_tls):
            pass


        def test_plain(gemini_emulator):
            assert gemini_emulator.ca_file is None
        """,
        shadow=("trustme",),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    assert "gemini_emulator_tls needs trustme (pip install trustme)" in result.stdout


def test_without_the_emulator_extra_the_fixture_fails_naming_the_install(
    tmp_path: Path,
) -> None:
    result = run_project(
        tmp_path,
        """
        def test_needs_it(gemini_emulator):
            pass


        def test_does_not(gemini_fault=None):
            pass
        """,
        shadow=("aiohttp",),
    )
    # The plugin itself loads (the second test passes); only its fixtures need aiohttp.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert "the gemini_emulator fixtures need the 'emulator' extra: pip install -e " in (
        result.stdout
    )
    assert "Traceback" not in result.stdout


def test_without_pytest_asyncio_the_async_client_says_so(tmp_path: Path) -> None:
    result = run_project(
        tmp_path,
        """
        def test_async(gemini_client):
            pass


        def test_sync(gemini_sync_client):
            pass
        """,
        shadow=("pytest_asyncio",),
        args=("-p", "no:asyncio"),
        ini="[pytest]\naddopts = --strict-markers -p no:cacheprovider\n",
    )
    assert "1 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "gemini_client is async and needs pytest-asyncio" in result.stdout
