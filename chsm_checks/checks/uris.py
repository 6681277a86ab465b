"""Checks of what the harness itself will send. Pure functions."""

from __future__ import annotations

from ..container_uri import UriProblem, endpoint_host, judge_container_uri
from .model import Finding, error, failed, passed

_CHECK = "requests.no-sas"


def container_uri_is_plain(
    container_uri: str, account_name: str, blob_endpoint: str | None, account_id: str
) -> Finding:
    """The URI the target will send is the one the guard would send: the checked account's blob
    endpoint (``blob_endpoint``, as the account reports it) and a container, with no SAS, query,
    userinfo or anything else. Each reason it fails is observed in the finding."""
    if not blob_endpoint:
        return error(
            _CHECK, account_id, f"storage account {account_name} reports no primaryEndpoints.blob to judge by"
        )
    try:
        host = endpoint_host(blob_endpoint)
    except ValueError:
        return error(
            _CHECK,
            account_id,
            f"storage account {account_name} reports a primaryEndpoints.blob that is not a bare https origin",
        )
    judgement = judge_container_uri(container_uri, blob_endpoint)
    problems = list(judgement.problems)
    sentences = judgement.sentences()
    if not host.startswith(f"{account_name.lower()}.") and UriProblem.NOT_ACCOUNT_ENDPOINT not in problems:
        # The account reports an endpoint that is not its own: a URI naming it names no container of it.
        problems.insert(0, UriProblem.NOT_ACCOUNT_ENDPOINT)
        sentences.insert(0, f"the account's reported blob endpoint {host} does not name {account_name}")
    if problems:
        return failed(
            _CHECK,
            account_id,
            f"the container URI for {account_name} may not be sent: {'; '.join(sentences)}",
            reasons=[problem.value for problem in problems],
            blob_endpoint=blob_endpoint,
        )
    return passed(
        _CHECK,
        account_id,
        f"the container URI names a container of {account_name} at {host}, "
        "with no SAS token, query or userinfo",
        blob_endpoint=blob_endpoint,
    )
