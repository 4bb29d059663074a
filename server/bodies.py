"""Reading request bodies with a cap, so nobody can make the server hold an unbounded upload."""

from __future__ import annotations

from starlette.requests import Request

from engine.errors import EngineError


class BodyTooLarge(EngineError):
    """A request body beyond what any endpoint needs."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the body is over {limit:,} bytes ({size:,} so far); send less")


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)
