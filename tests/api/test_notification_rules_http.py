"""Notification rules and shift reminders over real HTTP: create, list, move, delete, the member-key
rule and error bodies shaped like the contact methods' ones."""

from __future__ import annotations

from tests.api.conftest import Live
from tests.api.test_contact_methods import cm_path, member
from tests.api.test_http import data, error

NR = "/v1/users/{}/notification-rules"


def test_rules_round_trip(live: Live) -> None:
    a = data(live.client.post(cm_path(live.admin_id), json={"channel": "log"}), 201)["id"]
    b = data(live.client.post(cm_path(live.admin_id), json={"channel": "log"}), 201)["id"]
    path = NR.format(live.admin_id)
    first = data(live.client.post(path, json={"urgency": "high", "contactMethodId": a}), 201)
    second = data(
        live.client.post(path, json={"urgency": "high", "contactMethodId": b, "delayMinutes": 2}), 201
    )
    assert (first["step"], first["delayMinutes"], second["step"], second["delayMinutes"]) == (0, 0, 1, 2)
    listed = data(live.client.get(path))
    assert listed == {"high": [first, second], "low": []}
    moved = data(live.client.post(f"{path}/{second['id']}/move", json={"direction": "up"}))
    assert [(s["contactMethodId"], s["delayMinutes"]) for s in moved["high"]] == [(b, 0), (a, 2)]
    assert live.client.delete(f"{path}/{first['id']}").status_code == 204
    assert len(data(live.client.get(path))["high"]) == 1


def test_rule_errors(live: Live) -> None:
    a = data(live.client.post(cm_path(live.admin_id), json={"channel": "log"}), 201)["id"]
    path = NR.format(live.admin_id)
    body = error(
        live.client.post(path, json={"urgency": "soon", "contactMethodId": a}), 422, "validation_error"
    )
    assert "urgency" in body["message"]
    body = error(
        live.client.post(path, json={"urgency": "high", "contactMethodId": "cm_nope"}),
        422,
        "validation_error",
    )
    assert "contactMethodId" in body["message"]
    body = error(
        live.client.post(path, json={"urgency": "high", "contactMethodId": a, "delayMinutes": 1441}),
        422,
        "validation_error",
    )
    assert "delayMinutes" in body["message"]
    step = data(live.client.post(path, json={"urgency": "low", "contactMethodId": a}), 201)
    error(live.client.post(f"{path}/{step['id']}/move", json={"direction": "down"}), 400, "cannot_move")
    error(live.client.delete(f"{path}/nr_nope"), 404, "not_found")
    error(live.client.get(NR.format("user_nope")), 404, "not_found")


def test_a_member_key_manages_only_its_own_rules(live: Live) -> None:
    user, client = member(live)
    mine = data(client.post(cm_path(user["id"]), json={"channel": "log"}), 201)["id"]
    assert data(client.post(NR.format(user["id"]), json={"urgency": "high", "contactMethodId": mine}), 201)
    error(client.get(NR.format(live.admin_id)), 401, "not_authorized")


def test_shift_reminders_settings(live: Live) -> None:
    path = f"/v1/users/{live.admin_id}/shift-reminders"
    empty = data(live.client.get(path))
    assert empty == {
        "userId": live.admin_id,
        "beforeMinutes": None,
        "atStart": False,
        "atEnd": False,
        "nextReminder": None,
        "sent": [],
    }
    changed = data(live.client.patch(path, json={"beforeMinutes": 120, "atEnd": True}))
    assert (changed["beforeMinutes"], changed["atStart"], changed["atEnd"]) == (120, False, True)
    assert data(live.client.patch(path, json={"beforeMinutes": None}))["beforeMinutes"] is None
    body = error(live.client.patch(path, json={"beforeMinutes": 0}), 422, "validation_error")
    assert "beforeMinutes" in body["message"]
