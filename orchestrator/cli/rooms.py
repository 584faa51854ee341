"""`orchestrator rooms create`: create a LiveKit room, recorded from its first second by a rule's auto egress."""

from __future__ import annotations

from typing import Annotated

import typer

from .client import JsonOpt, UrlOpt, call, console, print_result, table

rooms_app = typer.Typer(help="LiveKit rooms (created through the service, so a rule can record them).",
                        no_args_is_help=True)


@rooms_app.command("create")
def rooms_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The room's name.")],
    metadata: Annotated[str, typer.Option(help="Room metadata (rules can match on its JSON).")] = "",
    rule: Annotated[str | None, typer.Option(help="Rule id or name; default: the best matching rule.")] = None,
    empty_timeout: Annotated[int, typer.Option(help="Seconds an empty room stays open (0: LiveKit's default).")]
    = 0,
    departure_timeout: Annotated[int, typer.Option(help="Seconds after the last participant left (0: default).")]
    = 0,
    url: UrlOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create a room now (an existing room is returned as it is, with no second recording)."""
    body = {"name": name, "metadata": metadata, "rule": rule, "empty_timeout": empty_timeout,
            "departure_timeout": departure_timeout}
    result = call(url, "POST", "/v1/rooms", json=body)
    shown = table("name", "sid", "rule", "auto egress")
    shown.add_row(result["name"], result["sid"], result["rule_name"] or "-", "yes" if result["auto_egress"] else "no")
    print_result(result, as_json, shown)
    if not as_json and not result["auto_egress"]:
        console.print("no rule with a composite matches this room: nothing records it from the start")
