"""The real Prometheus Alertmanager, pointed at a real ``oncall serve``: one incident per alert group that
pages layer 1, grows as the group changes, and resolves when the alerts clear; a maintenance window holds
the page.

Alertmanager is Debian's ``prometheus-alertmanager`` (``.ci/run`` installs it). It runs on loopback with
clustering off, ``group_wait``/``group_interval`` of 1 s, so each step is seen within seconds. Alerts are
fired and resolved through its HTTP API (``POST /api/v2/alerts``; an ``endsAt`` in the past resolves).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.clock import WallClock
from tests.alerts.helpers import wait_for
from tests.api.conftest import ServeProcess, start_serve, stop_serve

BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")


def _binary() -> str | None:
    for name in BINARY_NAMES:
        found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Alertmanager:
    def __init__(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.proc = proc
        self.client = httpx.Client(base_url=url, timeout=10)

    def fire(self, alertname: str, instance: str, *, resolve: bool = False) -> None:
        now = WallClock().now()  # Alertmanager runs on the machine's wall time
        alert: dict[str, Any] = {
            "labels": {"alertname": alertname, "instance": instance, "severity": "critical", "team": "db"},
            "annotations": {"summary": f"{alertname} on {instance}"},
            "generatorURL": "http://prometheus.local:9090/graph?g0.expr=up",
            "startsAt": (now - timedelta(minutes=1)).isoformat(),
        }
        if resolve:
            alert["endsAt"] = (now - timedelta(seconds=1)).isoformat()
        r = self.client.post("/api/v2/alerts", json=[alert])
        assert r.status_code == 200, r.text


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    server = start_serve(tmp_path / "am.db")
    try:
        yield server
    finally:
        stop_serve(server)


def _start_alertmanager(tmp_path: Path, receive_url: str) -> Alertmanager:
    binary = _binary()
    if binary is None:
        if os.environ.get("CI"):
            raise AssertionError("prometheus-alertmanager is not installed; .ci/run installs it")
        pytest.skip("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: oncall\n"
        "  group_by: [alertname]\n"
        "  group_wait: 1s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: oncall\n"
        "    webhook_configs:\n"
        f"      - url: {receive_url}\n"
        "        send_resolved: true\n"
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "alertmanager.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    am = Alertmanager(f"http://127.0.0.1:{port}", proc)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "alertmanager.log").read_text())
        try:
            return am.client.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 30, "Alertmanager to start")
    return am


def _stop(am: Alertmanager) -> None:
    am.client.close()
    am.proc.terminate()
    try:
        am.proc.wait(10)
    except subprocess.TimeoutExpired:
        am.proc.kill()
        am.proc.wait(5)


def _setup(serve: ServeProcess) -> tuple[httpx.Client, str]:
    api = httpx.Client(base_url=serve.url, headers={"Authorization": f"Bearer {serve.key}"}, timeout=10)
    pol = api.post("/v1/escalation/policies", json={"name": "Databases"}).json()["data"]
    layer = {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": [serve.admin_id]}}
    assert api.post(f"/v1/escalation/policies/{pol['id']}/layers", json=layer).status_code == 201
    created = api.post(
        "/v1/integrations/inbound",
        json={"name": "prometheus", "kind": "alertmanager", "escalationPolicyId": pol["id"]},
    ).json()["data"]
    return api, serve.url + created["receivePath"]


def _incidents(api: httpx.Client) -> list[dict[str, Any]]:
    return list(api.get("/v1/incidents", params={"limit": 100}).json()["data"]["incidents"])


def _summary(api: httpx.Client, incident_id: str) -> dict[str, Any]:
    return dict(api.get(f"/v1/incidents/{incident_id}/alerts").json()["data"])


def _kinds(api: httpx.Client, incident_id: str) -> list[str]:
    return [e["kind"] for e in api.get(f"/v1/incidents/{incident_id}").json()["data"]["timeline"]]


@pytest.mark.slow
def test_a_real_alertmanager_group_opens_pages_grows_and_resolves_one_incident(
    tmp_path: Path, serve: ServeProcess
) -> None:
    api, receive_url = _setup(serve)
    am = _start_alertmanager(tmp_path, receive_url)
    try:
        am.fire("DiskFull", "db-1")
        (incident,) = wait_for(lambda: _incidents(api), what="the group's incident")
        assert incident["severity"] == "critical" and incident["title"] == "DiskFull on db-1"
        assert "layer_paged" in _kinds(api, incident["id"])
        am.fire("DiskFull", "db-2")  # same group: the incident grows
        summary = wait_for(
            lambda: (s := _summary(api, incident["id"]))["firing"] == 2 and s, what="the second alert"
        )
        assert summary["labels"] == {"alertname": "DiskFull", "severity": "critical", "team": "db"}
        assert summary["links"][0]["href"].startswith("http://prometheus.local:9090")
        assert len(_incidents(api)) == 1
        am.fire("DiskFull", "db-1", resolve=True)
        am.fire("DiskFull", "db-2", resolve=True)
        done = wait_for(
            lambda: (
                (i := api.get(f"/v1/incidents/{incident['id']}").json()["data"])["status"] == "resolved" and i
            ),
            what="the incident to resolve",
        )
        assert "every alert of this incident cleared" in done["statusHistory"][-1]["resolutionNote"]
        assert len(_incidents(api)) == 1
        assert _kinds(api, incident["id"]).count("layer_paged") == 1
    finally:
        _stop(am)
        api.close()


@pytest.mark.slow
def test_a_maintenance_window_holds_the_page_until_it_ends(tmp_path: Path, serve: ServeProcess) -> None:
    api, receive_url = _setup(serve)
    window = api.post("/v1/maintenance-windows", json={"scope": "org", "durationMinutes": 60}).json()["data"]
    am = _start_alertmanager(tmp_path, receive_url)
    try:
        am.fire("ReplicaLag", "db-3")
        (incident,) = wait_for(lambda: _incidents(api), what="the held incident")
        assert "paging_held" in _kinds(api, incident["id"])
        assert "layer_paged" not in _kinds(api, incident["id"])
        assert api.post(f"/v1/maintenance-windows/{window['id']}/end").status_code == 200
        assert "layer_paged" in _kinds(api, incident["id"])  # still firing: escalation starts at the end
    finally:
        _stop(am)
        api.close()
