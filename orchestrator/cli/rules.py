"""`orchestrator rules ...`: recording rules (automatic recording) over the REST API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from .client import JsonOpt, UrlOpt, call, client, console, err, print_json, print_result, table

rules_app = typer.Typer(help="Recording rules: record matching rooms as they start.", no_args_is_help=True)
RuleRef = Annotated[str, typer.Argument(metavar="ID_OR_NAME", help="The rule's id or name.")]


def _rules_table(items: list[dict[str, Any]]) -> Any:
    out = table("id", "name", "enabled", "priority", "match", "actions")
    for r in items:
        m = r["match"]
        match = " ".join(filter(None, [m["room_name_glob"], f"/{m['room_name_regex']}/" if m["room_name_regex"] else "",
                                       json.dumps(m["metadata"]) if m["metadata"] else ""]))
        match = match or ("every room" if m.get("all_rooms", True) else "-")
        actions = ", ".join(k for k, v in r["actions"].items() if v)
        out.add_row(r["id"], r["name"], "yes" if r["enabled"] else "no", str(r["priority"]), match, actions)
    return out


@rules_app.command("list")
def rules_list(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Every rule, highest priority first."""
    result = call(url, "GET", "/v1/rules")
    print_result(result, as_json, _rules_table(result["items"]))


@rules_app.command("add")
def rules_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A name for the rule.")],
    glob: Annotated[str, typer.Option("--glob", help="Room name glob, e.g. 'class-*'.")] = "",
    regex: Annotated[str, typer.Option("--regex", help="Room name regular expression.")] = "",
    metadata: Annotated[str | None, typer.Option(help="JSON object the room metadata must contain.")] = None,
    all_rooms: Annotated[bool, typer.Option("--all-rooms", help="Match every room (instead of a match).")] = False,
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
        err.print("[red]--metadata must be JSON, e.g. '{\"recording\": true}'")
        raise typer.Exit(2) from None
    body = {"name": name, "enabled": not disabled, "priority": priority, "actions": actions,
            "match": {"room_name_glob": glob, "room_name_regex": regex, "metadata": meta,
                      **({"all_rooms": True} if all_rooms else {})},
            "participants_filter": {"include": include or [], "exclude": exclude or []}}
    result = call(url, "POST", "/v1/rules", json=body)
    print_result(result, as_json, _rules_table([result]))


@rules_app.command("show")
def rules_show(ref: RuleRef, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """One rule by id or name."""
    result = call(url, "GET", f"/v1/rules/{ref}")
    if as_json:
        print_json(result)
        return
    console.print(_rules_table([result]))
    console.print_json(json.dumps({k: result[k] for k in ("match", "actions", "participants_filter")}))


@rules_app.command("enable")
def rules_enable(ref: RuleRef, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Enable a rule."""
    result = call(url, "PATCH", f"/v1/rules/{ref}", json={"enabled": True})
    print_result(result, as_json, _rules_table([result]))


@rules_app.command("disable")
def rules_disable(ref: RuleRef, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Disable a rule; what it already records goes on."""
    result = call(url, "PATCH", f"/v1/rules/{ref}", json={"enabled": False})
    print_result(result, as_json, _rules_table([result]))


@rules_app.command("delete")
def rules_delete(ref: RuleRef, url: UrlOpt = None) -> None:
    """Delete a rule."""
    try:
        with client(url) as http:
            response = http.delete(f"/v1/rules/{ref}")
    except Exception:
        err.print("[red]Cannot reach the service. Is `orchestrator serve` running?")
        raise typer.Exit(3) from None
    if response.status_code != 204:
        err.print(f"[red]{response.status_code}: {response.text[:300]}")
        raise typer.Exit(1)
    console.print(f"rule {ref} deleted")
