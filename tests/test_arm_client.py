"""Who the ARM client will talk to, with which token, and how it reads lists."""

from __future__ import annotations

import pytest
from arm_fakes import (
    API_VERSION,
    CONTAINER_URI,
    ENDPOINT,
    SOURCE_ID,
    SUBSCRIPTION,
    FakeCredential,
    ScriptedTransport,
    make_client,
    reply,
)

from chsm_checks.arm.client import RequestRefused, loopback_sign_in
from chsm_checks.arm.clouds import KNOWN_CLOUDS
from chsm_checks.arm.errors import ArmError
from chsm_checks.arm.lro import PollPolicy
from chsm_checks.arm.resources import list_role_assignments, post_backup
from chsm_checks.errors import ReplayMissError

BACKUP = f"{SOURCE_ID}/backup"


@pytest.mark.parametrize(
    "url",
    [
        "https://management.azure.com/subscriptions",
        "http://10.0.0.4:8765/subscriptions",
        "http://127.0.0.1.example.com/subscriptions",
        "http://localhost.example.com/subscriptions",
        "https://[2001:db8::1]/subscriptions",
        # Names a resolver may send anywhere, and spellings only some parsers read as loopback.
        "http://a.localhost:8765/subscriptions",
        "http://LOCALHOST.:8765/subscriptions",
        "http://127.1:8765/subscriptions",
        "http://2130706433/subscriptions",
        "http://0x7f.0.0.1/subscriptions",
        "http://[::ffff:127.0.0.1]/subscriptions",
        "http://[::1%25lo]/subscriptions",
    ],
)
def test_without_a_credential_only_loopback_is_reachable(url: str) -> None:
    transport = ScriptedTransport()

    with pytest.raises(RequestRefused, match="unauthenticated"):
        make_client(transport).send("GET", url)

    assert transport.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9999/x",
        "http://localhost:8765/x",
        "http://LocalHost:8765/x",
        "http://[::1]:1/x",
        "http://127.0.0.2/x",
        "http://127.255.255.254/x",
    ],
)
def test_without_a_credential_any_loopback_address_is_reachable(url: str) -> None:
    transport = ScriptedTransport()
    transport.script("GET", url, reply(200, json={}))

    make_client(transport).send("GET", url)

    assert len(transport.requests) == 1
    assert "authorization" not in transport.requests[0].headers


def test_replay_sends_nothing_real_so_any_host_may_be_named() -> None:
    transport = ScriptedTransport()
    transport.script("GET", "https://management.azure.com/subscriptions", reply(200, json={}))

    make_client(transport, replay=True).send("GET", "https://management.azure.com/subscriptions")

    assert len(transport.requests) == 1


def test_token_goes_to_the_endpoint_with_the_endpoint_scope() -> None:
    credential = FakeCredential()
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, reply(200, json={}))

    make_client(transport, credential=credential).send("GET", SOURCE_ID, api_version=API_VERSION)

    assert credential.scopes == [(f"{ENDPOINT}/.default",)]
    assert transport.requests[0].headers["authorization"] == "Bearer token-1"


def test_public_cloud_scope_is_the_management_endpoint() -> None:
    credential = FakeCredential()
    transport = ScriptedTransport()
    transport.script("GET", f"https://management.azure.com{SOURCE_ID}", reply(200, json={}))
    client = make_client(transport, cloud=KNOWN_CLOUDS["AzureCloud"], credential=credential)

    client.send("GET", SOURCE_ID, api_version=API_VERSION)

    assert credential.scopes == [("https://management.azure.com/.default",)]
    assert transport.requests[0].url.host == "management.azure.com"


@pytest.mark.parametrize(
    "foreign",
    [
        "https://evil.example.com/status/1",
        "http://127.0.0.1:9999/status/1",
        "https://127.0.0.1:8765/status/1",
        "http://localhost:8765/status/1",
    ],
)
def test_with_a_credential_a_location_on_another_origin_is_refused(foreign: str) -> None:
    credential = FakeCredential()
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(202, headers={"location": foreign}))

    with pytest.raises(RequestRefused, match="bearer token"):
        post_backup(make_client(transport, credential=credential), SOURCE_ID, CONTAINER_URI, PollPolicy())

    assert [str(r.url.copy_with(query=None)) for r in transport.requests] == [f"{ENDPOINT}{BACKUP}"]


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@127.0.0.1:8765/x",
        "http://evil.example\\@127.0.0.1:8765/x",
        "http://evil.example@127.0.0.1:8765/x",
        "http://127.0.0.1\\@evil.example/x",
        "http://127.0.0.1:8765@evil.example/x",
    ],
)
@pytest.mark.parametrize("credential", [False, True])
def test_a_url_with_userinfo_is_never_sent(url: str, credential: bool) -> None:
    transport = ScriptedTransport()
    client = make_client(transport, credential=FakeCredential() if credential else None)

    with pytest.raises(RequestRefused, match="userinfo") as excinfo:
        client.send("GET", url)

    assert transport.requests == []
    assert "hunter2" not in str(excinfo.value)


@pytest.mark.parametrize(
    "foreign",
    [
        "https://management.azure.com@evil.example/op",
        "https://management.azure.com.evil.example/op",
        "https://management.azure.com\\@evil.example/op",
        "http://management.azure.com/op",
        "https://management.azure.com:8443/op",
    ],
)
def test_with_a_credential_no_token_goes_anywhere_but_the_clouds_arm_origin(foreign: str) -> None:
    credential = FakeCredential()
    transport = ScriptedTransport()
    client = make_client(transport, cloud=KNOWN_CLOUDS["AzureCloud"], credential=credential)

    with pytest.raises(RequestRefused):
        client.send("GET", foreign)

    assert transport.requests == []
    assert credential.scopes == []


def test_with_a_credential_the_endpoint_may_be_named_with_an_explicit_default_port() -> None:
    credential = FakeCredential()
    transport = ScriptedTransport()
    transport.script("GET", f"https://management.azure.com:443{SOURCE_ID}", reply(200, json={}))
    client = make_client(transport, cloud=KNOWN_CLOUDS["AzureCloud"], credential=credential)

    client.send("GET", f"https://management.azure.com:443{SOURCE_ID}")

    assert len(transport.requests) == 1


def test_a_token_is_reused_until_close_to_expiry() -> None:
    credential = FakeCredential(lifetime_seconds=3600)
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, *[reply(200, json={})] * 3)
    client = make_client(transport, credential=credential)

    for _ in range(3):
        client.send("GET", SOURCE_ID)

    assert len(credential.scopes) == 1
    assert {r.headers["authorization"] for r in transport.requests} == {"Bearer token-1"}


def test_a_token_close_to_expiry_is_refreshed_before_use() -> None:
    credential = FakeCredential(lifetime_seconds=60)  # inside the refresh margin
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, *[reply(200, json={})] * 2)
    client = make_client(transport, credential=credential)

    client.send("GET", SOURCE_ID)
    client.send("GET", SOURCE_ID)

    assert [r.headers["authorization"] for r in transport.requests] == ["Bearer token-1", "Bearer token-2"]


def test_a_401_refreshes_the_token_once_and_resends() -> None:
    credential = FakeCredential()
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, reply(401), reply(200, json={"name": "chsm-source"}))
    client = make_client(transport, credential=credential)

    assert client.get_json(SOURCE_ID) == {"name": "chsm-source"}

    assert [r.headers["authorization"] for r in transport.requests] == ["Bearer token-1", "Bearer token-2"]


def test_a_second_401_is_not_refreshed_again() -> None:
    credential = FakeCredential()
    transport = ScriptedTransport()
    transport.script(
        "GET", SOURCE_ID, *[reply(401, json={"error": {"code": "InvalidAuthenticationToken"}})] * 2
    )

    with pytest.raises(ArmError) as excinfo:
        make_client(transport, credential=credential).send("GET", SOURCE_ID)

    assert (excinfo.value.status, excinfo.value.code) == (401, "InvalidAuthenticationToken")
    assert len(transport.requests) == 2
    assert len(credential.scopes) == 2


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_read_only_client_refuses_anything_but_reads(method: str) -> None:
    transport = ScriptedTransport()

    with pytest.raises(RequestRefused, match="read-only"):
        make_client(transport, read_only=True).send(method, BACKUP, json={})

    assert transport.requests == []


def test_read_only_client_still_reads() -> None:
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, reply(200, json={"name": "chsm-source"}))

    assert make_client(transport, read_only=True).get_json(SOURCE_ID) == {"name": "chsm-source"}


def test_list_pages_follows_next_link_across_three_pages() -> None:
    scope = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-chsm-sandbox"
    path = f"{scope}/providers/Microsoft.Authorization/roleAssignments"
    principal = "11111111-2222-3333-4444-555555555555"

    def assignment(n: int) -> dict[str, object]:
        return {
            "id": f"{path}/ra-{n}",
            "properties": {
                "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/"
                "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
                "principalId": principal,
                "scope": scope,
            },
        }

    transport = ScriptedTransport()
    transport.script(
        "GET",
        path,
        reply(200, json={"value": [assignment(1), assignment(2)], "nextLink": f"{ENDPOINT}{path}?page=2"}),
        reply(200, json={"value": [assignment(3)], "nextLink": f"{ENDPOINT}{path}?page=3"}),
        reply(200, json={"value": [assignment(4)]}),
    )

    assignments = list_role_assignments(make_client(transport), scope, principal)

    assert [a.id.rsplit("/", 1)[-1] for a in assignments] == ["ra-1", "ra-2", "ra-3", "ra-4"]
    first, second, third = transport.requests
    assert first.url.params["$filter"] == f"principalId eq '{principal}'"
    assert first.url.params["api-version"] == "2022-04-01"
    assert (second.url.params["page"], third.url.params["page"]) == ("2", "3")


def test_a_list_without_value_is_a_malformed_answer() -> None:
    transport = ScriptedTransport()
    transport.script("GET", "/subscriptions", reply(200, json={"items": []}))

    with pytest.raises(ArmError) as excinfo:
        list(make_client(transport).list_pages("/subscriptions", "2022-12-01"))

    assert excinfo.value.code == "MalformedListResponse"


@pytest.mark.parametrize("content", [b"", b"[1, 2]", b"not json"])
def test_get_json_wants_a_json_object(content: bytes) -> None:
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, reply(200, content=content))

    with pytest.raises(ArmError) as excinfo:
        make_client(transport).get_json(SOURCE_ID)

    assert excinfo.value.code == "MalformedResponse"


def test_every_exchange_is_remembered_and_counted() -> None:
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, reply(200, json={}, headers={"x-ms-request-id": "rid-1"}))
    transport.script("POST", BACKUP, reply(400, json={"error": {"code": "BadRequest"}}))
    client = make_client(transport)

    client.send("GET", SOURCE_ID)
    with pytest.raises(ArmError):
        client.send("POST", BACKUP, json={})

    assert [(e.method, e.status, e.request_id, e.attempts) for e in client.exchanges] == [
        ("GET", 200, "rid-1", 1),
        ("POST", 400, None, 1),
    ]
    assert client.count("POST", "/backup") == 1
    assert client.count("GET") == 1


@pytest.mark.parametrize(
    "authority",
    [None, "https://login.microsoftonline.com", "login.microsoftonline.com", "https://10.0.0.4:8443"],
)
def test_no_token_for_the_sandbox_unless_the_sign_in_authority_is_on_loopback(
    monkeypatch: pytest.MonkeyPatch, authority: str | None
) -> None:
    if authority is None:
        monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    else:
        monkeypatch.setenv("AZURE_AUTHORITY_HOST", authority)

    assert loopback_sign_in() is None


def test_a_loopback_sign_in_authority_gives_azure_identitys_environment_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from azure.identity import EnvironmentCredential

    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "https://127.0.0.1:8443")

    assert isinstance(loopback_sign_in(), EnvironmentCredential)


# -- what error messages say about a URL -------------------------------------------------------

SIGNED_STATUS = f"{ENDPOINT}/op?api-version=2025-03-31&t=638&c=MIIH&s=c2lnbmVk&h=aGFzaA"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(SIGNED_STATUS, id="short-signed"),
        pytest.param(SIGNED_STATUS + "&pad=" + "x" * 400, id="long-signed"),
        pytest.param(f"{ENDPOINT}/op?", id="empty-query"),
        pytest.param(f"{ENDPOINT}/op#s=c2lnbmVk", id="fragment"),
        pytest.param(f"{ENDPOINT}/op%3Fs=c2lnbmVk", id="encoded-question-mark"),
        pytest.param(f"{ENDPOINT}/op;s=c2lnbmVk", id="semicolon"),
        pytest.param("http://user:c2lnbmVk@127.0.0.1:8765/op", id="userinfo"),
    ],
)
def test_an_arm_error_never_carries_a_query_string_whatever_its_length(url: str) -> None:
    error = ArmError(method="GET", url=url, status=500, code="Boom", message=f"failed at {url}", target=url)
    message = str(error)

    assert "c2lnbmVk" not in message
    assert "/op" in message
    assert "?" not in message.replace("?…", "")


def test_an_arm_error_from_a_response_never_carries_its_query_string() -> None:
    transport = ScriptedTransport()
    transport.script("GET", "/op", reply(409, json={"error": {"code": "Busy", "message": SIGNED_STATUS}}))

    with pytest.raises(ArmError) as excinfo:
        make_client(transport).send("GET", SIGNED_STATUS)

    assert "c2lnbmVk" not in str(excinfo.value)
    assert str(excinfo.value).startswith(f"GET {ENDPOINT}/op?…: HTTP 409 Busy")


def test_a_replay_miss_never_carries_a_query_string() -> None:
    error = ReplayMissError("GET", SIGNED_STATUS, "cassettes/x.yaml")

    assert str(error) == f"replay: GET {ENDPOINT}/op?… is not recorded in cassettes/x.yaml"
