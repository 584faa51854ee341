"""LayoutOptions validation and layout_url (pure; lives here until tests/unit has a home for it)."""

from __future__ import annotations

import pytest

from orchestrator.domain.layouts import (
    BUILTIN_LAYOUTS,
    LAYOUT_NAMES,
    LayoutOptions,
    is_builtin_layout,
    layout_url,
    resolve_layout_name,
)


def test_names() -> None:
    assert LAYOUT_NAMES == ("gallery", "active-speaker", "crop")
    assert set(BUILTIN_LAYOUTS) == {
        "grid", "grid-light", "speaker", "speaker-light", "single-speaker", "single-speaker-light",
    }
    assert is_builtin_layout("speaker-light") and not is_builtin_layout("crop")
    assert resolve_layout_name("crop") == "crop"
    assert resolve_layout_name("speaker-light") == "active-speaker"
    assert resolve_layout_name("grid") == "gallery"
    assert resolve_layout_name("mosaic") is None


def test_layout_url_writes_only_non_default_options() -> None:
    assert layout_url("https://orch.example/", "crop") == "https://orch.example/layouts/crop"
    options = LayoutOptions(background="#112233", theme="light", show_names=False, title="Town hall & Q&A")
    assert layout_url("https://orch.example", "gallery", options) == (
        "https://orch.example/layouts/gallery?background=%23112233&show_names=false"
        "&theme=light&title=Town%20hall%20%26%20Q%26A"
    )


def test_layout_url_refuses_builtin_and_unknown_names() -> None:
    with pytest.raises(ValueError, match="name"):
        layout_url("https://orch.example", "grid")
    with pytest.raises(ValueError, match="public_url"):
        layout_url("orch.example", "crop")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"theme": "sepia"}, "theme"),
        ({"background": "url(x)"}, "background"),
        ({"background": "javascript:alert(1)"}, "background"),
        ({"background": "https://x.example/a b.png"}, "background"),
        ({"background": "#12345"}, "background"),
        ({"show_names": "maybe"}, "show_names"),
        ({"show_non_publishing_participants": "2"}, "show_non_publishing"),
        ({"show_agents": "yes please"}, "show_agents"),
        ({"title": "x" * 201}, "title"),
        ({"title": "bell\x07"}, "title"),
    ],
)
def test_bad_options_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        LayoutOptions.from_query(params)


def test_options_from_query() -> None:
    options = LayoutOptions.from_query(
        {
            "background": "https://cdn.example/bg.jpg?x=1",
            "theme": "Light",
            "show_names": "0",
            "show_non_publishing_participants": "true",
            "title": "",
            "url": "wss://ignored",
            "token": "ignored",
        }
    )
    assert options == LayoutOptions(
        background="https://cdn.example/bg.jpg?x=1", theme="light", show_names=False, show_non_publishing=True
    )
    for colour in ("#fff", "#a1b2c3d4", "rgb(1, 2, 3)", "hsla(10, 50%, 50%, 0.5)", "navy"):
        assert LayoutOptions.from_query({"background": colour}).background == colour
    assert LayoutOptions.from_query({}) == LayoutOptions()
    assert LayoutOptions.from_query(LayoutOptions(title="T", show_agents=True).to_query()) == LayoutOptions(
        title="T", show_agents=True
    )


def test_options_are_frozen_and_validated_on_construction() -> None:
    with pytest.raises(ValueError, match=r"^theme:"):
        LayoutOptions(theme="blue")  # type: ignore[arg-type]
    options = LayoutOptions()
    with pytest.raises(AttributeError):
        options.theme = "light"  # type: ignore[misc]
