"""The scrub profile: what reaches a cassette, and that scrubbing twice changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from uri_cases import BAD, CONTAINER_URI, SECRETS
from vcr.request import Request

from chsm_checks.recording.scrub import REDACTED, SUBSCRIPTION_PLACEHOLDER, Scrubber

SUB = "5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
PRINCIPAL = "9b1c4e2a-0f3d-4a5b-8c6d-7e8f9a0b1c2d"
PRINCIPAL_2 = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
CLIENT = "c0ffee00-1234-4abc-9def-0123456789ab"
OBJECT = "0bec7000-aaaa-4bbb-8ccc-dddddddddddd"
CLUSTER = (
    f"/subscriptions/{SUB}/resourceGroups/rg"
    "/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters/chsm"
)
IDENTITY = (
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id"
)
SIGNED = f"http://127.0.0.1:8765{CLUSTER}/backupOperationStatus/job?api-version=2025-03-31&t=638&c=MIIH%2B&s=c2ln&h=aGFz"


def _request(uri: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Request:
    return Request("GET" if body is None else "POST", uri, body, headers or {})


def _response(body: Any = None, headers: dict[str, list[str]] | None = None) -> dict[str, Any]:
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return {"status": {"code": 200, "message": "OK"}, "headers": headers or {}, "body": {"string": raw}}


def _body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]["string"])


def _identity_body(principal: str = PRINCIPAL) -> dict[str, Any]:
    return {
        "id": IDENTITY,
        "name": "id",
        "properties": {"principalId": principal, "clientId": CLIENT, "tenantId": TENANT},
    }


@pytest.fixture
def scrubber() -> Scrubber:
    return Scrubber(subscription_id=SUB)


@pytest.mark.parametrize("sub", [SUB, SUB.upper()])
def test_subscription_id_is_replaced_everywhere(scrubber: Scrubber, sub: str) -> None:
    cluster = CLUSTER.replace(SUB, sub)
    request = scrubber.request(
        _request(
            f"http://127.0.0.1:8765{cluster}/backup?api-version=2025-03-31",
            json.dumps(
                {"azureStorageBlobContainerUri": CONTAINER_URI, "backupId": f"cloudhsm-{sub}-1"}
            ).encode(),
        )
    )
    response = scrubber.response(
        _response({"id": cluster, "name": "chsm"}, {"Location": [f"http://127.0.0.1:8765{cluster}/x"]})
    )

    recorded = request.uri + request.body.decode() + json.dumps(response, default=bytes.decode)
    assert SUB not in recorded.lower()
    assert SUBSCRIPTION_PLACEHOLDER in request.uri
    assert SUBSCRIPTION_PLACEHOLDER in request.body.decode()
    assert SUBSCRIPTION_PLACEHOLDER in response["headers"]["location"][0]
    assert _body(response)["id"].startswith(f"/subscriptions/{SUBSCRIPTION_PLACEHOLDER}/")


def test_ids_learned_from_a_body_are_replaced_later_with_stable_placeholders(scrubber: Scrubber) -> None:
    first = _body(scrubber.response(_response(_identity_body())))
    second = _body(scrubber.response(_response(_identity_body(PRINCIPAL_2))))
    query = scrubber.request(
        _request(f"http://127.0.0.1:8765/x/roleAssignments?$filter=principalId eq '{PRINCIPAL}'")
    )
    again = _body(
        scrubber.response(_response({"value": [{"properties": {"principalId": PRINCIPAL, "scope": "/"}}]}))
    )

    ids = first["properties"]
    assert PRINCIPAL not in json.dumps(first)
    assert {ids["principalId"], ids["clientId"], ids["tenantId"]}.isdisjoint({PRINCIPAL, CLIENT, TENANT})
    assert len({ids["principalId"], ids["clientId"], ids["tenantId"]}) == 3
    assert second["properties"]["principalId"] != ids["principalId"]
    assert second["properties"]["tenantId"] == ids["tenantId"]
    assert PRINCIPAL not in query.uri
    assert ids["principalId"] in query.uri
    assert again["value"][0]["properties"]["principalId"] == ids["principalId"]


def test_operation_identifier_header_is_dropped_and_its_ids_learned(scrubber: Scrubber) -> None:
    header = f"tenantId={TENANT},objectId={OBJECT}/{SUB}/westus2/abc"
    response = scrubber.response(
        _response(None, {"x-ms-operation-identifier": [header], "x-ms-request-id": ["rid"]})
    )
    later = scrubber.request(_request(f"http://127.0.0.1:8765/scope?$filter=principalId eq '{OBJECT}'"))
    body = scrubber.body(json.dumps({"properties": {"tenantId": TENANT}}))

    assert response["headers"] == {"x-ms-request-id": ["rid"]}
    assert OBJECT not in later.uri
    assert body is not None
    assert TENANT not in body


def test_request_headers_other_than_content_type_are_dropped(scrubber: Scrubber) -> None:
    request = scrubber.request(
        _request(
            "http://127.0.0.1:8765/x",
            b"{}",
            {
                "Authorization": "Bearer eyJ0eXAiOiJKV1Qi",
                "Content-Type": "application/json",
                "x-ms-client-request-id": "abc",
                "User-Agent": "chsm-checks/0.1.0",
                "Cookie": "session=1",
            },
        )
    )

    assert dict(request.headers) == {"Content-Type": "application/json"}


def test_response_headers_outside_the_allow_list_are_dropped(scrubber: Scrubber) -> None:
    response = scrubber.response(
        _response(
            None,
            {
                "Retry-After": ["5"],
                "Set-Cookie": ["x=1"],
                "x-msedge-ref": ["Ref A: 1"],
                "x-ms-ratelimit-remaining-subscription-writes": ["199"],
                "Azure-AsyncOperation": [SIGNED],
            },
        )
    )

    assert set(response["headers"]) == {"retry-after", "azure-asyncoperation"}


def test_signed_query_values_are_redacted_and_api_version_kept(scrubber: Scrubber) -> None:
    response = scrubber.response(_response(None, {"location": [SIGNED]}))

    (location,) = response["headers"]["location"]
    assert location == (
        f"http://127.0.0.1{CLUSTER.replace(SUB, SUBSCRIPTION_PLACEHOLDER)}/backupOperationStatus/job"
        f"?api-version=2025-03-31&t={REDACTED}&c={REDACTED}&s={REDACTED}&h={REDACTED}"
    )


def test_sas_fields_in_a_request_uri_are_redacted(scrubber: Scrubber) -> None:
    request = scrubber.request(_request("https://acct.blob.core.windows.net/c?sv=2022&sig=c2VjcmV0&se=2030"))

    assert "c2VjcmV0" not in request.uri
    assert request.uri == f"https://acct.blob.core.windows.net/c?sv={REDACTED}&sig={REDACTED}&se={REDACTED}"


@pytest.mark.parametrize(
    "origin", ["http://127.0.0.1:8765", "http://127.0.0.1:1", "http://localhost:40123", "http://[::1]:8080"]
)
def test_a_loopback_origin_with_any_port_becomes_the_fixed_origin(scrubber: Scrubber, origin: str) -> None:
    request = scrubber.request(_request(f"{origin}/subscriptions?api-version=2022-12-01"))

    assert request.uri == "http://127.0.0.1/subscriptions?api-version=2022-12-01"


def test_a_non_loopback_origin_is_kept(scrubber: Scrubber) -> None:
    request = scrubber.request(_request("https://management.azure.com/subscriptions?api-version=2022-12-01"))

    assert request.uri == "https://management.azure.com/subscriptions?api-version=2022-12-01"


def test_unknown_json_fields_are_dropped_and_listed_but_tag_keys_kept(scrubber: Scrubber) -> None:
    response = scrubber.response(
        _response(
            {
                "id": CLUSTER,
                "systemData": {"createdBy": "someone@contoso.com"},
                "tags": {"Dept": "hsm", "Cost-Centre 42": "x"},
                "properties": {"activationState": "Active", "internalNote": "secret", "hsms": []},
            }
        )
    )

    assert _body(response) == {
        "id": CLUSTER.replace(SUB, SUBSCRIPTION_PLACEHOLDER),
        "tags": {"Dept": "hsm", "Cost-Centre 42": "x"},
        "properties": {"activationState": "Active", "hsms": []},
    }
    assert scrubber.dropped_fields == {"systemData", "internalNote"}


def test_a_token_field_in_a_request_body_never_reaches_the_cassette(scrubber: Scrubber) -> None:
    request = scrubber.request(
        _request(
            "http://127.0.0.1:8765/backup",
            json.dumps({"azureStorageBlobContainerUri": CONTAINER_URI, "token": "sig=abc"}).encode(),
        )
    )

    assert json.loads(request.body) == {"azureStorageBlobContainerUri": CONTAINER_URI}
    assert "token" in scrubber.dropped_fields


def test_user_assigned_identity_keys_are_scrubbed_as_ids(scrubber: Scrubber) -> None:
    body = _body(
        scrubber.response(
            _response(
                {"identity": {"userAssignedIdentities": {IDENTITY: {"principalId": None, "clientId": None}}}}
            )
        )
    )

    (key,) = body["identity"]["userAssignedIdentities"]
    assert key == IDENTITY.replace(SUB, SUBSCRIPTION_PLACEHOLDER)


@pytest.mark.parametrize(
    "uri",
    [
        "https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
        "https://login.microsoftonline.com/common/discovery/instance?api-version=1.1",
        "https://LOGIN.MICROSOFTONLINE.COM/tenant/v2.0/.well-known/openid-configuration",
        "https://login.microsoftonline.us/tenant/oauth2/v2.0/token",
        "https://login.chinacloudapi.cn/tenant/oauth2/v2.0/token",
        "https://login.windows.net/tenant/oauth2/token",
        "http://169.254.169.254/metadata/identity/oauth2/token?resource=x",
        "http://127.0.0.1:41741/metadata/identity/oauth2/token",
    ],
)
def test_sign_in_traffic_is_never_recorded(scrubber: Scrubber, uri: str) -> None:
    assert scrubber.request(_request(uri, b"client_secret=s3cret")) is None


REQUESTS = [
    pytest.param(_request(SIGNED, headers={"Authorization": "Bearer x"}), id="signed-location"),
    pytest.param(
        _request(f"http://localhost:9/{SUB}/roleAssignments?$filter=principalId eq '{PRINCIPAL}'&$top=5"),
        id="filter",
    ),
    pytest.param(
        _request(
            "http://127.0.0.1:8765/restore",
            json.dumps({"backupId": "cloudhsm-1", "token": "x", "note": "é"}).encode(),
            {"Content-Type": "application/json"},
        ),
        id="json-body",
    ),
    pytest.param(_request("http://127.0.0.1:8765/x?flag", f"plain {SUB}".encode()), id="text-body"),
]


@pytest.mark.parametrize("request_", REQUESTS)
@pytest.mark.parametrize("fresh", [False, True], ids=["same-scrubber", "fresh-scrubber"])
def test_scrubbing_a_request_twice_changes_nothing(request_: Request, fresh: bool) -> None:
    first_scrubber = Scrubber(subscription_id=SUB)
    first_scrubber.response(_response(_identity_body()))
    once = first_scrubber.request(request_)
    again = (Scrubber(subscription_id=SUB) if fresh else first_scrubber).request(once)

    assert (again.method, again.uri, again.body, dict(again.headers)) == (
        once.method,
        once.uri,
        once.body,
        dict(once.headers),
    )


RESPONSES = [
    pytest.param(
        _response(None, {"Location": [SIGNED], "x-ms-operation-identifier": ["tenantId=" + TENANT]}), id="lro"
    ),
    pytest.param(_response(_identity_body(), {"Content-Type": ["application/json"]}), id="identity"),
    pytest.param(
        _response(
            {"id": CLUSTER, "systemData": {}, "tags": {SUB: "x"}, "properties": {"status": "Succeeded"}}
        ),
        id="cluster",
    ),
    pytest.param(_response(b"<html>" + SUB.encode() + b"</html>"), id="not-json"),
]


@pytest.mark.parametrize("response", RESPONSES)
@pytest.mark.parametrize("fresh", [False, True], ids=["same-scrubber", "fresh-scrubber"])
def test_scrubbing_a_response_twice_changes_nothing(response: dict[str, Any], fresh: bool) -> None:
    first_scrubber = Scrubber(subscription_id=SUB)
    once = first_scrubber.response(response)
    again = (Scrubber(subscription_id=SUB) if fresh else first_scrubber).response(once)

    assert again == once
    assert SUB not in json.dumps(once, default=bytes.decode)


def test_identities_replaces_the_ids_learned_but_keeps_the_subscription(scrubber: Scrubber) -> None:
    placeholders = _body(scrubber.response(_response(_identity_body())))["properties"]

    said = scrubber.identities(f"{IDENTITY} resolves to {PRINCIPAL.upper()} in {TENANT}; not {OBJECT}")

    assert said == (
        f"{IDENTITY} resolves to {placeholders['principalId']} in {placeholders['tenantId']}; not {OBJECT}"
    )


# -- container URIs and URLs that fail the guard's judgement ---------------------------------------

# What the scrubber must drop whatever reached it: the guard should have stopped it first.
_SECRET_CLASSES = {"sas-token", "userinfo", "query-string", "fragment", "encoded-query", "backslash"}
HOSTILE_URIS = [case for case in BAD if set(case.values[1]) & _SECRET_CLASSES]


@pytest.mark.parametrize(("uri", "reasons"), HOSTILE_URIS)
def test_a_container_uri_that_fails_the_judgement_never_reaches_a_request_body(
    scrubber: Scrubber, uri: str, reasons: set[str]
) -> None:
    body = json.dumps({"azureStorageBlobContainerUri": uri, "backupId": "b-1"}).encode()

    scrubbed = scrubber.request(_request("http://127.0.0.1:8765/backup", body))

    assert json.loads(scrubbed.body) == {"azureStorageBlobContainerUri": REDACTED, "backupId": "b-1"}
    for secret in SECRETS:
        assert secret not in scrubbed.body.decode()


@pytest.mark.parametrize(("uri", "reasons"), HOSTILE_URIS)
def test_a_container_uri_that_fails_the_judgement_never_reaches_a_response_body(
    scrubber: Scrubber, uri: str, reasons: set[str]
) -> None:
    job = {"properties": {"status": "Succeeded", "azureStorageBlobContainerUri": uri}}

    scrubbed = _body(scrubber.response(_response(job)))

    assert scrubbed["properties"]["azureStorageBlobContainerUri"] == REDACTED


@pytest.mark.parametrize(
    "uri",
    [
        CONTAINER_URI,
        "https://chsmnoaccesssbx.blob.core.windows.net/chsm-backups",  # the negative scenario's account
        "https://chsmbackupsbx.blob.core.usgovcloudapi.net/chsm-backups",
    ],
)
def test_a_plain_container_uri_stays_as_it_was_sent(scrubber: Scrubber, uri: str) -> None:
    body = json.dumps({"azureStorageBlobContainerUri": uri}, separators=(",", ":")).encode()

    scrubbed = scrubber.request(_request("http://127.0.0.1:8765/backup", body))

    assert scrubbed.body == body


@pytest.mark.parametrize(
    "uri",
    [
        "https://chsm.blob.core.windows.net/c?sig=Zm9vYmFy",
        "https://user:hunter2@example.com/x",
        "http://evil.example\\@chsm.blob.core.windows.net/c",
    ],
)
def test_any_uri_in_a_request_body_that_fails_the_judgement_is_dropped(scrubber: Scrubber, uri: str) -> None:
    body = json.dumps({"properties": {"description": uri}}).encode()

    scrubbed = scrubber.request(_request("http://127.0.0.1:8765/x", body))

    assert json.loads(scrubbed.body) == {"properties": {"description": REDACTED}}


@pytest.mark.parametrize(
    "uri",
    [
        "https://user:hunter2@management.azure.com/subscriptions?api-version=2022-12-01",
        "https://hunter2@management.azure.com/subscriptions?api-version=2022-12-01",
        "http://user:hunter2@127.0.0.1:8765/subscriptions?api-version=2022-12-01",
    ],
)
def test_userinfo_never_reaches_a_recorded_url(scrubber: Scrubber, uri: str) -> None:
    scrubbed = scrubber.request(_request(uri))
    location = scrubber.response(_response(headers={"Location": [uri]}))["headers"]["location"][0]

    for url in (scrubbed.uri, location):
        assert "hunter2" not in url
        assert "@" not in url
        assert url.endswith("/subscriptions?api-version=2022-12-01")


@pytest.mark.parametrize(
    "path",
    [
        "/backup;sig=Zm9vYmFy",
        "/backup%3Fsig=Zm9vYmFy",
        "/backup%253Fsig%253DZm9vYmFy",
        "/backup%23sig=Zm9vYmFy",
    ],
)
def test_a_signature_hidden_in_a_url_path_never_reaches_a_cassette(scrubber: Scrubber, path: str) -> None:
    scrubbed = scrubber.request(_request(f"http://127.0.0.1:8765{path}?api-version=2025-03-31"))

    assert "Zm9vYmFy" not in scrubbed.uri
    assert scrubber.request(scrubbed).uri == scrubbed.uri


def test_a_uri_that_fails_the_judgement_in_a_text_request_body_is_dropped(scrubber: Scrubber) -> None:
    body = f"backup to {CONTAINER_URI};sig=Zm9vYmFy please, not to {CONTAINER_URI}".encode()

    scrubbed = scrubber.request(_request("http://127.0.0.1:8765/x", body))

    assert scrubbed.body == f"backup to {REDACTED} please, not to {CONTAINER_URI}".encode()


def test_vcrpys_request_and_response_are_left_as_they_were_and_a_fresh_one_is_scrubbed_in_place(
    scrubber: Scrubber,
) -> None:
    headers = {"Authorization": "Bearer eyJ0eXAiOiJKV1Qi", "Content-Type": "application/json"}
    handed = _request("http://127.0.0.1:8765/x?sig=abc", b"{}", headers)
    answer = {
        "status": {"code": 200},
        "headers": {"x-ms-operation-identifier": ["t"]},
        "body": {"string": b"{}"},
    }

    assert scrubber.request(handed) is not handed
    assert handed.headers["Authorization"] == "Bearer eyJ0eXAiOiJKV1Qi"  # vcrpy goes on using it
    assert scrubber.response(answer)["headers"] == {}
    assert answer["headers"] == {"x-ms-operation-identifier": ["t"]}

    fresh = _request("http://127.0.0.1:8765/x?sig=abc", b"{}", dict(headers))
    scrubbed = scrubber.request(fresh, fresh=True)
    assert scrubbed is fresh
    assert dict(fresh.headers) == {"Content-Type": "application/json"}
    assert fresh.uri.endswith(f"sig={REDACTED}")
    assert scrubber.response(answer, fresh=True) is answer
    assert answer["headers"] == {}
