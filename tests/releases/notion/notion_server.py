"""A local Notion API (2025-09-03) on 127.0.0.1, for tests and the bench.

Real HTTP in a thread, spoken to through the real ``notion-client`` (``NOTION_BASE_URL``). It
keeps databases, their data sources and pages in memory and answers the endpoints the sync
uses with Notion's documented shapes:

- ``GET /v1/databases/{id}``: the database with its ``data_sources`` list;
- ``GET|PATCH /v1/data_sources/{id}``: the data source and its property schema (a PATCH adds
  properties; ``null`` removes one);
- ``POST /v1/data_sources/{id}/query``: pages not in the trash, 100 at most per call
  (``page_size``), ``start_cursor`` / ``has_more`` / ``next_cursor``, filters ``equals`` and
  ``starts_with`` on a ``rich_text`` property (and ``or`` / ``and`` of them);
- ``POST /v1/pages``, ``GET|PATCH /v1/pages/{id}`` (``in_trash``).

Property values are checked against the schema as Notion does: an unknown property, a value of
the wrong type or a text longer than 2,000 characters is refused with ``400
validation_error``. A rate limit (a token bucket of ``rate`` requests per second, a burst of one
second) answers ``429 rate_limited`` with ``Retry-After``; ``fail_next(status, count)`` makes the
next requests fail (``500`` / ``429`` bursts). Every request is recorded (method, path, body,
status).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

TEXT_LIMIT = 2000
PAGE_SIZE_LIMIT = 100
# The property types the server knows, with the shape of their schema configuration.
VALUE_TYPES = {
    "title",
    "rich_text",
    "select",
    "multi_select",
    "date",
    "url",
    "relation",
    "number",
    "checkbox",
}


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    status: int
    # time.monotonic() when it arrived.
    at: float = field(default_factory=time.monotonic)

    @property
    def is_write(self) -> bool:
        return self.method in {"POST", "PATCH"} and not self.path.endswith("/query")


class NotionRefusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id() -> str:
    return str(uuid.uuid4())


def _rich_text(content: str) -> dict[str, Any]:
    return {
        "type": "text",
        "text": {"content": content, "link": None},
        "annotations": {
            "bold": False,
            "italic": False,
            "strikethrough": False,
            "underline": False,
            "code": False,
            "color": "default",
        },
        "plain_text": content,
        "href": None,
    }


class NotionState:
    """Databases, data sources and pages, with a lock: handler threads share it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.databases: dict[str, dict[str, Any]] = {}
        self.data_sources: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        # Creation order, for stable pagination.
        self.page_order: list[str] = []

    # --- set-up -------------------------------------------------------------------------

    def create_database(self, title: str, properties: dict[str, Any] | None = None) -> str:
        """A database with one data source whose only property is the title ``Name`` (plus
        ``properties``, schema objects by name). Returns the database id."""
        database_id = _new_id()
        source_id = _new_id()
        schema = {"Name": {"id": "title", "name": "Name", "type": "title", "title": {}}}
        for name, config in (properties or {}).items():
            kind = next(iter(config))
            schema[name] = {"id": _new_id()[:4], "name": name, "type": kind, kind: config[kind]}
        self.databases[database_id] = {
            "object": "database",
            "id": database_id,
            "title": [_rich_text(title)],
            "data_sources": [{"id": source_id, "name": title}],
            "created_time": _now(),
            "last_edited_time": _now(),
            "in_trash": False,
            "is_inline": False,
            "parent": {"type": "workspace", "workspace": True},
        }
        self.data_sources[source_id] = {
            "object": "data_source",
            "id": source_id,
            "title": [_rich_text(title)],
            "parent": {"type": "database_id", "database_id": database_id},
            "database_parent": {"type": "workspace", "workspace": True},
            "properties": schema,
            "created_time": _now(),
            "last_edited_time": _now(),
            "in_trash": False,
        }
        return database_id

    def source_of(self, database_id: str) -> str:
        return str(self.databases[database_id]["data_sources"][0]["id"])

    # --- reading, for assertions --------------------------------------------------------

    def live_pages(self, database_id: str) -> list[dict[str, Any]]:
        source = self.source_of(database_id)
        return [
            page
            for page_id in self.page_order
            if (page := self.pages[page_id])["parent"]["data_source_id"] == source
            and not page["in_trash"]
        ]

    def plain(self, page: dict[str, Any]) -> dict[str, Any]:
        """A page's property values, simply: text as a string, select as its name, multi-select
        as a list of names, date as its start, relation as a list of page ids."""
        return {name: plain_value(value) for name, value in page["properties"].items()}

    def by_key(self, database_id: str) -> dict[str, dict[str, Any]]:
        """Live pages of a database by their ``Registry key``."""
        pages: dict[str, dict[str, Any]] = {}
        for page in self.live_pages(database_id):
            values = self.plain(page)
            key = values.get("Registry key") or ""
            assert key not in pages, f"two live pages with the registry key {key!r}"
            pages[key] = values | {"id": page["id"]}
        return pages

    # --- the API ------------------------------------------------------------------------

    def retrieve_database(self, database_id: str) -> dict[str, Any]:
        if database_id not in self.databases:
            raise _not_found(database_id)
        return self.databases[database_id]

    def retrieve_source(self, source_id: str) -> dict[str, Any]:
        if source_id not in self.data_sources:
            raise _not_found(source_id)
        return self.data_sources[source_id]

    def update_source(self, source_id: str, body: dict[str, Any]) -> dict[str, Any]:
        source = self.retrieve_source(source_id)
        for name, config in (body.get("properties") or {}).items():
            if config is None:
                source["properties"].pop(name, None)
                continue
            kinds = [k for k in config if k in VALUE_TYPES]
            if len(kinds) != 1:
                raise _invalid(f"body.properties.{name} should define exactly one property type.")
            kind = kinds[0]
            if kind == "relation":
                target = config[kind].get("data_source_id")
                if target not in self.data_sources:
                    raise _invalid(
                        f"body.properties.{name}.relation.data_source_id should be a valid "
                        "data source id."
                    )
            existing = source["properties"].get(name)
            prop_id = existing["id"] if existing else _new_id()[:4]
            source["properties"][name] = {"id": prop_id, "name": name, "type": kind} | {
                kind: config[kind]
            }
        source["last_edited_time"] = _now()
        return source

    def query(self, source_id: str, body: dict[str, Any]) -> dict[str, Any]:
        source = self.retrieve_source(source_id)
        page_size = body.get("page_size", PAGE_SIZE_LIMIT)
        if not isinstance(page_size, int) or not 1 <= page_size <= PAGE_SIZE_LIMIT:
            raise _invalid(
                f"body.page_size should be ≤ `{PAGE_SIZE_LIMIT}`, instead was `{page_size}`."
            )
        predicate = self._filter(source, body.get("filter"))
        matching = [
            page
            for page_id in self.page_order
            if (page := self.pages[page_id])["parent"]["data_source_id"] == source_id
            and not page["in_trash"]
            and predicate(page)
        ]
        start = 0
        cursor = body.get("start_cursor")
        if cursor is not None:
            ids = [page["id"] for page in matching]
            if cursor not in ids:
                raise _invalid("body.start_cursor should be a valid cursor.")
            start = ids.index(cursor)
        chunk = matching[start : start + page_size]
        more = start + page_size < len(matching)
        return {
            "object": "list",
            "results": chunk,
            "next_cursor": matching[start + page_size]["id"] if more else None,
            "has_more": more,
            "type": "page_or_data_source",
            "page_or_data_source": {},
        }

    def _filter(self, source: dict[str, Any], spec: dict[str, Any] | None) -> Any:
        if spec is None:
            return lambda page: True
        if "or" in spec:
            parts = [self._filter(source, s) for s in spec["or"]]
            return lambda page: any(p(page) for p in parts)
        if "and" in spec:
            parts = [self._filter(source, s) for s in spec["and"]]
            return lambda page: all(p(page) for p in parts)
        name = spec.get("property")
        schema = source["properties"].get(name)
        if schema is None:
            raise _invalid(f"Could not find property with name or id: {name}")
        kind = schema["type"]
        if kind not in spec or kind not in {"rich_text", "title"}:
            raise _invalid(f"body.filter.{kind} should be defined for a {kind} property.")
        condition = spec[kind]

        def predicate(page: dict[str, Any]) -> bool:
            value = plain_value(page["properties"].get(name, {"type": kind, kind: []})) or ""
            if "equals" in condition:
                return bool(value == condition["equals"])
            if "starts_with" in condition:
                return bool(value.startswith(condition["starts_with"]))
            raise _invalid(f"body.filter.{kind} should define equals or starts_with.")

        return predicate

    def create_page(self, body: dict[str, Any]) -> dict[str, Any]:
        parent = body.get("parent") or {}
        source_id = parent.get("data_source_id")
        if source_id is None and parent.get("database_id") in self.databases:
            source_id = self.source_of(parent["database_id"])
        source = self.retrieve_source(str(source_id))
        properties = self._values(source, body.get("properties") or {})
        for name, schema in source["properties"].items():
            properties.setdefault(name, _empty(schema))
        page_id = _new_id()
        page = {
            "object": "page",
            "id": page_id,
            "created_time": _now(),
            "last_edited_time": _now(),
            "created_by": {"object": "user", "id": "bot"},
            "last_edited_by": {"object": "user", "id": "bot"},
            "cover": None,
            "icon": None,
            "parent": {"type": "data_source_id", "data_source_id": source_id},
            "archived": False,
            "in_trash": False,
            "properties": properties,
            "url": f"https://www.notion.so/{page_id.replace('-', '')}",
            "public_url": None,
        }
        self.pages[page_id] = page
        self.page_order.append(page_id)
        return page

    def retrieve_page(self, page_id: str) -> dict[str, Any]:
        if page_id not in self.pages:
            raise _not_found(page_id)
        return self.pages[page_id]

    def update_page(self, page_id: str, body: dict[str, Any]) -> dict[str, Any]:
        page = self.retrieve_page(page_id)
        trash = body.get("in_trash", body.get("archived"))
        if page["in_trash"] and trash is not False:
            raise _invalid(
                "Can't edit block that is archived. You must unarchive the block before editing."
            )
        source = self.retrieve_source(page["parent"]["data_source_id"])
        page["properties"].update(self._values(source, body.get("properties") or {}))
        if trash is not None:
            page["in_trash"] = page["archived"] = bool(trash)
        page["last_edited_time"] = _now()
        return page

    def _values(self, source: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        stored: dict[str, Any] = {}
        for name, value in values.items():
            schema = source["properties"].get(name)
            if schema is None:
                raise _invalid(f"{name} is not a property that exists.")
            kind = schema["type"]
            if not isinstance(value, dict) or kind not in value:
                raise _invalid(f"{name} is expected to be {kind}.")
            stored[name] = {
                "id": schema["id"],
                "type": kind,
                kind: self._value(name, kind, value[kind]),
            }
        return stored

    def _value(self, name: str, kind: str, value: Any) -> Any:
        where = f"body.properties.{name}.{kind}"
        if kind in {"title", "rich_text"}:
            if not isinstance(value, list):
                raise _invalid(f"{where} should be an array, instead was `{value!r}`.")
            if len(value) > 100:
                raise _invalid(f"{where}.length should be ≤ `100`, instead was `{len(value)}`.")
            texts = []
            for index, item in enumerate(value):
                content = (item.get("text") or {}).get("content")
                if not isinstance(content, str):
                    raise _invalid(f"{where}[{index}].text.content should be a string.")
                if len(content) > TEXT_LIMIT:
                    raise _invalid(
                        f"body failed validation: {where}[{index}].text.content.length should "
                        f"be ≤ `{TEXT_LIMIT}`, instead was `{len(content)}`."
                    )
                texts.append(_rich_text(content))
            return texts
        if kind == "select":
            if value is None:
                return None
            if not isinstance(value, dict) or not isinstance(value.get("name"), str):
                raise _invalid(f"{where} should be an object with a name, or `null`.")
            if "," in value["name"]:
                raise _invalid(f"{where}.name should not contain commas.")
            return {"id": value["name"][:4], "name": value["name"], "color": "default"}
        if kind == "multi_select":
            if not isinstance(value, list):
                raise _invalid(f"{where} should be an array.")
            return [{"id": v["name"][:4], "name": v["name"], "color": "default"} for v in value]
        if kind == "date":
            if value is None:
                return None
            start = value.get("start") if isinstance(value, dict) else None
            try:
                datetime.fromisoformat(str(start).replace("Z", "+00:00"))
            except ValueError:
                raise _invalid(f"{where}.start should be a valid ISO 8601 date string.") from None
            return {"start": start, "end": value.get("end"), "time_zone": None}
        if kind == "url":
            if value is not None and not isinstance(value, str):
                raise _invalid(f"{where} should be a string or `null`.")
            if value is not None and len(value) > TEXT_LIMIT:
                raise _invalid(f"{where}.length should be ≤ `{TEXT_LIMIT}`.")
            return value
        if kind == "relation":
            if not isinstance(value, list):
                raise _invalid(f"{where} should be an array.")
            for item in value:
                if item.get("id") not in self.pages:
                    raise _invalid(f"{where} should reference pages that exist.")
            return [{"id": item["id"]} for item in value]
        return value


def _empty(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema["type"]
    empty: Any = {"title": [], "rich_text": [], "multi_select": [], "relation": []}.get(kind)
    return {"id": schema["id"], "type": kind, kind: empty}


def plain_value(value: dict[str, Any]) -> Any:
    kind = value.get("type") or next(iter(value))
    data = value.get(kind)
    if kind in {"title", "rich_text"}:
        return "".join(
            item.get("plain_text", item.get("text", {}).get("content", "")) for item in data or []
        )
    if kind == "select":
        return data["name"] if data else None
    if kind == "multi_select":
        return [item["name"] for item in data or []]
    if kind == "date":
        return data["start"] if data else None
    if kind == "relation":
        return [item["id"] for item in data or []]
    return data


def _invalid(message: str) -> NotionRefusal:
    return NotionRefusal(400, "validation_error", message)


def _not_found(object_id: str) -> NotionRefusal:
    return NotionRefusal(
        404,
        "object_not_found",
        f"Could not find object with ID: {object_id}. Make sure the relevant pages and "
        "databases are shared with your integration.",
    )


class _TokenBucket:
    """``rate`` requests per second on average, with a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()

    def take(self) -> float:
        """0 if the request may go, else the seconds until a token is there."""
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class _Faults:
    status: int
    count: int
    retry_after: int = 1
    # Requests let through before the burst starts.
    after: int = 0
    # Carry the request out, then answer the error (the answer is lost on the way back).
    processed: bool = False


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without this, delayed ACKs add 40 ms a request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        notion = self.server.notion
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        arrived = time.monotonic()
        path = self.path.split("?", 1)[0]
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        headers: dict[str, str] = {}
        try:
            if body is None:
                raise NotionRefusal(400, "invalid_json", "Error parsing JSON body.")
            if self.headers.get("Notion-Version") != "2025-09-03":
                raise NotionRefusal(400, "missing_version", "Notion-Version header missing.")
            if self.headers.get("Authorization") != f"Bearer {notion.token}":
                raise NotionRefusal(401, "unauthorized", "API token is invalid.")
            with notion.lock:
                fault = notion.faults[0] if notion.faults else None
                if fault is not None and fault.after > 0:
                    fault.after -= 1
                    fault = None
                elif fault is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        notion.faults.pop(0)
                wait = notion.bucket.take() if notion.bucket is not None else 0.0
            if fault is not None and fault.processed:
                with notion.state.lock:
                    self._route(method, path, body)
            if fault is not None:
                if fault.status == 429:
                    headers["Retry-After"] = str(fault.retry_after)
                    raise NotionRefusal(429, "rate_limited", "You have been rate limited.")
                raise NotionRefusal(fault.status, "internal_server_error", "Unexpected error.")
            if wait:
                headers["Retry-After"] = str(max(1, round(wait)))
                raise NotionRefusal(
                    429,
                    "rate_limited",
                    "You have been rate limited. Please try again in a few minutes.",
                )
            with notion.state.lock:
                status, answer = 200, self._route(method, path, body)
        except NotionRefusal as refusal:
            status = refusal.status
            answer = {
                "object": "error",
                "status": refusal.status,
                "code": refusal.code,
                "message": refusal.message,
                "request_id": _new_id(),
            }
        notion.record(Recorded(method, path, body, status, arrived))
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        state = self.server.notion.state
        parts = path.strip("/").split("/")
        if parts[0] != "v1" or len(parts) < 2:
            raise NotionRefusal(400, "invalid_request_url", "Invalid request URL.")
        route = (method, parts[1], len(parts))
        if route == ("GET", "databases", 3):
            return state.retrieve_database(parts[2])
        if route == ("GET", "data_sources", 3):
            return state.retrieve_source(parts[2])
        if route == ("PATCH", "data_sources", 3):
            return state.update_source(parts[2], body)
        if route == ("POST", "data_sources", 4) and parts[3] == "query":
            return state.query(parts[2], body)
        if route == ("POST", "pages", 2):
            return state.create_page(body)
        if route == ("GET", "pages", 3):
            return state.retrieve_page(parts[2])
        if route == ("PATCH", "pages", 3):
            return state.update_page(parts[2], body)
        raise NotionRefusal(400, "invalid_request_url", "Invalid request URL.")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    notion: NotionServer


class NotionServer:
    """The server, its state, its request log, its faults and its rate limit."""

    token = "secret_test-token-of-the-local-notion"

    def __init__(self) -> None:
        self.state = NotionState()
        self.lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.faults: list[_Faults] = []
        self.bucket: _TokenBucket | None = None
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.notion = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> NotionServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def record(self, request: Recorded) -> None:
        with self.lock:
            self.requests.append(request)

    def limit(self, rate: float | None) -> None:
        """Answer 429 beyond ``rate`` requests per second (``None``: no limit)."""
        with self.lock:
            self.bucket = _TokenBucket(rate) if rate else None

    def fail_next(
        self,
        status: int,
        count: int,
        *,
        retry_after: int = 1,
        after: int = 0,
        processed: bool = False,
    ) -> None:
        """Answer ``count`` requests with ``status`` (429 carries Retry-After), once ``after``
        more requests went through (counted from the end of the bursts queued before).
        ``processed``: carry each out before failing (a create whose answer is lost)."""
        with self.lock:
            self.faults.append(_Faults(status, count, retry_after, after, processed))

    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.is_write and r.status == 200]

    def count(self, method: str, fragment: str, *, status: int | None = 200) -> int:
        return sum(
            1
            for r in self.requests
            if r.method == method and fragment in r.path and (status is None or r.status == status)
        )


@dataclass
class NotionWorkspace:
    """The server with the two databases of the registry, and the settings pointing at them."""

    server: NotionServer
    views: str
    versions: str | None
    settings: dict[str, Any] = field(default_factory=dict)

    def pins(self) -> dict[str, dict[str, Any]]:
        return self.server.state.by_key(self.views)

    def releases(self) -> dict[str, dict[str, Any]]:
        assert self.versions is not None
        return self.server.state.by_key(self.versions)


@pytest.fixture
def notion_server() -> Iterator[NotionServer]:
    with NotionServer() as server:
        yield server


def configure(server: NotionServer, settings: Any, *, versions: bool = True) -> NotionWorkspace:
    """Create the two databases and point the settings (pytest-django's) at them."""
    views = server.state.create_database("Release Views")
    product = server.state.create_database("Product Versions") if versions else None
    settings.NOTION_TOKEN = server.token
    settings.NOTION_BASE_URL = server.url
    settings.NOTION_RELEASE_VIEWS_DATABASE_ID = views
    settings.NOTION_PRODUCT_VERSIONS_DATABASE_ID = product
    settings.NOTION_REQUESTS_PER_SECOND = 1000
    return NotionWorkspace(server, views, product)


@pytest.fixture
def notion(notion_server: NotionServer, settings: Any) -> NotionWorkspace:
    """The local Notion with both databases, the settings pointing at it, and fast retries."""
    return configure(notion_server, settings)
