"""The JSON Schemas in schemas/json/ are generated from the models and must not go stale."""

from __future__ import annotations

import json

from schemas.generate import expected_files


def test_committed_json_schemas_match_the_models() -> None:
    stale = [
        path.name
        for path, text in expected_files().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"run `python -m schemas.generate`; stale: {stale}"


def test_schemas_reject_unknown_keys_for_editors() -> None:
    for path, text in expected_files().items():
        schema = json.loads(text)
        assert schema["additionalProperties"] is False, path.name
