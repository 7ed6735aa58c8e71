"""Schemathesis hooks for tests/api/schemathesis.rs: how to put an NDJSON body on the wire.

Schemathesis serializes JSON, YAML, forms and plain text itself; `POST /api/v1/records` also
takes `application/x-ndjson`, one JSON object a line, which it does not know. The document
declares that body as a string, so a generated string goes as it is; anything else (negative
testing makes other types) goes as one JSON line, or a line per item of a list.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode("utf-8")
