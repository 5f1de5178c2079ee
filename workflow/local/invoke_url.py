"""The function an Invoke request names, read from its URL, in a module that imports no moto (an
import contract in ``pyproject.toml`` holds it)."""

from __future__ import annotations

from urllib.parse import unquote, urlparse


def parse_invoke_url(url: str) -> tuple[str, str | None]:
    """(function name, qualifier) of an Invoke request URL; the name may be given as an ARN."""
    path = urlparse(url).path
    reference = unquote(path.split("/functions/", 1)[1].rsplit("/invocations", 1)[0])
    qualifier = None
    query = urlparse(url).query
    for part in query.split("&"):
        if part.startswith("Qualifier="):
            qualifier = unquote(part.removeprefix("Qualifier="))
    if reference.startswith("arn:"):
        fields = reference.split(":")
        return fields[6], fields[7] if len(fields) > 7 else qualifier
    return reference, qualifier
