"""Gradescope's documented results.json fields (the autograder specification), as a JSON schema.

Every key a results file uses must be one the specification lists, with the type it gives;
the one exception is a top-level ``max_score``, which the grader writes for its own reports.
"""

import jsonschema

VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
NUMBER = {"type": "number"}

TEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "score", "max_score", "status", "output", "visibility", "tags"],
    "properties": {
        "score": NUMBER,
        "max_score": NUMBER,
        "status": {"enum": ["passed", "failed"]},
        "name": {"type": "string", "minLength": 1},
        "name_format": FORMAT,
        "number": {"type": "string"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "visibility": VISIBILITY,
        "extra_data": {"type": "object"},
    },
}

RESULTS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["score", "execution_time", "output", "visibility", "tests"],
    "properties": {
        "score": NUMBER,
        "max_score": NUMBER,
        "execution_time": NUMBER,
        "output": {"type": "string"},
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": TEST},
        "leaderboard": {"type": "array"},
    },
}


def validate(data: dict) -> dict:
    jsonschema.validate(data, RESULTS)
    for t in data["tests"]:
        assert 0 <= t["score"] <= t["max_score"]
        assert (t["status"] == "passed") == (t["score"] == t["max_score"])
    assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-6
    return data
