"""`orchestrator rules ...` and `orchestrator sessions ...`: automatic recording over the REST API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

rules_app = typer.Typer(help="Recording rules: record matching rooms as they start.", no_args_is_help=True)
sessions_app = typer.Typer(help="Room sessions: what was recorded and why.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
UrlOpt = Annotated[str | None, typer.Option("--url", envvar="ORCHESTRATOR_PUBLIC_URL",
                                            help="The service's base URL.")]


def _call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    from orchestrator import cli

    return cli._call(url, method, path, **kwargs)


def _print(result: Any, as_json: bool, table: Table) -> None:
    from orchestrator.cli import console

    if as_json:
        console.print_json(json.dumps(result))
    else:
        console.print(table)


def _rules_table(items: list[dict[str, Any]]) -> Table:
    table = Table("id", "name", "enabled", "priority", "match", "actions")
    for r in items:
        m = r["match"]
        match = " ".join(filter(None, [m["room_name_glob"], f"/{m['room_name_regex']}/" if m["room_name_regex"] else "",
                                       json.dumps(m["metadata"]) if m["metadata"] else ""])) or "every room"
        actions = ", ".join(k for k, v in r["actions"].items() if v)
        table.add_row(r["id"], r["name"], "yes" if r["enabled"] else "no", str(r["priority"]), match, actions)
    return table


@rules_app.command("list")
def rules_list(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Every rule, highest priority first."""
    result = _call(url, "GET", "/v1/rules")
    _print(result, as_json, _rules_table(result["items"]))


@rules_app.command("add")
def rules_add(
    name: str,
    glob: Annotated[str, typer.Option("--glob", help="Room name glob, e.g. 'class-*'.")] = "",
    regex: Annotated[str, typer.Option("--regex", help="Room name regular expression.")] = "",
    metadata: Annotated[str | None, typer.Option(help="JSON object the room metadata must contain.")] = None,
    composite: Annotated[bool, typer.Option("--composite/--no-composite", help="Record the room composite.")] = True,
    layout: Annotated[str, typer.Option(help="grid, speaker, gallery, active-speaker, crop...")] = "grid",
    s3: Annotated[str | None, typer.Option("--s3", help="Composite MP4 path template.")] = None,
    hls: Annotated[str | None, typer.Option("--hls", help="Composite HLS prefix template.")] = None,
    tracks: Annotated[bool, typer.Option("--tracks", help="Record every published track.")] = False,
    participants: Annotated[bool, typer.Option("--participants", help="One recording per participant.")] = False,
    include: Annotated[list[str] | None, typer.Option("--include", help="Identity glob (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Identity glob (repeatable).")] = None,
    priority: int = 0,
    disabled: Annotated[bool, typer.Option("--disabled")] = False,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a rule."""
    actions: dict[str, Any] = {}
    if composite:
        outputs: list[dict[str, Any]] = []
        if s3 is not None or hls is None:
            outputs.append({"type": "s3", **({"filepath": s3} if s3 else {})})
        if hls is not None:
            outputs.append({"type": "hls", **({"filename_prefix": hls} if hls else {})})
        actions["composite"] = {"layout": layout, "outputs": outputs}
    if tracks:
        actions["tracks"] = {}
    if participants:
        actions["participants"] = {}
    try:
        meta = json.loads(metadata) if metadata is not None else None
    except ValueError:
        from orchestrator.cli import err

        err.print("[red]--metadata must be JSON, e.g. '{\"recording\": true}'")
        raise typer.Exit(2) from None
    body = {"name": name, "enabled": not disabled, "priority": priority, "actions": actions,
            "match": {"room_name_glob": glob, "room_name_regex": regex, "metadata": meta},
            "participants_filter": {"include": include or [], "exclude": exclude or []}}
    result = _call(url, "POST", "/v1/rules", json=body)
    _print(result, as_json, _rules_table([result]))


@rules_app.command("show")
def rules_show(ref: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """One rule by id or name."""
    result = _call(url, "GET", f"/v1/rules/{ref}")
    if as_json:
        _print(result, True, Table())
        return
    from orchestrator.cli import console

    console.print(_rules_table([result]))
    console.print_json(json.dumps({k: result[k] for k in ("match", "actions", "participants_filter")}))


@rules_app.command("enable")
def rules_enable(ref: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Enable a rule."""
    result = _call(url, "PATCH", f"/v1/rules/{ref}", json={"enabled": True})
    _print(result, as_json, _rules_table([result]))


@rules_app.command("disable")
def rules_disable(ref: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Disable a rule; what it already records goes on."""
    result = _call(url, "PATCH", f"/v1/rules/{ref}", json={"enabled": False})
    _print(result, as_json, _rules_table([result]))


@rules_app.command("delete")
def rules_delete(ref: str, url: UrlOpt = None) -> None:
    """Delete a rule."""
    from orchestrator import cli

    try:
        with cli._client(url) as client:
            response = client.delete(f"/v1/rules/{ref}")
    except Exception:
        cli.err.print("[red]Cannot reach the service. Is `orchestrator serve` running?")
        raise typer.Exit(3) from None
    if response.status_code != 204:
        cli.err.print(f"[red]{response.status_code}: {response.text[:300]}")
        raise typer.Exit(1)
    cli.console.print(f"rule {ref} deleted")


def _sessions_table(items: list[dict[str, Any]]) -> Table:
    table = Table("room_sid", "room", "started", "ended", "late", "rules", "recordings", "gaps")
    for s in items:
        recs = _counts(s["recordings"])
        table.add_row(s["room_sid"], s["room_name"], s["started_at"][:19], (s["ended_at"] or "-")[:19],
                      "yes" if s["started_late"] else "", ", ".join(m["rule_name"] for m in s["matches"]) or "-",
                      recs or "-", ", ".join(f"{g['seconds']}s after part {g['after_part']}" for g in s["gaps"]))
    return table


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
    result = _call(url, "GET", "/v1/sessions", params=params)
    _print(result, as_json, _sessions_table(result["items"]))


@sessions_app.command("show")
def sessions_show(room_sid: str, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """One session: the rules that matched and every recording with its egress."""
    result = _call(url, "GET", f"/v1/sessions/{room_sid}")
    if as_json:
        _print(result, True, Table())
        return
    from orchestrator.cli import console

    console.print(_sessions_table([result]))
    for m in result["matches"]:
        console.print(f"rule {m['rule_name']}: {m['reason']}")
    table = Table("action", "subject", "part", "state", "egress", "status", "file", "error")
    for r in result["recordings"]:
        e = r["egress"] or {}
        outputs = e.get("outputs") or [{}]
        table.add_row(r["action"], r["subject"] or "-", str(r["part"]), r["state"], e.get("egress_id") or "-",
                      e.get("status", "-"), outputs[0].get("filepath") or outputs[0].get("filename_prefix") or "-",
                      (r["error"] or e.get("error") or "")[:60])
    console.print(table)
