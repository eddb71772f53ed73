"""TEST FIXTURE: every contract 0.2 feature of the Python SDK (tests/e2e/sdk_features.rs runs
the same checks against tests/plugins/ts-features): a tool that reports progress, logs and asks the
user (elicitation), rich content with structured output, a resource, a resource template with
completion, and a prompt with a completed argument."""

import base64
from typing import Annotated, Optional

from warden_sdk import Context, Result, Server, image, prompt, resource, text, tool, user  # noqa: F401

# A 1x1 red PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
TOPICS = ["alpha", "beta", "gamma"]
LANGUAGES = ["python", "rust", "typescript"]


@tool
def ask(cx: Context) -> str:
    """Asks the user for their name, reporting progress."""
    cx.info("asking for a name")
    answer = cx.elicit("who", "What is your name?", {
        "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})
    cx.progress(1, 3, "answered")
    cx.progress(2, 3)
    cx.progress(3, 3, "done")
    return f"Hello, {answer['name']}!"


@tool(output_schema={"type": "object", "properties": {"width": {"type": "integer"}, "height": {"type": "integer"}}})
def picture() -> Result:
    """A red pixel: text, an image and structured content."""
    return Result([text("a red pixel"), image(PIXEL, "image/png")], structured={"width": 1, "height": 1})


@resource("notes://readme", name="readme", description="Read me first", mime_type="text/plain")
def readme() -> str:
    return "Read me first."


@resource("notes://topics/{topic}", name="topic", description="Notes on a topic", mime_type="text/plain",
          complete={"topic": lambda value, _context: [t for t in TOPICS if t.startswith(value)]})
def topic(topic: str) -> str:
    return f"Notes on {topic}."


@prompt(complete={"language": lambda value, _context: [x for x in LANGUAGES if x.startswith(value)]})
def review(code: Annotated[str, "The code to review"], language: Optional[str] = None):
    """Asks for a code review"""
    return [user(f"Review this {language or 'code'}:\n{code}")]
