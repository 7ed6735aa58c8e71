"""Lethe's fideslang exchange, judged by the fideslang package itself (Fides's own models).

    python3 fideslang_check.py validate FILE.yaml   every item of an export, through fideslang's
                                                    models; exit 1 naming each item refused
    python3 fideslang_check.py default-taxonomy     fideslang's default taxonomy (categories,
                                                    subjects, uses) as a YAML document on stdout
"""

import sys

import yaml
from fideslang import model_map
from fideslang.default_taxonomy import DEFAULT_TAXONOMY
from fideslang.parse import load_manifests_into_taxonomy
from pydantic import ValidationError

KINDS = ("data_category", "data_subject", "data_use", "system")


def validate(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    problems = []
    counted = 0
    for kind in KINDS:
        for i, item in enumerate(doc.get(kind) or []):
            counted += 1
            try:
                model_map[kind].model_validate(item)
            except ValidationError as err:
                problems.append(f"{kind}[{i}] ({item.get('fides_key')}): {err}")
    if problems:
        print(f"fideslang refused {len(problems)} of {counted} items:", file=sys.stderr)
        for p in problems:
            print(p, file=sys.stderr)
        return 1
    # And the document as a whole, the way fideslang's own loader reads manifests.
    load_manifests_into_taxonomy({k: doc[k] for k in KINDS if doc.get(k)})
    print(f"fideslang accepted all {counted} items")
    return 0


def default_taxonomy():
    out = {
        kind: [
            item.model_dump(mode="json", exclude_none=True)
            for item in getattr(DEFAULT_TAXONOMY, kind)
        ]
        for kind in ("data_category", "data_subject", "data_use")
    }
    yaml.safe_dump(out, sys.stdout, allow_unicode=True, sort_keys=False)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "validate":
        sys.exit(validate(sys.argv[2]))
    if len(sys.argv) == 2 and sys.argv[1] == "default-taxonomy":
        sys.exit(default_taxonomy())
    print(__doc__, file=sys.stderr)
    sys.exit(2)
