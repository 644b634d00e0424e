"""The configuration promises: an embedded default that needs no server, real servers when
configured, production settings that refuse to run unsafely, and no CDN anywhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import OperationalError, close_old_connections, connection

from monitoring.models import Party
from monitoring.services import record_upsert

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, config.settings as s; "
    "d = s.DATABASES['default']; "
    "print(json.dumps({'engine': d['ENGINE'], 'options': d.get('OPTIONS', {}), "
    "'broker': s.CELERY_BROKER_URL, 'transport': s.CELERY_BROKER_TRANSPORT_OPTIONS, "
    "'debug': s.DEBUG}))"
)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "CELERY_", "SQLITE_"))
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def probe(**env: str) -> dict:
    import json

    result = run_python(PROBE, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_no_environment_is_the_embedded_default(tmp_path):
    settings = probe(CEASEFIRE_VAR_DIR=str(tmp_path))
    assert settings["debug"] is True
    assert settings["engine"] == "django.db.backends.sqlite3"
    assert settings["options"]["transaction_mode"] == "IMMEDIATE"
    assert settings["options"]["timeout"] >= 20
    assert "journal_mode=WAL" in settings["options"]["init_command"]
    assert settings["broker"] == "filesystem://"
    assert settings["transport"]["data_folder_in"].startswith(str(tmp_path))
    assert (tmp_path / "celery" / "queue").is_dir()


def test_database_url_and_broker_url_switch_to_real_servers(tmp_path):
    settings = probe(
        CEASEFIRE_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://monitor:secret@db.internal:5432/ceasefire",
        CELERY_BROKER_URL="redis://redis.internal:6379/0",
    )
    assert settings["engine"] == "django.db.backends.postgresql"
    assert settings["broker"] == "redis://redis.internal:6379/0"
    # Filing a report must never hang on a broker that is down: short timeouts.
    assert settings["transport"]["socket_connect_timeout"] <= 5


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_python(PROBE, DJANGO_DEBUG="false", CEASEFIRE_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_a_malformed_boolean_is_refused_with_its_name(tmp_path):
    result = run_python(PROBE, DJANGO_DEBUG="maybe", CEASEFIRE_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


def test_production_settings_pass_the_deployment_checklist(tmp_path):
    env = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "a-long-random-production-secret-" + "x7Qp2" * 10,
        "DJANGO_ALLOWED_HOSTS": "monitor.example.org",
        "CEASEFIRE_VAR_DIR": str(tmp_path),
    }
    code = (
        "import sys; from django.core.management import execute_from_command_line; "
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])"
    )
    result = run_python(code, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # ...and the same check fails where it should: debug on is not deployable.
    failing = run_python(code, **{**env, "DJANGO_DEBUG": "true"})
    assert failing.returncode != 0


EXTERNAL = re.compile(r"""(?:src|href|url)\s*[=(]\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_no_template_or_asset_of_ours_loads_anything_from_elsewhere():
    """Leaflet, htmx and the API docs' assets are served by the app; nothing links out."""
    offenders = []
    for folder in ("templates", "static"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".html", ".js", ".css"}:
                for number, line in enumerate(path.read_text().splitlines(), 1):
                    if EXTERNAL.search(line):
                        offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_wait_instead_of_failing():
    """Four threads write at once (WAL + IMMEDIATE + busy timeout on SQLite; row locks on
    PostgreSQL): every write lands, none fails with "database is locked"."""
    errors: list[BaseException] = []
    per_thread = 15

    def writer(number: int) -> None:
        try:
            for i in range(per_thread):
                record_upsert(
                    model=Party,
                    lookup={"code": f"writer-{number}-{i}"},
                    values={"name": f"Writer {number} record {i}", "kind": "state"},
                    actor=None,
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not [e for e in errors if isinstance(e, OperationalError)], errors
    assert errors == []
    assert Party.objects.filter(code__startswith="writer-").count() == 4 * per_thread


SECURITY_PROBE = (
    "import json, config.settings as s; "
    "print(json.dumps({'limit': s.AXES_FAILURE_LIMIT, "
    "'cooloff': s.AXES_COOLOFF_TIME.total_seconds(), 'proxies': s.TRUSTED_PROXIES, "
    "'drf_proxies': s.REST_FRAMEWORK['NUM_PROXIES'], "
    "'roles': sorted(s.TWO_FACTOR_ROLES), "
    "'cache': s.CACHES['default']['BACKEND'] if hasattr(s, 'CACHES') else None}))"
)


def test_login_and_cache_settings_read_the_environment(tmp_path):
    import json

    defaults = run_python(SECURITY_PROBE, CEASEFIRE_VAR_DIR=str(tmp_path))
    assert defaults.returncode == 0, defaults.stderr
    assert json.loads(defaults.stdout) == {
        "limit": 5,
        "cooloff": 900.0,
        "proxies": 0,
        "drf_proxies": 0,
        "roles": ["administrator", "coordinator"],
        "cache": None,
    }
    chosen = run_python(
        SECURITY_PROBE,
        CEASEFIRE_VAR_DIR=str(tmp_path),
        CEASEFIRE_LOGIN_FAILURE_LIMIT="3",
        CEASEFIRE_LOGIN_COOLOFF_MINUTES="60",
        CEASEFIRE_TRUSTED_PROXIES="1",
        CEASEFIRE_TWO_FACTOR_ROLES="coordinator, administrator, observer",
        CACHE_URL="redis://127.0.0.1:6379/1",
    )
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout) == {
        "limit": 3,
        "cooloff": 3600.0,
        "proxies": 1,
        "drf_proxies": 1,
        "roles": ["administrator", "coordinator", "observer"],
        "cache": "django.core.cache.backends.redis.RedisCache",
    }


def test_no_role_needs_a_second_factor_when_told_none(tmp_path):
    import json

    result = run_python(
        SECURITY_PROBE, CEASEFIRE_VAR_DIR=str(tmp_path), CEASEFIRE_TWO_FACTOR_ROLES="none"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["roles"] == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CEASEFIRE_LOGIN_FAILURE_LIMIT", "0"),
        ("CEASEFIRE_LOGIN_COOLOFF_MINUTES", "0"),
        ("CEASEFIRE_TRUSTED_PROXIES", "-1"),
        ("CEASEFIRE_TWO_FACTOR_ROLES", "coordinator,superhero"),
        ("CACHE_URL", "memcached://127.0.0.1:11211"),
    ],
)
def test_bad_login_and_cache_settings_are_refused_by_name(tmp_path, name, value):
    result = run_python(SECURITY_PROBE, CEASEFIRE_VAR_DIR=str(tmp_path), **{name: value})
    assert result.returncode != 0
    assert name in result.stderr


def test_a_shared_cache_counts_a_tokens_requests_across_processes(redis_server, tmp_path):
    """With CACHE_URL on Redis, two processes (two gunicorn workers, say) see one count."""
    key = f"hits-{tmp_path.name}"
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
        "django.setup(); from django.core.cache import cache; "
        f"print(cache.incr({key!r}) if cache.get({key!r}) is not None else cache.add({key!r}, 1))"
    )
    outputs = [
        run_python(code, CEASEFIRE_VAR_DIR=str(tmp_path), CACHE_URL=redis_server.url)
        for _ in range(3)
    ]
    assert [o.returncode for o in outputs] == [0, 0, 0], outputs[0].stderr
    assert [o.stdout.strip() for o in outputs] == ["True", "2", "3"]
