"""Schemathesis hooks for .ci/fuzz: sign payment webhooks the way a provider
does, so the fuzzer reaches the webhook's logic instead of stopping at 401.

Only a case that carries the Agora-Signature header, generated as a valid
header, is signed: a case without it (the missing-header check) or with a
deliberately broken one (negative mode) still has to be refused."""

import hashlib
import hmac
import os

import schemathesis
from requests.compat import json as complexjson
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

SECRET = os.environ["AGORA_WEBHOOK_SECRET"].encode()


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/v1/webhooks/payments" or not case.headers:
        return
    if "Agora-Signature" not in case.headers:
        return
    meta = getattr(case, "_meta", None)
    if meta is not None:
        header = meta.components.get(ParameterLocation.HEADER)
        if header is not None and header.mode == GenerationMode.NEGATIVE:
            return
    if not isinstance(case.body, (dict, list, str, int, float, bool)) and case.body is not None:
        return
    # The bytes the transport will send: requests' own JSON encoding of the
    # body (the body itself stays as generated, so its validity is known).
    raw = b"null" if case.body is None else complexjson.dumps(case.body, allow_nan=False).encode()
    case.headers["Agora-Signature"] = "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
