"""Container URIs a backup may be asked to send, and every reason each one must be refused for.

One table, shared by the tests of the judgement itself, the guard, ``requests.no-sas``, the fleet's
container tags and the scrubber: they must all say the same thing about the same URI.
"""

from __future__ import annotations

import pytest

ACCOUNT = "chsmbackupsbx"
BLOB_ENDPOINT = f"https://{ACCOUNT}.blob.core.windows.net/"
CONTAINER_URI = f"{BLOB_ENDPOINT}chsm-backups"
# The secret-shaped parts of the table: no refusal, finding or message may repeat them.
SECRETS = ("Zm9vYmFy", "hunter2", "s3cr3t")
SIG = "sig=Zm9vYmFyU2VjcmV0"

GOOD = [
    pytest.param(CONTAINER_URI, id="plain"),
    pytest.param(f"{BLOB_ENDPOINT}abc", id="shortest-container-name"),
    pytest.param(f"{BLOB_ENDPOINT}{'a' * 63}", id="longest-container-name"),
    pytest.param(f"{BLOB_ENDPOINT}a-b-c", id="single-hyphens"),
    # Scheme and host are case-insensitive on the wire (DNS, RFC 3986, WHATWG all lower-case them).
    pytest.param("HTTPS://CHSMBACKUPSBX.BLOB.CORE.WINDOWS.NET/chsm-backups", id="upper-case-origin"),
]

# (uri, every reason it fails for), each class one the old judgement let through or mislabelled.
BAD = [
    # not https: was refused as "sas-token"
    pytest.param("http://chsmbackupsbx.blob.core.windows.net/chsm-backups", {"not-https"}, id="http"),
    pytest.param("ftp://chsmbackupsbx.blob.core.windows.net/chsm-backups", {"not-https"}, id="ftp"),
    pytest.param("chsm-backups", {"not-https", "not-account-endpoint", "path"}, id="bare-name"),
    pytest.param("https:///chsm-backups", {"not-account-endpoint"}, id="no-host"),
    # the host: was compared with the account's blob endpoint by requests.no-sas only
    pytest.param(
        "https://chsmbackupsbxold.blob.core.windows.net/chsm-backups",
        {"not-account-endpoint"},
        id="another-account",
    ),
    pytest.param(
        "https://chsmbackupsbx.blob.core.windows.net.evil.example/chsm-backups",
        {"not-account-endpoint"},
        id="endpoint-as-a-prefix",
    ),
    pytest.param(
        "https://evil.example/chsmbackupsbx.blob.core.windows.net/x",
        {"not-account-endpoint", "path"},
        id="endpoint-in-the-path",
    ),
    pytest.param(
        "https://chsmbackupsbx.blob.core.windows.net./chsm-backups",
        {"not-account-endpoint"},
        id="trailing-dot",
    ),
    pytest.param("https://20.60.0.1/chsm-backups", {"not-account-endpoint"}, id="ipv4-literal"),
    pytest.param("https://[::1]/chsm-backups", {"not-account-endpoint"}, id="ipv6-literal"),
    pytest.param(
        "https://%63hsmbackupsbx.blob.core.windows.net/chsm-backups",
        {"not-account-endpoint"},
        id="percent-encoded-host",
    ),
    pytest.param(
        "https://chsmbackupsb\u0445.blob.core.windows.net/chsm-backups",  # a Cyrillic "х"
        {"not-account-endpoint", "unsafe-characters"},
        id="idn-homograph",
    ),
    pytest.param(
        "https://xn--chsmbackupsb-xyz.blob.core.windows.net/chsm-backups",
        {"not-account-endpoint"},
        id="punycode-host",
    ),
    pytest.param("https://chsmbackupsbx.blob.core.windows.net:443/chsm-backups", {"port"}, id="default-port"),
    pytest.param("https://chsmbackupsbx.blob.core.windows.net:/chsm-backups", {"port"}, id="empty-port"),
    # userinfo: passed both
    pytest.param(
        "https://user:hunter2@chsmbackupsbx.blob.core.windows.net/chsm-backups", {"userinfo"}, id="userinfo"
    ),
    pytest.param(
        "https://chsmbackupsbx.blob.core.windows.net@evil.example/chsm-backups",
        {"userinfo", "not-account-endpoint"},
        id="endpoint-as-userinfo",
    ),
    # a backslash: Python reads the host after "@", WHATWG and .NET read it before the backslash
    pytest.param(
        "https://evil.example\\@chsmbackupsbx.blob.core.windows.net/chsm-backups",
        {"backslash", "userinfo", "not-account-endpoint", "path"},
        id="backslash-before-at",
    ),
    pytest.param(
        "https://chsmbackupsbx.blob.core.windows.net\\chsm-backups",
        {"backslash", "not-account-endpoint"},  # Python reads the whole of it as the host
        id="backslash-as-slash",
    ),
    # any query, even an empty one: a bare "?" passed requests.no-sas
    pytest.param(f"{CONTAINER_URI}?", {"query-string"}, id="empty-query"),
    pytest.param(f"{CONTAINER_URI}?comp=list", {"query-string"}, id="harmless-query"),
    pytest.param(f"{CONTAINER_URI}?sv=2022-11-02&sr=c&{SIG}", {"query-string", "sas-token"}, id="sas-query"),
    pytest.param(f"{CONTAINER_URI}?SIG=Zm9vYmFy&SE=2030", {"query-string", "sas-token"}, id="sas-upper-case"),
    pytest.param(f"{CONTAINER_URI}#", {"fragment"}, id="empty-fragment"),
    pytest.param(f"{CONTAINER_URI}#{SIG}", {"fragment", "sas-token"}, id="sas-fragment"),
    # an encoded "?" and a SAS after ";": passed both, and the signature was sent
    pytest.param(
        f"{CONTAINER_URI}%3Fsv=2022-11-02%26{SIG}",
        {"encoded-query", "sas-token", "container-name"},
        id="encoded-question-mark",
    ),
    pytest.param(f"{CONTAINER_URI}%3f", {"encoded-query", "container-name"}, id="encoded-lower-case"),
    pytest.param(
        f"{CONTAINER_URI}%253Fsig%253DZm9vYmFy",
        {"encoded-query", "sas-token", "container-name"},
        id="double-encoded",
    ),
    pytest.param(f"{CONTAINER_URI};{SIG}", {"sas-token", "container-name"}, id="semicolon-sas"),
    pytest.param(f"{CONTAINER_URI};SiG=s3cr3t", {"sas-token", "container-name"}, id="semicolon-mixed-case"),
    # characters parsers drop, trim or fold
    pytest.param(f" {CONTAINER_URI}", {"unsafe-characters", "not-https"}, id="leading-space"),
    pytest.param(f"{CONTAINER_URI}\n", {"unsafe-characters", "container-name"}, id="trailing-newline"),
    pytest.param(
        "https://chsmbackupsbx.blob.core.win\tdows.net/chsm-backups",
        {"unsafe-characters", "not-account-endpoint"},
        id="tab-in-host",
    ),
    # the path: exactly /<container>
    pytest.param(BLOB_ENDPOINT, {"path"}, id="no-container"),
    pytest.param(BLOB_ENDPOINT.rstrip("/"), {"path"}, id="no-path"),
    pytest.param(f"{CONTAINER_URI}/", {"path"}, id="trailing-slash"),
    pytest.param(f"{CONTAINER_URI}/blob", {"path"}, id="a-blob"),
    pytest.param(f"{BLOB_ENDPOINT}/chsm-backups", {"path"}, id="doubled-slash"),
    pytest.param(f"{BLOB_ENDPOINT}chsm-backups/../other", {"path"}, id="dot-segments"),
    pytest.param(f"{BLOB_ENDPOINT}Chsm-Backups", {"container-name"}, id="upper-case-container"),
    pytest.param(f"{BLOB_ENDPOINT}ab", {"container-name"}, id="container-too-short"),
    pytest.param(f"{BLOB_ENDPOINT}{'a' * 64}", {"container-name"}, id="container-too-long"),
    pytest.param(f"{BLOB_ENDPOINT}a--b", {"container-name"}, id="double-hyphen"),
    pytest.param(f"{BLOB_ENDPOINT}-abc", {"container-name"}, id="leading-hyphen"),
    pytest.param(f"{BLOB_ENDPOINT}chsm%2Dbackups", {"container-name"}, id="percent-escaped-container"),
    pytest.param(f"{BLOB_ENDPOINT}chsm_backups", {"container-name"}, id="underscore"),
]
