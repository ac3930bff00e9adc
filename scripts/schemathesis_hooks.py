"""Schemathesis hooks for scripts/check-openapi.sh (SCHEMATHESIS_HOOKS names this module).

Frame bodies (application/x-satchel-frame) are `format: binary`: schemathesis makes bytes for
them but has no serializer for the media type. They go out as they are; the server must answer
each with a documented frame error (or, rarely, a real answer), never a 5xx.
"""
import schemathesis


@schemathesis.serializer("application/x-satchel-frame")
def satchel_frame(ctx, value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode()
