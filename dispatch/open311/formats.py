"""Open311 output in JSON and XML, from one plain-data answer.

GeoReport v2 defines XML and maps it to JSON with the Spark convention: a list in JSON is a
wrapper element in XML whose children all share one name (``services`` → ``service``,
``attributes`` → ``attribute``). ``render`` takes the JSON-shaped answer and writes either.
XML is written with the standard library's ``xml.etree``: UTF-8, with the declaration, no
namespace, booleans as ``true``/``false`` and missing values as empty elements.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from flask import Response

#: The two formats (the URL's extension) and their content types.
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xml": "text/xml; charset=utf-8",
}
#: XML element name of one item of each list (the Spark convention's inverse).
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
#: Characters XML 1.0 cannot carry at all (control characters other than tab, LF, CR).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _append(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    _fill(element, name, value)


def _fill(element: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _append(element, key, item)
    elif isinstance(value, list):
        item_name = ITEM_NAMES.get(name, "item")
        for item in value:
            _append(element, item_name, item)
    else:
        element.text = _text(value)


def to_xml(root: str, data: Any) -> bytes:
    """``data`` (a dict, or a list of items) as a GeoReport XML document under ``root``."""
    element = ET.Element(root)
    _fill(element, root, data)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def render(data: Any, fmt: str, root: str, status: int = 200) -> Response:
    """The response for ``data`` in ``fmt`` (``json`` or ``xml``); ``root`` names the XML root."""
    body = to_xml(root, data) if fmt == "xml" else json.dumps(data, ensure_ascii=False).encode()
    return Response(body, status=status, content_type=CONTENT_TYPES.get(fmt, CONTENT_TYPES["xml"]))


def errors(fmt: str, status: int, *descriptions: str, code: int | None = None) -> Response:
    """A GeoReport error answer: a list of ``{code, description}`` (``<errors><error>``)."""
    items = [{"code": code or status, "description": text} for text in descriptions]
    return render(items, fmt, "errors", status)
