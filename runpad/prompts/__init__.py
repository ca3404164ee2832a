"""Prompt templates, one per role, as Jinja files in this package.

Rendering is strict (an undefined variable is an error, not an empty string), and a
caller may replace any role's template with text of its own (`Context.prompts`).

`SMALL_MODEL_PROMPTS` (the files in `small/`) are short words for the packaged embedded
models (runpad/models/local.py), which lose their way in the full prompts (they copy their
instructions back) and pay for every prompt token on a CPU: the graph is the same, only
the words to the model change. The router of that set sends every task to code, the plan
is the task as one step (made without a model call, `agents/planner.py`); the coder asks
for a script that prints the answer; the reviewer copies the answer from its output.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from runpad.errors import ConfigurationError

__all__ = ["PROMPT_NAMES", "SMALL_MODEL_PROMPTS", "render_prompt"]

PROMPT_NAMES = ("system", "router", "planner", "coder", "reviewer", "reporter")

SMALL_MODEL_PROMPTS: Mapping[str, str] = {
    name: resources.files(__package__).joinpath("small", f"{name}.md.j2").read_text()
    for name in PROMPT_NAMES
}
"""Every role's template for small models, as override text (see the module's doc)."""


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("runpad", "prompts"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # prompts are plain text, not HTML
    )


def render_prompt(name: str, overrides: Mapping[str, str] | None = None, **variables: Any) -> str:
    """Render the template of role `name`, or the caller's replacement text for it."""
    if name not in PROMPT_NAMES:
        raise ConfigurationError(f"Unknown prompt {name!r}; prompts are {', '.join(PROMPT_NAMES)}.")
    environment = _environment()
    try:
        if overrides and name in overrides:
            template = environment.from_string(overrides[name])
        else:
            template = environment.get_template(f"{name}.md.j2")
        return template.render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise ConfigurationError(f"Prompt {name!r} uses an undefined variable: {exc}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigurationError(f"Prompt {name!r} has a template error: {exc}") from exc
