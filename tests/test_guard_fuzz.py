"""Guard fuzzing: whatever the target, the inputs and the service's answers, nothing forbidden is sent.

Over every request a generated case makes, recorded where it is sent:

- no mutating request unless the run allows mutations and the client is not read-only;
- no restore POST to the source cluster, however its id is spelled (case, trailing slashes,
  percent-escapes, dot segments), nor to a cluster that a GET immediately before it did not read
  ``NotActivated``;
- no request carrying a SAS query or a ``token`` field, nothing at all sent for a container URI the
  guard's judgement refuses (query, fragment, userinfo, an escape, ``;sig=``, a backslash, a port,
  another host or path), and a body that names a container names exactly the target's;
- no request without a bearer token off loopback (127.0.0.0/8, ``::1``, ``localhost``: judged here
  independently of the library), and no bearer token to a host that is not the cloud's ARM endpoint.

The fast part drives the real guard and ``ArmClient`` over an ``httpx.MockTransport`` answering from
a generated service state; a smaller part drives them against the sandbox server on loopback.
Examples are derandomized (tests/conftest.py), so CI sees the same cases every run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from arm_fakes import TEST_RETRY, FakeCredential
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from chsm_checks.arm.client import ArmClient
from chsm_checks.arm.clock import RealClock, VirtualClock
from chsm_checks.arm.clouds import KNOWN_CLOUDS, Cloud, sandbox_cloud
from chsm_checks.arm.lro import PollPolicy
from chsm_checks.container_uri import blob_endpoint, judge_container_uri
from chsm_checks.errors import ChsmError
from chsm_checks.guard import PROBE_BACKUP_ID, request_backup, request_restore
from chsm_checks.target import Target, TargetFile, load_target
from tests.support.processes import ROOT, Sandbox, sandbox_process

POLICY = PollPolicy(default_interval_seconds=5.0, timeout_seconds=60.0)
SAS_KEYS = ("sv", "ss", "srt", "sp", "se", "st", "spr", "sig", "sr", "si", "ses", "skoid", "sdd")
ABSENT = "<absent>"  # a cluster whose properties carry no activationState at all
# What a GET of a cluster may answer: ("json", activationState), ("error", HTTP status), ("garbage", _).
ACTIVATION_STATES = [
    "NotActivated", "Active", "Failed", "NotDefined", "Unknown", "null", None, ABSENT,
    "notactivated", "NOTACTIVATED", " NotActivated", "NotActivated ", "Not Activated", "NotActivated\u200b",
]  # fmt: skip


OTHER_URIS = [
    "HTTPS://ACCT.BLOB.CORE.WINDOWS.NET/C",
    "http://acct.blob.core.windows.net/c",
    "https:///c",
    "c",
    "https://acct.blob.core.windows.net/c?SIG=x",
]

# --- generated inputs ----------------------------------------------------------------------------

# The target file's patterns, with a few non-ASCII word characters (both regex engines agree on them).
resource_groups = st.from_regex(r"[-A-Za-z0-9_.()éßÅ]{0,12}[-A-Za-z0-9_()éßÅ]", fullmatch=True)
cluster_names = st.from_regex(r"[A-Za-z0-9-]{3,12}", fullmatch=True)
endpoints = st.sampled_from(
    [
        "http://127.0.0.1:8765",
        "http://localhost:8765",
        "http://[::1]:8765",
        "http://127.9.9.9",
        "http://LocalHost:8765",
    ]
)
# Clouds no target file can name (its validation refuses them), which the client must still guard.
odd_clouds = st.sampled_from(
    [
        "http://10.0.0.1:8765",
        "http://127.0.0.1.nip.io:8765",
        "http://localhost.example.com",
        "https://management.azure.com.evil.example",
        "http://169.254.169.254",
        # Names a resolver may send anywhere (a target file refuses them now; the client must too).
        "http://a.localhost:8765",
        "http://localhost.:8765",
        "http://127.1:8765",
        "http://[::ffff:127.0.0.1]:8765",
    ]
).map(sandbox_cloud)


@st.composite
def targets(draw: st.DrawFn) -> Target:
    """A valid backup/restore target: any cloud, names as the target file's patterns allow."""
    place: dict[str, str] = (
        {"cloud": draw(st.sampled_from(sorted(KNOWN_CLOUDS)))}
        if draw(st.booleans())
        else {"arm_endpoint": draw(endpoints)}
    )
    source = {"resource_group": draw(resource_groups), "cluster": draw(cluster_names)}
    destination = {"resource_group": draw(resource_groups), "cluster": draw(cluster_names)}
    named = {"resource_group": draw(resource_groups), "name": "n1"}
    spec = TargetFile.model_validate(
        place
        | {
            "name": "fuzz",
            "subscription_id": str(draw(st.uuids())),
            "source": source,
            "destination": destination,
            "storage": {
                "resource_group": "rg",
                "account": draw(st.from_regex(r"[a-z0-9]{3,24}", fullmatch=True)),
                "container": "chsm-backups",
            },
            "identity": named,
            "private_endpoint": named | {"virtual_network": "vnet"},
        }
    )
    return Target(Path("fuzz.toml"), spec)


@st.composite
def spellings(draw: st.DrawFn, resource_id: str) -> str:
    """``resource_id`` as someone might write it: other case, slashes, spaces, escapes, dot segments.
    Every spelling names the same resource to ARM (or names nothing, with leading or inner spaces)."""
    text = draw(st.sampled_from([str, str.upper, str.lower, str.swapcase]))(resource_id)
    head, _, name = text.rpartition("/")
    how = draw(st.sampled_from(["plain", "escaped", "dot-segment", "double-slash"]))
    if how == "escaped":
        at = draw(st.integers(0, len(name) - 1))
        name = f"{name[:at]}%{ord(name[at]):02X}{name[at + 1 :]}"
    elif how == "dot-segment":
        head = head + draw(st.sampled_from(["/.", "/x/..", "/./x/.."]))
    elif how == "double-slash":
        head = head.replace("/providers/", "//providers/")
    return draw(st.sampled_from(["", " "])) + f"{head}/{name}" + draw(st.sampled_from(["", "/", "//", " "]))


@st.composite
def container_uris(draw: st.DrawFn, target: Target) -> str:
    """The target's container URI, as is or with a SAS (query, fragment, an escaped "?", after ";"),
    userinfo, a backslash, a port, another host or path, or some other URI."""
    uri = target.container_uri
    origin, container = uri.rsplit("/", 1)
    host = origin.removeprefix("https://")
    sas = "&".join(
        f"{draw(st.sampled_from([k, k.upper()]))}={v}"
        for k, v in draw(
            st.lists(st.tuples(st.sampled_from(SAS_KEYS), st.text("abcXYZ019=%+/", max_size=8)), max_size=4)
        )
    )
    how = draw(
        st.sampled_from(
            ["as-is", "sas", "fragment", "bare-question-mark", "escaped-question-mark", "semicolon",
             "userinfo", "backslash", "port", "other-host", "path", "upper-case-origin", "other"]
        )
    )  # fmt: skip
    if how == "sas":
        return uri + "?" + sas
    if how == "fragment":
        return uri + "#sig=" + draw(st.text("abcXYZ019", max_size=8))
    if how == "bare-question-mark":
        return uri + "?"
    if how == "escaped-question-mark":
        return uri + draw(st.sampled_from(["%3F", "%3f", "%253F"])) + sas
    if how == "semicolon":
        return uri + ";" + (sas or "sig=x")
    if how == "userinfo":
        return f"https://{draw(st.sampled_from(['user:pw', 'evil.example', host]))}@{host}/{container}"
    if how == "backslash":
        return draw(st.sampled_from([f"https://evil.example\\@{host}/{container}", f"{origin}\\{container}"]))
    if how == "port":
        return f"{origin}:{draw(st.sampled_from(['443', '8443', '']))}/{container}"
    if how == "other-host":
        return draw(
            st.sampled_from(
                [
                    f"https://{host}.evil.example/{container}",
                    f"https://{host}./{container}",
                    f"https://x{host}/{container}",
                ]
            )
        )
    if how == "path":
        return draw(st.sampled_from([origin + "/", f"{uri}/", f"{uri}/blob", f"{origin}//{container}"]))
    if how == "upper-case-origin":  # the one variant that may be sent: scheme and host ignore case
        return origin.upper() + "/" + container
    if how == "other":
        return draw(st.sampled_from(OTHER_URIS))
    return uri


def status_urls(endpoint: str) -> st.SearchStrategy[str]:
    """Where the service says to poll: its own signed status URL, or somewhere it should not send us."""
    own = f"{endpoint}/subscriptions/s/providers/Microsoft.HardwareSecurityModules/operationStatuses/o"
    return st.sampled_from(
        [
            own + "?api-version=2025-03-31&t=1&c=abc&s=signed&h=hash",
            own.upper(),
            "https://evil.example/op",
            "http://management.azure.com/op",
            "https://management.azure.com.evil.example/op",
            "https://management.azure.com@evil.example/op",
            "https://management.azure.com:443/op",
            "http://127.0.0.1:1/op",
            "http://[::1]/op",
            "//evil.example/op",
            "/relative/op",
            "http://169.254.169.254/metadata/identity/oauth2/token",
            "http://a.localhost/op",
            "http://localhost./op",
            "http://127.0.0.1\\@evil.example/op",
            "http://user:pw@127.0.0.1/op",
            "http://2130706433/op",
        ]
    )


reads = st.one_of(
    st.just(("json", "NotActivated")),
    st.sampled_from(ACTIVATION_STATES).map(lambda state: ("json", state)),
    st.text(max_size=12).map(lambda state: ("json", state)),
    st.sampled_from([("error", 404), ("error", 409), ("error", 500), ("error", 503), ("garbage", None)]),
)


@dataclass(frozen=True)
class Case:
    """One generated situation: the target, what the guard is asked, and how the service answers."""

    target: Target
    cloud: Cloud
    credential: bool
    read_only: bool
    allow_mutations: bool
    operation: str
    destination_id: str
    container_uri: str
    backup_id: str
    reads: tuple[tuple[str, Any], ...]  # the answers to successive GETs of a cluster (the last repeats)
    post: str  # "accepted", "done" or "rejected"
    polls: tuple[str, ...]  # the polling URLs the service hands out, one per answer, then done


def mostly(usual: Any, unusual: Any) -> st.SearchStrategy[Any]:
    """``usual`` three times in four: most cases should get as far as a request."""
    return st.sampled_from([usual, usual, usual, unusual])


@st.composite
def cases(draw: st.DrawFn, *, restores: bool = False) -> Case:
    """Any case; with ``restores``, one where only the guard's own checks stand between it and a
    restore POST: mutations allowed, a client that may send, a clean container URI."""
    target = draw(targets())
    cloud = target.cloud if restores else (draw(mostly(target.cloud, None)) or draw(odd_clouds))
    usual_credential = not cloud.is_loopback  # what a run gives it: the sandbox needs no token
    destination = draw(st.sampled_from(["as given", "source spelled", "destination spelled"]))
    return Case(
        target=target,
        cloud=cloud,
        credential=usual_credential if restores else draw(mostly(usual_credential, not usual_credential)),
        read_only=False if restores else draw(mostly(False, True)),
        allow_mutations=True if restores else draw(mostly(True, False)),
        operation="restore" if restores else draw(mostly("restore", "backup")),
        destination_id=(
            target.destination_id
            if destination == "as given"
            else draw(
                spellings(target.source_id if destination == "source spelled" else target.destination_id)
            )
        ),
        container_uri=(
            target.container_uri
            if restores
            else draw(st.one_of(st.just(target.container_uri), container_uris(target)))
        ),
        backup_id=draw(st.one_of(st.just(PROBE_BACKUP_ID), st.text(max_size=20))),
        reads=tuple(
            draw(
                st.lists(mostly(("json", "NotActivated"), None).flatmap(_or_any_read), min_size=1, max_size=3)
            )
        ),
        post=draw(st.sampled_from(["accepted", "done", "rejected"])),
        polls=tuple(draw(st.lists(status_urls(cloud.arm_endpoint), min_size=1, max_size=3))),
    )


def _or_any_read(read: tuple[str, Any] | None) -> st.SearchStrategy[tuple[str, Any]]:
    return st.just(read) if read is not None else reads


# --- the service, and what it was sent ----------------------------------------------------------


@dataclass
class Sent:
    """A request as it reached the service, and the activationState the service answered, if any."""

    request: httpx.Request
    activation: Any = None
    answered_ok: bool = False


@dataclass
class Service:
    """ARM as a generated state answers it; keeps every request sent to it."""

    case: Case
    sent: list[Sent] = field(default_factory=list)
    _reads: int = 0
    _polls: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        # A copy: httpx may resend (and so change) the request it handed over.
        copy = httpx.Request(
            request.method, request.url, headers=request.headers.copy(), content=request.content
        )
        sent = Sent(copy)
        self.sent.append(sent)
        path = request.url.path
        if request.method == "POST":
            return self._post(request)
        if _is_cluster(path):
            kind, value = self.case.reads[min(self._reads, len(self.case.reads) - 1)]
            self._reads += 1
            if kind == "error":
                return httpx.Response(value, json={"error": {"code": "Fuzzed", "message": "no"}})
            if kind == "garbage":
                return httpx.Response(200, content=b"<html>not json")
            properties = {"provisioningState": "Succeeded"} | (
                {} if value == ABSENT else {"activationState": value}
            )
            sent.activation, sent.answered_ok = value, True
            return httpx.Response(
                200, json={"id": path, "name": path.rsplit("/", 1)[-1], "properties": properties}
            )
        return self._poll()

    def _post(self, request: httpx.Request) -> httpx.Response:
        if self.case.post == "rejected":
            return httpx.Response(409, json={"error": {"code": "Conflict", "message": "no"}})
        if self.case.post == "done":
            return httpx.Response(200, json={"properties": {"status": "Succeeded", "backupId": "b-1"}})
        return self._poll()

    def _poll(self) -> httpx.Response:
        if self._polls < len(self.case.polls):
            header = "Azure-AsyncOperation" if self._polls % 2 else "Location"
            url = self.case.polls[self._polls]
            self._polls += 1
            return httpx.Response(202, headers={header: url, "Retry-After": "1"})
        return httpx.Response(200, json={"status": "Succeeded", "properties": {"backupId": "b-1"}})


def _is_cluster(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    return len(parts) >= 2 and parts[-2].lower() == "cloudhsmclusters"


def _as_arm_reads_it(path: str) -> str:
    """The resource a request path names, as ARM resolves it: escapes decoded, dot segments gone
    (httpx did both), repeated and trailing slashes dropped, case ignored."""
    return re.sub("/+", "/", path).rstrip("/").lower()


def run_case(
    case: Case, transport: httpx.BaseTransport, clock: Any = None, policy: PollPolicy = POLICY
) -> None:
    """Ask the real guard, with a real client over ``transport``; any error is an outcome, not a failure."""
    client = ArmClient(
        case.cloud,
        credential=FakeCredential() if case.credential else None,
        transport=transport,
        clock=clock or VirtualClock(),
        retry=TEST_RETRY,
        read_only=case.read_only,
    )
    with client:
        try:
            if case.operation == "backup":
                request_backup(
                    client, cluster_id=case.target.source_id, container_uri=case.container_uri,
                    blob_endpoint=_blob_endpoint(case.target), allow_mutations=case.allow_mutations,
                    policy=policy,
                )  # fmt: skip
            else:
                request_restore(
                    client, source_id=case.target.source_id, destination_id=case.destination_id,
                    container_uri=case.container_uri, blob_endpoint=_blob_endpoint(case.target),
                    backup_id=case.backup_id, allow_mutations=case.allow_mutations, policy=policy,
                )  # fmt: skip
        except ChsmError:
            pass


def _blob_endpoint(target: Target) -> str:
    return blob_endpoint(target.spec.storage.account, target.cloud.storage_suffix)


# --- the properties ------------------------------------------------------------------------------


def assert_no_mutation_unless_allowed(case: Case, sent: list[Sent]) -> None:
    if not case.allow_mutations or case.read_only:
        mutating = [
            f"{s.request.method} {s.request.url}" for s in sent if s.request.method not in ("GET", "HEAD")
        ]
        assert mutating == []


def assert_restores_only_into_a_fresh_notactivated_other_cluster(case: Case, sent: list[Sent]) -> None:
    source = _as_arm_reads_it(httpx.URL(case.cloud.arm_endpoint + case.target.source_id).path)
    for n, s in enumerate(sent):
        if s.request.method != "POST" or not _as_arm_reads_it(s.request.url.path).endswith("/restore"):
            continue
        cluster = _as_arm_reads_it(s.request.url.path).removesuffix("/restore")
        assert cluster != source, f"a restore POST reached the source: {s.request.url}"
        assert n > 0, "no GET before the POST"
        before = sent[n - 1]
        assert before.request.method == "GET", "no GET immediately before the POST"
        assert _as_arm_reads_it(before.request.url.path) == cluster, (
            "the GET before the POST read another cluster"
        )
        assert before.answered_ok, "the GET before the POST was not answered"
        assert before.activation == "NotActivated", f"restored after reading {before.activation!r}"


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def assert_no_sas_and_no_token(case: Case, sent: list[Sent]) -> None:
    parts = urlsplit(case.container_uri)
    if parts.query or parts.fragment or any(c in case.container_uri for c in "?#;@\\%"):
        assert [s.request.url for s in sent] == [], "a container URI with a query string must send nothing"
    if not judge_container_uri(case.container_uri, _blob_endpoint(case.target)).ok:
        assert [s.request.url for s in sent] == [], "a container URI the judgement refuses must send nothing"
    for s in sent:
        assert not {k.lower() for k in s.request.url.params} & set(SAS_KEYS), f"SAS query in {s.request.url}"
        if s.request.content:
            body = json.loads(s.request.content)
            assert "token" not in {k.lower() for k in _keys(body)}
            uri = str(body.get("azureStorageBlobContainerUri", ""))
            # Judged independently of the library: the target's own URI, up to the case of its origin.
            assert uri.lower() == case.target.container_uri.lower(), f"sent container URI {uri!r}"
            assert uri.rsplit("/", 1)[1] == case.target.container_uri.rsplit("/", 1)[1]


def assert_tokens_only_to_arm_and_no_token_only_to_loopback(case: Case, sent: list[Sent]) -> None:
    arm = httpx.URL(case.cloud.arm_endpoint)
    for s in sent:
        url = s.request.url
        if "authorization" in s.request.headers:
            assert (url.scheme, url.host, url.port) == (arm.scheme, arm.host, arm.port), (
                f"token sent to {url}"
            )
        else:
            assert _this_machine(url), f"an unauthenticated request left loopback: {url}"


def _this_machine(url: httpx.URL) -> bool:
    """127.0.0.0/8 in dotted-quad form, ::1 or localhost, as httpx will connect: nothing else."""
    host = url.host.lower()
    quad = re.fullmatch(r"127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})", host)
    in_127 = quad is not None and all(int(octet) <= 255 for octet in quad.groups())
    return not url.userinfo and (host in ("localhost", "::1") or in_127)


def _reached(sent: list[Sent]) -> str:
    if any(s.request.method == "POST" for s in sent):
        return "a POST was"
    return "only reads were" if sent else "nothing was"


PROPERTIES = (
    assert_no_mutation_unless_allowed,
    assert_restores_only_into_a_fresh_notactivated_other_cluster,
    assert_no_sas_and_no_token,
    assert_tokens_only_to_arm_and_no_token_only_to_loopback,
)


SANDBOX_TARGET = load_target(ROOT / "targets" / "sandbox.toml")
# A backup that gets as far as polling, with no token: every request it makes must stay on this machine.
_TOKENLESS_BACKUP = Case(
    target=SANDBOX_TARGET,
    cloud=SANDBOX_TARGET.cloud,
    credential=False,
    read_only=False,
    allow_mutations=True,
    operation="backup",
    destination_id=SANDBOX_TARGET.destination_id,
    container_uri=SANDBOX_TARGET.container_uri,
    backup_id=PROBE_BACKUP_ID,
    reads=(("json", "NotActivated"),),
    post="accepted",
    polls=(),
)
_NOT_THIS_MACHINE = ["http://a.localhost/op", "http://localhost./op", "http://user:pw@127.0.0.1/op"]


@settings(max_examples=1000)
@given(cases())
# *.localhost, a trailing dot and userinfo, as the cloud and as the status URL the service hands out.
@example(replace(_TOKENLESS_BACKUP, cloud=sandbox_cloud("http://a.localhost:8765")))
@example(replace(_TOKENLESS_BACKUP, cloud=sandbox_cloud("http://localhost.:8765")))
@example(replace(_TOKENLESS_BACKUP, polls=tuple(_NOT_THIS_MACHINE)))
@example(replace(_TOKENLESS_BACKUP, polls=(_NOT_THIS_MACHINE[1],)))
@example(replace(_TOKENLESS_BACKUP, polls=(_NOT_THIS_MACHINE[2],)))
# A SAS after ";" and behind an escaped "?": the signature was sent before the guard judged them.
@example(replace(_TOKENLESS_BACKUP, container_uri=SANDBOX_TARGET.container_uri + ";sig=x"))
@example(replace(_TOKENLESS_BACKUP, container_uri=SANDBOX_TARGET.container_uri + "%3Fsig=x"))
def test_nothing_forbidden_is_sent_whatever_the_service_answers(case: Case) -> None:
    service = Service(case)

    run_case(case, httpx.MockTransport(service.handle))

    event(f"{_reached(service.sent)} sent")  # --hypothesis-show-statistics: how far cases got
    for prop in PROPERTIES:
        prop(case, service.sent)


@settings(max_examples=500)
@given(cases(restores=True))
def test_a_restore_goes_only_where_a_fresh_read_allows(case: Case) -> None:
    # The same properties, on the cases where only the fresh read stands between the guard and a POST.
    service = Service(case)

    run_case(case, httpx.MockTransport(service.handle))

    event(f"{_reached(service.sent)} sent")
    assert_restores_only_into_a_fresh_notactivated_other_cluster(case, service.sent)
    assert_no_sas_and_no_token(case, service.sent)


# --- against the sandbox ------------------------------------------------------------------------

SANDBOX_POLICY = PollPolicy(default_interval_seconds=0.05, timeout_seconds=20.0)


class RecordingTransport(httpx.BaseTransport):
    """A real transport to the sandbox that keeps every request it sends and what a cluster GET read."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = Sent(
            httpx.Request(
                request.method, request.url, headers=request.headers.copy(), content=request.content
            )
        )
        self.sent.append(sent)
        response = self._inner.handle_request(request)
        if request.method == "GET" and _is_cluster(request.url.path) and response.status_code == 200:
            response.read()
            properties = response.json().get("properties") or {}
            sent.activation, sent.answered_ok = properties.get("activationState", ABSENT), True
        return response

    def close(self) -> None:
        self._inner.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state = tmp_path_factory.mktemp("fuzz-sandbox")
    with sandbox_process(state, "--backup-seconds", "0.1", "--restore-seconds", "0.1") as served:
        yield served


@st.composite
def sandbox_cases(draw: st.DrawFn) -> tuple[Case, dict[str, Any]]:
    """A case against the sandbox's own target, and the activation states to give its two clusters."""
    target = SANDBOX_TARGET
    destination = draw(st.sampled_from(["as given", "source spelled", "destination spelled"]))
    case = Case(
        target=target,
        cloud=target.cloud,  # replaced by the running sandbox's address
        credential=False,
        read_only=draw(mostly(False, True)),
        allow_mutations=draw(mostly(True, False)),
        operation=draw(mostly("restore", "backup")),
        destination_id=(
            target.destination_id
            if destination == "as given"
            else draw(
                spellings(target.source_id if destination == "source spelled" else target.destination_id)
            )
        ),
        container_uri=draw(mostly(target.container_uri, None)) or draw(container_uris(target)),
        backup_id=PROBE_BACKUP_ID,
        reads=(),
        post="",
        polls=(),
    )
    states = st.one_of(
        st.just("NotActivated"), st.sampled_from([s for s in ACTIVATION_STATES if s != ABSENT])
    )
    return case, {"chsm-source": draw(states), "chsm-dest": draw(states)}


# What the fast part found (a percent-escape hid the source from the guard), replayed for real.
ESCAPED_SOURCE = Case(
    target=SANDBOX_TARGET,
    cloud=SANDBOX_TARGET.cloud,
    credential=False,
    read_only=False,
    allow_mutations=True,
    operation="restore",
    destination_id=SANDBOX_TARGET.source_id.replace("/chsm-source", "/chsm%2Dsource"),
    container_uri=SANDBOX_TARGET.container_uri,
    backup_id=PROBE_BACKUP_ID,
    reads=(),
    post="",
    polls=(),
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(sandbox_cases())
@example((ESCAPED_SOURCE, {"chsm-source": "NotActivated", "chsm-dest": "NotActivated"}))
def test_nothing_forbidden_reaches_the_sandbox(sandbox: Sandbox, drawn: tuple[Case, dict[str, Any]]) -> None:
    case, states = drawn
    sandbox.post("/_sandbox/reset")
    for name, state in states.items():
        sandbox.patch_cluster(name, {"activationState": state})
    case = replace(case, cloud=sandbox_cloud(sandbox.url))
    transport = RecordingTransport()

    run_case(case, transport, RealClock(), SANDBOX_POLICY)

    event(f"{_reached(transport.sent)} sent")
    for prop in PROPERTIES:
        prop(case, transport.sent)
    # What the sandbox says arrived is what was sent: nothing reached it around the recording.
    arrived = [(r["method"], _as_arm_reads_it(r["path"])) for r in sandbox.requests()]
    assert arrived == [(s.request.method, _as_arm_reads_it(s.request.url.path)) for s in transport.sent]
