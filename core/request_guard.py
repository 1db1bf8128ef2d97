"""Hostile input refused before anything parses it: a NUL byte in the address (PostgreSQL
text cannot hold one), and JSON bodies that are too large, too deeply nested, or carry a
number too long to convert (Python's parser recurses per level and converts digits in
quadratic time); and a body of the API that is not JSON. Each refusal is a French 400,
413 or 415, never a 500.

The checks of a JSON body are a few passes of C-level byte operations over it (replace,
translate, search, one regular expression without backtracking), then a Python loop over
its brackets only, which stops at the first level too many.
"""

from __future__ import annotations

import re

from flask import Flask, current_app, request

from .errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

# Our request bodies nest at most 4 levels (a cohort: object > people > person > list).
MAX_JSON_DEPTH = 32
# A number literal longer than this is not a coordinate, a count nor a distance.
MAX_NUMBER_LENGTH = 64
# JSON bodies above this are refused from their Content-Length, before being read.
MAX_JSON_BYTES = 8 * 1024 * 1024

# Once escaped backslashes and escaped quotes are removed, a string literal is a quote, no
# quote, a quote (possessive: never read twice).
_JSON_STRING = re.compile(rb'"[^"]*+"')
# Outside strings, every byte that can be part of a number becomes "0": a number too long is
# then a plain substring, found by bytes' own search.
_NUMBER_BYTES = b"-+0123456789.eE"
_NUMBERS_AS_ZEROS = bytes.maketrans(_NUMBER_BYTES, b"0" * len(_NUMBER_BYTES))
_TOO_LONG_NUMBER = b"0" * (MAX_NUMBER_LENGTH + 1)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_OPENING = frozenset(b"[{")

NUL_MESSAGE = "Caractère nul (octet 0) refusé dans l'adresse ou les paramètres."
NUL_JSON_MESSAGE = "Caractère nul (\\u0000) refusé dans le corps JSON."
DEPTH_MESSAGE = f"Corps JSON trop imbriqué : au plus {MAX_JSON_DEPTH} niveaux."
NUMBER_MESSAGE = (f"Nombre trop long dans le corps JSON : au plus {MAX_NUMBER_LENGTH} "
                  "caractères par nombre.")
NON_FINITE_MESSAGE = "Les valeurs NaN et infinies sont refusées dans le corps JSON."
SIZE_MESSAGE = f"Corps JSON trop volumineux : au plus {MAX_JSON_BYTES // 2 ** 20} Mo."


def has_nul(*texts: str) -> bool:
    return any("\x00" in text for text in texts)


def check_address() -> None:
    """Refuse a NUL byte in the path, the query string's names or values."""
    if has_nul(request.path) or any(has_nul(key, value)
                                    for key, value in request.args.items(multi=True)):
        raise BadRequest(NUL_MESSAGE)


def check_json_body(body: bytes) -> None:
    """Refuse a JSON body that would cost the parser more than its size says."""
    # Escapes as the parser reads them, left to right: a pair of backslashes is one
    # character, then a backslash before a quote keeps the string open.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    if b"\\u0000" in unescaped:
        raise BadRequest(NUL_JSON_MESSAGE)
    outside_strings = _JSON_STRING.sub(b'""', unescaped)
    if _TOO_LONG_NUMBER in outside_strings.translate(_NUMBERS_AS_ZEROS):
        raise BadRequest(NUMBER_MESSAGE)
    if b"NaN" in outside_strings or b"Infinity" in outside_strings:
        raise BadRequest(NON_FINITE_MESSAGE)
    depth = 0
    for bracket in outside_strings.translate(None, _NOT_BRACKETS):
        if bracket in _OPENING:
            depth += 1
            if depth > MAX_JSON_DEPTH:  # stops at the first level too many
                raise BadRequest(DEPTH_MESSAGE)
        else:
            depth -= 1


JSON_EXPECTED_MESSAGE = "Corps JSON attendu (Content-Type: application/json)."


def accepts_upload(*mimetypes: str):
    """Mark an API view that reads a file of one of ``mimetypes`` (e.g. ``text/csv``) as its
    body; it checks that body itself (type, size, encoding, content), after its access
    rule, so that a caller without the right is told so first."""
    def mark(view):
        view.upload_types = frozenset(mimetypes)
        return view
    return mark


def _declared_upload() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "upload_types", ()))


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_hostile_input() -> None:
        check_address()
        if request.method not in ("POST", "PUT", "PATCH") or request.routing_exception:
            return  # an unknown address or method is answered 404 or 405 first
        if request.is_json:
            if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
                raise PayloadTooLarge(SIZE_MESSAGE)
            check_json_body(request.get_data(cache=True))
        elif (request.path.startswith("/api/") and (request.content_length or 0) > 0
              and not _declared_upload()):
            # every body the API reads is JSON, except a view's declared upload; a POST
            # without a body (query arguments only, e.g. asking for a recalculation) has
            # nothing to refuse
            raise UnsupportedMediaType(JSON_EXPECTED_MESSAGE)
