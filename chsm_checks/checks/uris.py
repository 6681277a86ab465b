"""Checks of what the harness itself will send. Pure functions."""

from __future__ import annotations

from urllib.parse import urlsplit

from .model import Finding, error, failed, passed


def container_uri_is_plain(
    container_uri: str, account_name: str, blob_endpoint: str | None, account_id: str
) -> Finding:
    """The URI the target will send has no query (no SAS) and points at the checked account."""
    check = "requests.no-sas"
    parts = urlsplit(container_uri)
    if parts.query:
        return failed(
            check, account_id, f"the container URI for {account_name} carries a query string (a SAS token)"
        )
    if parts.fragment:
        return failed(check, account_id, f"the container URI for {account_name} carries a fragment")
    if not blob_endpoint:
        return error(
            check,
            account_id,
            f"storage account {account_name} reports no properties.primaryEndpoints.blob: "
            "the container URI's host cannot be compared with the account's blob endpoint",
        )
    host = (parts.hostname or "").lower()
    expected = urlsplit(blob_endpoint).hostname
    if not host.startswith(f"{account_name.lower()}.") or (expected and host != expected.lower()):
        return failed(
            check, account_id, f"the container URI names {host}, not storage account {account_name}"
        )
    return passed(check, account_id, f"the container URI names {account_name} and carries no SAS token")
