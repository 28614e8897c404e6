"""Post an admin form back as a browser would: every field exactly as the page shows it."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from django.test import Client


class _FormFields(HTMLParser):
    """The successful controls of a page's forms, in order (name -> values)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.data: dict[str, list[str]] = {}
        self.select: str | None = None
        self.textarea: str | None = None
        self.text: list[str] = []

    def add(self, name: str, value: str) -> None:
        if "__prefix__" not in name:  # the template row for "add another"
            self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        name = attr.get("name")
        if tag == "input" and name:
            kind = attr.get("type", "text")
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attr:
                return
            self.add(name, attr.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select" and name:
            self.select = name
        elif tag == "option" and self.select and "selected" in attr:
            self.add(self.select, attr.get("value", ""))
        elif tag == "textarea" and name:
            self.textarea, self.text = name, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea:
            text = "".join(self.text)
            # Browsers drop the newline that follows <textarea>, and send CRLF line ends.
            text = text.removeprefix("\n").replace("\r\n", "\n").replace("\n", "\r\n")
            self.add(self.textarea, text)
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.text.append(data)


def form_data(html: str) -> dict[str, Any]:
    parser = _FormFields()
    parser.feed(html)
    return {name: values if len(values) > 1 else values[0] for name, values in parser.data.items()}


def post_back(client: Client, url: str, **changes: Any) -> Any:
    """GET ``url``, POST its form back with ``changes`` applied; the POST's response."""
    page = client.get(url)
    assert page.status_code == 200
    data = form_data(page.content.decode())
    data.pop("csrfmiddlewaretoken", None)
    data.update(changes)
    data["_save"] = "Save"
    return client.post(url, data)
