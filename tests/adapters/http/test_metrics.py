"""``/metrics``: values move as messages, commands and resets happen (read by prometheus-client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from core import ManualClock
from core.sessions.resets import ResetRules
from tests.adapters.http.conftest import Api, running_api
from tests.core.conftest import opened

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(api: Api, headers: dict[str, str]) -> Samples:
    response = await api.client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_with_messages_commands_and_resets(api: Api) -> None:
    admin = await api.key("ops", admin=True)
    alice = await api.key("alice")
    before = await scrape(api, admin)
    created = await api.client.post("/api/sessions", json={"userId": "alice"}, headers=alice)
    session_id = created.json()["sessionId"]
    url = f"/api/sessions/{session_id}/messages"
    for text in ("one", "two", "/help", "/checkpoint restore nosuch", "/new"):
        assert (
            await api.client.post(url, json={"content": text}, headers=alice)
        ).status_code == 200
    after = await scrape(api, admin)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("sessionbot_messages_received_total", platform="api") == 5
    assert moved("sessionbot_replies_sent_total", platform="api") == 5
    assert moved("sessionbot_reply_seconds_count", platform="api") == 5
    assert moved("sessionbot_responder_seconds_count", responder="echo") == 2
    assert moved("sessionbot_commands_total", command="/help", outcome="ok") == 1
    assert moved("sessionbot_commands_total", command="/checkpoint restore", outcome="error") == 1
    assert moved("sessionbot_commands_total", command="/new", outcome="ok") == 1
    assert moved("sessionbot_resets_total", kind="new") == 1
    assert moved("sessionbot_store_append_seconds_count") == 4
    assert value(after, "sessionbot_active_sessions") == 1
    assert value(after, "sessionbot_adapter_up", adapter="api") == 1
    assert value(after, "sessionbot_adapter_restarts_total", adapter="api") == 0
    assert value(after, "sessionbot_store_append_transactions_total") >= 1
    assert value(after, "sessionbot_live_conversations") >= 0


async def test_metrics_need_an_admin_key_and_can_be_off(api: Api) -> None:
    alice = await api.key("alice")
    assert (await api.client.get("/metrics")).status_code == 401
    assert (await api.client.get("/metrics", headers=alice)).status_code == 403


async def test_metrics_off_answers_404(tmp_path: Path) -> None:
    async with opened("sqlite", tmp_path) as store, running_api(store, metrics=False) as api:
        response = await api.client.get("/metrics", headers=await api.key("ops", admin=True))
        assert response.status_code == 404
        assert "metrics are off" in response.json()["error"]["message"]


async def test_scheduled_and_lazy_resets_are_counted_by_kind(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 5, 1, 10, 0, tzinfo=UTC))
    options = {
        "clock": clock,
        "reset_rules": ResetRules(daily_reset_time="04:00", idle_reset_minutes=30),
    }
    async with (
        opened("sqlite", tmp_path) as store,
        running_api(store, manager_options=options) as api,
    ):
        admin = await api.key("ops", admin=True)
        alice = await api.key("alice")
        first = await api.client.post("/api/sessions", json={"userId": "alice"}, headers=alice)
        detail = first.json()
        assert detail["nextResets"]["idle"] == "2026-05-01T10:30:00.000000Z"
        assert detail["nextResets"]["daily"] == "2026-05-02T04:00:00.000000Z"
        url = f"/api/sessions/{detail['sessionId']}/messages"
        await api.client.post(url, json={"content": "hi"}, headers=alice)
        clock.advance(timedelta(minutes=31))
        assert len(await api.manager.maintenance.archive_idle_sessions()) == 1  # the scheduler
        second = await api.client.post(
            "/api/sessions", json={"userId": "alice", "channelId": "x"}, headers=alice
        )
        await api.client.post(
            f"/api/sessions/{second.json()['sessionId']}/messages",
            json={"content": "a"},
            headers=alice,
        )
        clock.set(datetime(2026, 5, 2, 3, 50, tzinfo=UTC))
        idle = await api.client.post(
            f"/api/sessions/{second.json()['sessionId']}/messages",
            json={"content": "b"},
            headers=alice,
        )
        third = idle.json()["sessionId"]  # idle for 17 hours: a new session, lazily
        assert third != second.json()["sessionId"]
        clock.set(datetime(2026, 5, 2, 4, 5, tzinfo=UTC))
        daily = await api.client.post(
            f"/api/sessions/{third}/messages", json={"content": "c"}, headers=alice
        )
        # The daily reset came due (15 minutes quiet is not idle): a new session, a notice.
        assert daily.json()["sessionId"] != third
        assert len(daily.json()["replies"][0]) > len(daily.json()["reply"]["content"])
        samples = await scrape(api, admin)
        assert value(samples, "sessionbot_resets_total", kind="idle") == 2
        assert value(samples, "sessionbot_resets_total", kind="daily") == 1
