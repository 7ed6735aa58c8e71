"""Schemathesis hooks for tests/api/schemathesis.rs: how to put an NDJSON body on the wire.

Schemathesis serializes JSON, YAML, forms and plain text itself; `POST /api/v1/records` also
takes `application/x-ndjson`, which it does not know. The document describes that body as the
array of records; on the wire each item is one JSON line. Anything else that negative testing
makes (a number, an object) goes as a single JSON line.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode("utf-8")
