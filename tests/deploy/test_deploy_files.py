"""deploy/: the compose file, the systemd units, the Dockerfile and the configuration
they share, checked without a container engine.

The last test installs the built wheel into a fresh virtual environment and runs the
image's command (`sessionbot run`, configured as compose configures it) against the
local PostgreSQL until `/readyz` answers.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
import yaml

from core.crypto.envelope import generate_master_key
from tests.commands.test_router_processes import postgres_database

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def compose() -> dict[str, object]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def test_compose_runs_postgres_a_migration_several_workers_and_a_proxy() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    assert set(services) == {"postgres", "migrate", "sessionbot", "proxy"}
    postgres, migrate, bot, proxy = (services[name] for name in services)
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert bot["deploy"]["replicas"] >= 2
    assert "/readyz" in " ".join(bot["healthcheck"]["test"])
    assert proxy["depends_on"]["sessionbot"]["condition"] == "service_healthy"
    for service in (migrate, bot):
        assert service["env_file"] == ".env"
        assert "./config.toml:/etc/sessionbot/config.toml:ro" in service["volumes"]


def test_every_variable_the_deployment_reads_is_in_env_example() -> None:
    known = set(env_example())
    in_compose = set(re.findall(r"\$\{(\w+)", (DEPLOY / "compose.yaml").read_text()))
    config = tomllib.loads((DEPLOY / "config.toml").read_text())
    in_config = {config["encryption"]["key_env"]}
    defaults = {"TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "SLACK_BOT_TOKEN"}
    assert in_compose | in_config | defaults <= known
    assert "SESSIONBOT_STORAGE__URL" in known


def test_the_deployed_configuration_passes_config_check() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONBOT_")}
    env["SESSIONBOT_MASTER_KEY"] = generate_master_key()
    checked = subprocess.run(
        [sys.executable, "-m", "bot", "config", "check", "--config", str(DEPLOY / "config.toml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "adapters: api" in checked.stdout


def test_the_dockerfile_builds_in_two_stages_and_runs_unprivileged() -> None:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")  # continuation lines
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) == 2 and froms[0].endswith(" AS build")
    assert any(line.startswith("USER ") and "root" not in line for line in lines)
    assert any(line.startswith("HEALTHCHECK ") and "/readyz" in line for line in lines)
    assert 'ENTRYPOINT ["sessionbot"]' in lines
    copied = {
        line.split()[1] for line in lines if line.startswith("COPY ") and "--from" not in line
    }
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    wanted = {name.rstrip("*") for name in packages["packages"]["find"]["include"]}
    assert wanted <= copied  # every package the wheel holds is copied into the build


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    executable = shutil.which("sessionbot") or str(Path(sys.executable).with_name("sessionbot"))
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text().replace("/opt/sessionbot/bin/sessionbot", executable)
        # An instance of the template is what systemd loads; its user must exist here.
        name = unit.name.replace("@.", "@1.")
        (tmp_path / name).write_text(
            text.replace("User=sessionbot", "User=root").replace("Group=sessionbot", "Group=root")
        )
    for unit in sorted(tmp_path.glob("*.service")):
        verified = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        problems = [
            line
            for line in (verified.stdout + verified.stderr).splitlines()
            if "sessionbot-migrate.service" not in line or "not found" not in line
        ]
        assert verified.returncode == 0 and problems == [], verified.stderr
        assert "Hardening" not in verified.stderr
    template = (DEPLOY / "systemd" / "sessionbot@.service").read_text()
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes"):
        assert setting in template
    assert "PrivateTmp=yes" in template and "StateDirectory=sessionbot" in template
    assert "Restart=on-failure" in template and "EnvironmentFile=/etc/sessionbot/env" in template


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.e2e
@pytest.mark.postgres
async def test_the_wheel_in_a_fresh_environment_serves_readyz_on_postgresql(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "tests", "bench"),
    )
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    await run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)
    )
    await run(sys.executable, "-m", "venv", str(venv))
    await run(str(venv / "bin" / "pip"), "install", "-q", *map(str, wheels.glob("*.whl")))
    port = free_port()
    async with postgres_database() as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONBOT_")}
        env |= {
            "SESSIONBOT_CONFIG": str(DEPLOY / "config.toml"),
            "SESSIONBOT_STORAGE__URL": url,
            "SESSIONBOT_MASTER_KEY": generate_master_key(),
            "SESSIONBOT_API__LISTEN": "127.0.0.1",
            "SESSIONBOT_API__PORT": str(port),
        }
        sessionbot = str(venv / "bin" / "sessionbot")
        await run(sessionbot, "db", "upgrade", env=env)  # the migrate service
        bot = await asyncio.create_subprocess_exec(
            sessionbot, "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
        )
        try:
            async with httpx.AsyncClient() as client:
                for _ in range(300):
                    try:
                        ready = await client.get(f"http://127.0.0.1:{port}/readyz")
                        if ready.status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert bot.returncode is None
                    await asyncio.sleep(0.2)
                assert ready.status_code == 200, ready.text
        finally:
            bot.terminate()
            _, err = await asyncio.wait_for(bot.communicate(), 60)
        assert bot.returncode == 0, err.decode()


async def run(*command: str, env: dict[str, str] | None = None) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 600)
    assert process.returncode == 0, (out + err).decode()[-2000:]
