"""Which errors waiting may cure: the one rule every wait and watch retries by."""

from __future__ import annotations


def is_transient(exc: BaseException) -> bool:
    """Waiting may cure ``exc``: an API answer 5xx or 429, or no answer at all (a connection
    refused, reset or timed out, to the API server or to the app)."""
    # Imported here: the timeout tiers beside the wait helper are read by the pytest plugin in
    # every pytest session, and the API client takes half a second to import.
    import requests
    import urllib3
    from kubernetes.client.rest import ApiException

    if isinstance(exc, ApiException):
        if not exc.status:  # exec/port-forward: no HTTP status, unless the handshake was refused
            return "Handshake status 4" not in str(exc.reason)
        return exc.status == 429 or int(exc.status) >= 500
    return isinstance(
        exc,
        urllib3.exceptions.HTTPError
        | requests.ConnectionError
        | requests.Timeout
        | ConnectionError
        | TimeoutError,
    )
