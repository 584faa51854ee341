"""`orchestrator sessions ...`: room sessions, what was recorded and why, over the REST API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .client import JsonOpt, UrlOpt, call, console, print_json, print_result, table
from .times import shown

sessions_app = typer.Typer(help="Room sessions: what was recorded and why.", no_args_is_help=True)


def _sessions_table(items: list[dict[str, Any]]) -> Any:
    out = table("room_sid", "room", "started", "ended", "late", "rules", "recordings", "gaps")
    for s in items:
        recs = _counts(s["recordings"])
        out.add_row(s["room_sid"], s["room_name"], shown(s["started_at"]), shown(s["ended_at"]),
                      "yes" if s["started_late"] else "", ", ".join(m["rule_name"] for m in s["matches"]) or "-",
                      recs or "-", ", ".join(f"{g['seconds']}s after part {g['after_part']}" for g in s["gaps"]))
    return out


def _counts(recordings: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in recordings:
        counts[r["action"]] = counts.get(r["action"], 0) + 1
    return ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))


@sessions_app.command("list")
def sessions_list(
    room: Annotated[str | None, typer.Option("--room")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only sessions still running.")] = False,
    limit: int = 50,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Room sessions, newest first."""
    params: dict[str, Any] = {"limit": limit, "open": open_only}
    if room:
        params["room_name"] = room
    result = call(url, "GET", "/v1/sessions", params=params)
    print_result(result, as_json, _sessions_table(result["items"]))


@sessions_app.command("show")
def sessions_show(
    room_sid: Annotated[str, typer.Argument(metavar="ROOM_SID", help="The session's room sid.")],
    url: UrlOpt = None, as_json: JsonOpt = False,
) -> None:
    """One session: the rules that matched and every recording with its egress."""
    result = call(url, "GET", f"/v1/sessions/{room_sid}")
    if as_json:
        print_json(result)
        return
    console.print(_sessions_table([result]))
    for m in result["matches"]:
        console.print(f"rule {m['rule_name']}: {m['reason']}")
    recordings = table("action", "subject", "part", "state", "egress_id", "status", "file", "error")
    for r in result["recordings"]:
        e = r["egress"] or {}
        outputs = e.get("outputs") or [{}]
        recordings.add_row(r["action"], r["subject"] or "-", str(r["part"]), r["state"], e.get("egress_id") or "-",
                      e.get("status", "-"), outputs[0].get("filepath") or outputs[0].get("filename_prefix") or "-",
                      (r["error"] or e.get("error") or "")[:60])
    console.print(recordings)
