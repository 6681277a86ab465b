"""A run directory as a sealed evidence bundle: a manifest of every file, signed with Ed25519.

Layout added to a run directory by :func:`sign`::

    SIGNER.json              who signed, with what key, and whether that key is trusted (listed)
    MANIFEST.sha256          ``<sha256>  <path>`` for every other file; ``sha256sum -c`` reads it
    MANIFEST.sha256.sig      base64 of the raw 64-byte Ed25519 signature over MANIFEST.sha256
    MANIFEST.sha256.pub.pem  the public half of the signing key

A merged bundle holds as well, under its manifest::

    SHARDS.json              each shard's signer: its public key, its manifest's digest and signature,
                             and whether the merge checked that key against one it was given

The bundled public key only shows that the files are unchanged since someone sealed them; that
*you* trust the signer is shown only by verifying with a public key obtained elsewhere. Trust is
never laundered: a merge signs with a trusted key only shards whose signers it checked, and a
merged bundle verifies as trusted only when its shards' signers are trusted too.

A verifier treats the bundle as hostile: it reads only regular files it found by walking the
directory without following links, and never a path the manifest names unless the walk found it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ChsmError, ConfigError
from ..lifecycle.summary import MergedFrom, RunSummary, ScenarioEntry, Selection, ShardSelection, Signing

MANIFEST = "MANIFEST.sha256"
SIGNATURE = "MANIFEST.sha256.sig"
PUBLIC_KEY = "MANIFEST.sha256.pub.pem"
SIGNER = "SIGNER.json"
SHARDS = "SHARDS.json"
SUMMARY = "summary.json"
SEAL_FILES = frozenset({MANIFEST, SIGNATURE, PUBLIC_KEY})
GENERATED = "generated for this run"
# Merged by relative path across shards; every other file of a shard goes to shards/<name>/.
MERGED_TREES = ("evidence", "allure-results")

_LINE = re.compile(r"([0-9a-f]{64})  (.+)")


class BundleError(ChsmError):
    """A run directory cannot be sealed, or run directories cannot be merged."""


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key and where it came from: ``path``, ``environment`` or generated."""

    private_key: Ed25519PrivateKey
    trusted: bool
    source: str

    @property
    def public_key_sha256(self) -> str:
        return _fingerprint(self.private_key.public_key())

    @property
    def statement(self) -> str:
        """One sentence on what the signature with this key is worth."""
        if not self.trusted:
            return f"not signed by a trusted key: the key was {GENERATED} and discarded"
        where = "a key file" if self.source == "path" else "an environment variable"
        return f"signed with the Ed25519 key from {where} (sha256:{self.public_key_sha256})"


@dataclass
class Verification:
    """What :func:`verify` found.

    ``intact`` when every file matches, the signature holds and nothing is amiss; ``ok`` when, as
    well, the run is a complete account: it was sealed and every scenario it planned ran.
    """

    run_dir: Path
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    signature_ok: bool = False
    trusted: bool = False
    matched: int = 0
    public_key_sha256: str | None = None
    signer: dict[str, Any] | None = None
    incomplete: list[str] = field(default_factory=list)  # why the run is not a complete account
    not_run: list[str] = field(default_factory=list)  # the scenarios it planned and did not run
    shards: int = 0  # a merged bundle: how many shards its SHARDS.json records
    shards_trusted: int = 0  # of those, how many are signed by a key trusted here
    shards_verified_at_merge: bool = False  # the merge says it checked every shard's signer
    partial: str | None = None  # what left scenarios out of a run by choice (-k, -m), if anything

    @property
    def intact(self) -> bool:
        return self.signature_ok and not (self.missing or self.extra or self.changed or self.problems)

    @property
    def ok(self) -> bool:
        return self.intact and not self.incomplete

    @property
    def verdict(self) -> str:
        if not self.signature_ok:
            seal = "signature does not hold"
        elif self.trusted:
            seal = f"signed by a trusted key (Ed25519 sha256:{self.public_key_sha256})"
        elif self.signer is not None and self.signer.get("source") == GENERATED:
            seal = f"not signed by a trusted key: the key was {GENERATED}"
        else:
            seal = "not signed by a trusted key: give --public-key to check the signer"
        incomplete = f"; INCOMPLETE: {', '.join(self.incomplete)}" if self.incomplete else ""
        seal += self._shards_verdict()
        if self.intact:
            return f"{self.run_dir}: all {self.matched} files match {MANIFEST}{incomplete}; {seal}"
        counts = [
            f"{len(items)} {label}"
            for items, label in (
                (self.missing, "missing"),
                (self.extra, "extra"),
                (self.changed, "changed"),
                (self.problems, "problem" if len(self.problems) == 1 else "problems"),
            )
            if items
        ]
        detail = f" ({', '.join(counts)})" if counts else ""
        return f"{self.run_dir}: does not verify{detail}{incomplete}; {seal}"

    def _shards_verdict(self) -> str:
        """What this verification makes of a merged bundle's shards' signers."""
        n = self.shards
        if not n:
            return ""
        if self.shards_trusted == n:
            return (
                "; the 1 shard is signed by a trusted key"
                if n == 1
                else f"; the {n} shards are signed by trusted keys"
            )
        if self.shards_verified_at_merge and not self.trusted:
            shards = "its shard" if n == 1 else f"its {n} shards"
            return f"; the merge verified the signers of {shards}, which only --public-key can confirm"
        unverified = n - self.shards_trusted
        return f"; {shards_statement(n, verified=False, unverified=unverified)} (give --shard-public-key)"

    def report(self) -> list[str]:
        """One line per missing, extra or changed file, per problem and per scenario that did not
        run; then the verdict."""
        return [
            *(f"missing: {path}" for path in self.missing),
            *(f"extra: {path}" for path in self.extra),
            *(f"changed: {path}" for path in self.changed),
            *(f"problem: {problem}" for problem in self.problems),
            *(f"not run: {scenario}" for scenario in self.not_run),
            *([self.partial] if self.partial else []),
            self.verdict,
        ]


@dataclass(frozen=True)
class _Tree:
    files: list[str]
    irregular: list[tuple[str, str]]


def _walk(root: Path) -> _Tree:
    """Regular files under ``root`` as sorted POSIX paths, and what is not one; links are not followed."""
    files: list[str] = []
    irregular: list[tuple[str, str]] = []

    def visit(directory: str, prefix: str) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                relative = prefix + entry.name
                if entry.is_symlink():
                    irregular.append((relative, "a symbolic link"))
                elif entry.is_dir(follow_symlinks=False):
                    visit(entry.path, relative + "/")
                elif entry.is_file(follow_symlinks=False):
                    files.append(relative)
                else:
                    irregular.append((relative, "not a regular file"))

    visit(str(root), "")
    return _Tree(sorted(files), sorted(irregular))


def _open_regular(path: Path) -> int:
    # O_NOFOLLOW and O_NONBLOCK: a file swapped for a link or a FIFO after the walk is refused, not read.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BundleError(f"{path}: not a regular file")
    return fd


def _read(path: Path) -> bytes:
    with open(_open_regular(path), "rb") as stream:
        return stream.read()


def _sha256(path: Path) -> str:
    with open(_open_regular(path), "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _unlistable(path: str) -> str | None:
    """Why ``path`` cannot be a manifest line, or ``None``."""
    if path.startswith("/"):
        return "an absolute path"
    if "\\" in path:
        return "a backslash in the path"
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        return "a control character in the path"
    parts = path.split("/")
    if ".." in parts:
        return "a path out of the run directory"
    if "" in parts or "." in parts:
        return "not a plain relative path"
    if path in SEAL_FILES:
        return "the manifest cannot list its own seal"
    return None


def _fingerprint(key: Ed25519PublicKey) -> str:
    """sha256 of the DER SubjectPublicKeyInfo, as ``openssl pkey -pubin -outform DER | sha256sum``."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def check_sealable(run_dir: Path) -> list[str]:
    """Every regular file of ``run_dir`` but the seal files, as manifest paths; ``BundleError`` if the
    directory holds symbolic links, special files or names a manifest line cannot carry.

    Call it before reading a run directory that was never sealed: it follows no link.
    """
    tree = _walk(run_dir)
    refused = [f"{path}: {why}" for path, why in tree.irregular]
    refused += [
        f"{path}: {why}" for path in tree.files if path not in SEAL_FILES and (why := _unlistable(path))
    ]
    if refused:
        raise BundleError(f"{run_dir}: cannot be sealed: {'; '.join(refused)}")
    return [path for path in tree.files if path not in SEAL_FILES]


def write_manifest(run_dir: Path) -> Path:
    """Write ``MANIFEST.sha256`` over every regular file of ``run_dir`` but the seal files.

    Refuses a directory holding symbolic links, special files or names a manifest line cannot carry.
    """
    lines = [f"{_sha256(run_dir / path)}  {path}\n" for path in check_sealable(run_dir)]
    manifest = run_dir / MANIFEST
    manifest.write_text("".join(lines), encoding="utf-8", newline="\n")
    return manifest


def load_signing_key(path: Path | None, env_name: str | None) -> SigningKey:
    """The Ed25519 key from a PEM file or an environment variable; without either, a new untrusted one."""
    if path is not None and env_name is not None:
        raise ConfigError("--signing-key and --signing-key-env: give one, not both")
    if path is not None:
        where = f"--signing-key {path}"
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read: {exc.strerror}") from exc
        return SigningKey(_private_key(pem, where), trusted=True, source="path")
    if env_name is not None:
        where = f"--signing-key-env {env_name}"
        text = os.environ.get(env_name, "")
        if not text.strip():
            raise ConfigError(f"{where}: the environment variable is not set or empty")
        return SigningKey(_private_key(text.encode("utf-8"), where), trusted=True, source="environment")
    return SigningKey(Ed25519PrivateKey.generate(), trusted=False, source=GENERATED)


def _private_key(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as exc:  # encrypted
        raise ConfigError(f"{where}: the key is encrypted; an unencrypted PKCS8 PEM key is needed") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{where}: not a PEM private key (PKCS8, unencrypted)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{where}: a {type(key).__name__.removeprefix('_')} key; an Ed25519 key is needed")
    return key


def _public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def sign(run_dir: Path, key: SigningKey) -> str:
    """Seal ``run_dir``: write SIGNER.json, the manifest (which lists it), the signature and public key.

    Returns the statement written to SIGNER.json, saying whether the key was trusted.
    """
    signer = {
        "algorithm": "Ed25519",
        "trusted": key.trusted,
        "source": key.source,
        "public_key_sha256": key.public_key_sha256,
        "statement": key.statement,
    }
    (run_dir / SIGNER).write_text(json.dumps(signer, indent=2) + "\n", encoding="utf-8")
    manifest = write_manifest(run_dir).read_bytes()
    signature = base64.b64encode(key.private_key.sign(manifest)).decode("ascii")
    (run_dir / SIGNATURE).write_text(signature + "\n", encoding="ascii")
    public = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (run_dir / PUBLIC_KEY).write_bytes(public)
    return key.statement


def _symlink_on(root: Path, path: str) -> str | None:
    """The first component of ``path`` under ``root`` that is a symbolic link (lstat only, never followed)."""
    current = root
    for part in path.split("/"):
        current = current / part
        if current.is_symlink():
            return current.relative_to(root).as_posix()
    return None


def _listed(manifest: bytes, root: Path, problems: list[str]) -> dict[str, str]:
    try:
        text = manifest.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{MANIFEST}: not UTF-8 text")
        return {}
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    else:
        problems.append(f"{MANIFEST}: does not end with a newline")
    listed: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        match = _LINE.fullmatch(line)
        if match is None:
            problems.append(f"{MANIFEST} line {number}: malformed: {line[:120]!r}")
            continue
        digest, path = match.groups()
        if why := _unlistable(path):
            problems.append(f"{MANIFEST} line {number}: {why}: {path!r}")
        elif link := _symlink_on(root, path):
            problems.append(f"{MANIFEST} line {number}: {path!r} passes through the symbolic link {link}")
        elif path in listed:
            problems.append(f"{MANIFEST} line {number}: {path!r} is listed twice")
        else:
            listed[path] = digest
    return listed


def _decoded_signature(text: bytes) -> bytes | None:
    try:
        signature = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return signature if len(signature) == 64 else None


def load_public_key(path: Path, option: str = "--public-key") -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file; ``ConfigError`` naming the option and the file."""
    try:
        return _public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot read: {exc.strerror}") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{option} {path}: not a PEM Ed25519 public key") from exc


def verify(
    run_dir: Path, public_key: Path | None = None, shard_public_keys: Sequence[Path] = ()
) -> Verification:
    """Check every file of ``run_dir`` against its manifest, and the manifest against its signature.

    With ``public_key`` the signature is checked with it and, when it holds, the bundle is trusted;
    without, the bundled public key is used and the result is never trusted.

    A merged bundle's shards are checked too (:func:`_check_shards`): each recorded shard signature
    must hold over the shard's manifest, and the merged files must be what the shards signed. With
    ``shard_public_keys`` every shard must be signed by one of them; without, a trusted merged bundle
    needs every shard's signer to have been checked by the merge.
    """
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such directory")
    verifying_key = load_public_key(public_key) if public_key is not None else None
    shard_keys = {_fingerprint(load_public_key(k, "--shard-public-key")) for k in shard_public_keys}

    root = run_dir.resolve()
    result = Verification(run_dir)
    tree = _walk(root)
    files = set(tree.files)
    result.problems += [f"{path}: {why}; a bundle holds regular files only" for path, why in tree.irregular]

    manifest = _read(root / MANIFEST) if MANIFEST in files else None
    if manifest is None:
        result.problems.append(f"{MANIFEST}: not found")
    listed = _listed(manifest, root, result.problems) if manifest is not None else {}
    for path, digest in listed.items():
        if path not in files:
            result.missing.append(path)
            continue
        try:
            actual = _sha256(root / path)
        except (OSError, BundleError) as exc:  # replaced since the walk
            result.problems.append(f"{path}: cannot be read: {exc}")
            continue
        if actual != digest:
            result.changed.append(path)
        else:
            result.matched += 1
    result.extra = sorted(files - listed.keys() - SEAL_FILES)

    signed_by = _signing_public_key(root, files, manifest, verifying_key, public_key, result.problems)
    if signed_by is not None:
        result.signature_ok = True
        result.public_key_sha256 = _fingerprint(signed_by)
        result.trusted = public_key is not None
        result.signer = _signer(root, listed, result)
    summary = _summary_of(root, files, result)
    _account(files, summary, result)
    _check_shards(root, listed, summary, result, shard_keys if shard_public_keys else None)
    return result


def _summary_of(root: Path, files: set[str], result: Verification) -> RunSummary | None:
    """The bundle's summary.json, or ``None`` when it has none or it is not what chsm-checks writes
    (a problem: the bundle's account cannot be read)."""
    if SUMMARY not in files:
        return None
    try:
        return RunSummary.parse(_read(root / SUMMARY), SUMMARY)
    except (OSError, ChsmError) as exc:
        result.problems.append(str(exc))
        return None


def _account(files: set[str], summary: RunSummary | None, result: Verification) -> None:
    """Whether the run is a complete account: sealed, and by its summary.json nothing left out."""
    # A run writes its Allure results and evidence as its scenarios end, and summary.json at its end.
    started = SUMMARY in files or any(name.split("/", 1)[0] in MERGED_TREES for name in files)
    if MANIFEST not in files and started:
        result.incomplete.append(f"never sealed (no {MANIFEST}), the run stopped before its end")
    if summary is None:
        return
    from ..reports.selection import selection_statement

    result.partial = selection_statement(summary)
    result.not_run = [f"{s.feature_file}: {s.name}" for s in summary.scenarios if s.outcome == "not_run"]
    if summary.interrupted:
        result.incomplete.append(f"the run was interrupted ({summary.interrupted})")
    if errors := summary.collection_errors:
        result.incomplete.append(f"{len(errors)} test module(s) could not be collected")
    if result.not_run:
        result.incomplete.append(f"{len(result.not_run)} of {len(summary.scenarios)} scenarios did not run")
    if not summary.complete and not result.incomplete:
        result.incomplete.append(f"{SUMMARY} says the run is not complete")


def _signing_public_key(
    root: Path,
    files: set[str],
    manifest: bytes | None,
    verifying_key: Ed25519PublicKey | None,
    public_key: Path | None,
    problems: list[str],
) -> Ed25519PublicKey | None:
    """The key the signature holds with over ``manifest``: the one given, else the bundled one."""
    key_name = f"--public-key {public_key}"
    if verifying_key is None:
        key_name = f"the bundled public key {PUBLIC_KEY}"
        if PUBLIC_KEY not in files:
            problems.append(f"{PUBLIC_KEY}: not found")
        else:
            try:
                verifying_key = _public_key(_read(root / PUBLIC_KEY))
            except (ValueError, UnsupportedAlgorithm):
                problems.append(f"{PUBLIC_KEY}: not a PEM Ed25519 public key")
    signature: bytes | None = None
    if SIGNATURE not in files:
        problems.append(f"{SIGNATURE}: not found")
    else:
        signature = _decoded_signature(_read(root / SIGNATURE))
        if signature is None:
            problems.append(f"{SIGNATURE}: not a base64 Ed25519 signature")
    if manifest is None or verifying_key is None or signature is None:
        return None
    try:
        verifying_key.verify(signature, manifest)
    except InvalidSignature:
        problems.append(f"{SIGNATURE}: does not hold over {MANIFEST} with {key_name}")
        return None
    return verifying_key


def _signer(root: Path, listed: dict[str, str], result: Verification) -> dict[str, Any] | None:
    """SIGNER.json, when the signed manifest covers it unchanged and it names the key that signed."""
    if SIGNER not in listed:
        result.problems.append(f"{SIGNER}: not covered by {MANIFEST}")
        return None
    if SIGNER in result.missing or SIGNER in result.changed:
        return None
    try:
        signer = json.loads(_read(root / SIGNER))
    except ValueError:
        signer = None
    if not isinstance(signer, dict):
        result.problems.append(f"{SIGNER}: not a JSON object")
        return None
    if signer.get("public_key_sha256") != result.public_key_sha256:
        result.problems.append(
            f"{SIGNER}: names the key sha256:{signer.get('public_key_sha256')}, "
            f"but sha256:{result.public_key_sha256} signed"
        )
    return signer


# -- merged bundles: the shards and their signers -----------------------------------------------


def shards_statement(count: int, *, verified: bool, unverified: int | None = None) -> str:
    """Whether the signers of a merge's ``count`` shards were verified (``unverified`` of them not)."""
    if verified:
        return (
            "the 1 shard's signer was verified"
            if count == 1
            else f"the {count} shards' signers were verified"
        )
    unverified = count if unverified is None else unverified
    if count == 1:
        return "the signer of the 1 shard was not verified"
    of = f"the {count}" if unverified == count else f"{unverified} of the {count}"
    return f"the signers of {of} shards were not verified"


def _merged_path(shard: str, path: str) -> str:
    """Where a shard's file goes in the merged bundle: evidence and Allure results merge by path;
    everything else, the shard's seal included, is kept under ``shards/<name>/``."""
    top, _, rest = path.partition("/")
    return path if top in MERGED_TREES and rest else f"shards/{shard}/{path}"


@dataclass(frozen=True)
class _Shard:
    """A sealed run directory that verified, and its seal as the merged bundle records it."""

    name: str
    root: Path
    summary: RunSummary
    manifest_sha256: str
    public_key_sha256: str
    signature: str
    public_key_pem: str
    verified_against: str | None  # ``sha256:<fingerprint>`` of the --shard-public-key it verified with

    def record(self) -> dict[str, Any]:
        """The shard's entry in SHARDS.json."""
        return {
            "name": self.name,
            "run_id": self.summary.run_id,
            "manifest": f"shards/{self.name}/{MANIFEST}",
            "manifest_sha256": self.manifest_sha256,
            "signature": self.signature,
            "public_key": self.public_key_pem,
            "public_key_sha256": self.public_key_sha256,
            "verified": self.verified_against is not None,
            "verified_against": self.verified_against,
        }


def _bundled_key_fingerprint(root: Path) -> str | None:
    """The fingerprint of the public key a sealed directory carries (``None``: it carries none that reads)."""
    try:
        return _fingerprint(_public_key(_read(root / PUBLIC_KEY)))
    except (OSError, BundleError, ValueError, UnsupportedAlgorithm):
        return None


def _shard(run_dir: Path, trusted: dict[str, Path]) -> _Shard:
    """``run_dir`` as a shard: it must verify and be complete and, when ``trusted`` (fingerprint →
    key file) names keys, be signed by one of them (a merged shard's own shards then count too)."""
    root = run_dir.resolve()
    verified_against: str | None = None
    if trusted:
        signer = _bundled_key_fingerprint(root)
        if signer is None:  # no key to match: say what verify says of it
            raise BundleError(f"{verify(run_dir).verdict}; see: chsm-checks verify {run_dir}")
        if signer not in trusted:
            raise BundleError(
                f"{run_dir}: signed by the key sha256:{signer}, which is none of the --shard-public-key "
                "keys; merge refuses a shard whose signer is not trusted"
            )
        check = verify(run_dir, trusted[signer])
        verified_against = f"sha256:{signer}"
    else:
        check = verify(run_dir)
    if not check.ok or check.public_key_sha256 is None:
        raise BundleError(f"{check.verdict}; see: chsm-checks verify {run_dir}")
    try:
        summary = RunSummary.parse(_read(root / SUMMARY), run_dir / SUMMARY)
    except (OSError, ConfigError) as exc:
        raise BundleError(str(exc)) from exc
    manifest, signature = _read(root / MANIFEST), _read(root / SIGNATURE)
    pem = _read(root / PUBLIC_KEY)
    key = _public_key(pem)
    decoded = _decoded_signature(signature)
    try:
        # What is recorded is what was checked: the seal read once more, and checked once more.
        key.verify(decoded or b"", manifest)
    except InvalidSignature:
        raise BundleError(f"{run_dir}: its seal changed while it was being merged") from None
    if _fingerprint(key) != check.public_key_sha256:
        raise BundleError(f"{run_dir}: its seal changed while it was being merged")
    return _Shard(
        name=root.name,
        root=root,
        summary=summary,
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        public_key_sha256=check.public_key_sha256,
        signature=signature.decode("ascii").strip(),
        public_key_pem=pem.decode("ascii"),
        verified_against=verified_against,
    )


def _plain_name(name: object) -> str | None:
    """``name`` when it is one plain path component a merge could have given a shard."""
    if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
        return None
    return name if _unlistable(f"shards/{name}/{MANIFEST}") is None else None


def _shown(name: object) -> str:
    return name if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9._-]+", name) else repr(name)


def _shard_lines(manifest: bytes) -> dict[str, str] | None:
    """A shard manifest's ``path → digest``, or ``None`` if it is not a manifest."""
    try:
        lines = manifest.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None
    found: dict[str, str] = {}
    for line in lines:
        match = _LINE.fullmatch(line)
        if match is None or _unlistable(match.group(2)):
            return None
        found[match.group(2)] = match.group(1)
    return found


def _bundle_file(root: Path, listed: dict[str, str], result: Verification, path: str) -> bytes | None:
    """A file of the bundle the signed manifest covers unchanged; ``None`` (and said why) otherwise."""
    if path not in listed:
        result.problems.append(f"{SHARDS}: {path} is not covered by {MANIFEST}")
        return None
    if path in result.missing or path in result.changed:
        return None  # already named
    try:
        return _read(root / path)
    except (OSError, BundleError) as exc:
        result.problems.append(f"{path}: cannot be read: {exc}")
        return None


def _check_shards(
    root: Path, listed: dict[str, str], summary: Any, result: Verification, shard_keys: set[str] | None
) -> None:
    """A merged bundle's shards, as its SHARDS.json records them: each signature holds over the shard's
    manifest with the shard's key; every file the shard signed is in the merged bundle unchanged, and
    every merged evidence or Allure file, and every file under ``shards/``, comes from a shard; the
    merged scenarios are the shards'. Who is trusted: with ``shard_keys``, the shards those keys
    signed; without, when the merged seal is trusted, the shards whose signers the merge checked.
    """
    merged_from = summary.merged_from if summary is not None else None
    if SHARDS not in listed:
        if merged_from:
            result.problems.append(
                f"{SUMMARY}: merged from {len(merged_from)} shards, "
                f"but {SHARDS} does not record their signers"
            )
        return
    text = _bundle_file(root, listed, result, SHARDS)
    if text is None:
        return
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    entries = record.get("shards") if isinstance(record, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        result.problems.append(f"{SHARDS}: not a record of shards")
        return
    result.shards = len(entries)
    result.shards_verified_at_merge = bool(entries) and all(e.get("verified") is True for e in entries)
    accounted: set[str] = set()
    scenarios: list[ScenarioEntry] = []
    for entry in entries:
        if _shard_signed(root, listed, result, entry, accounted, scenarios, shard_keys):
            result.shards_trusted += 1
    strays = [
        path
        for path in listed
        if (path.partition("/")[0] in MERGED_TREES or path.startswith("shards/")) and path not in accounted
    ]
    result.problems += [f"{path}: in no shard's manifest" for path in strays]
    if merged_from is None or [m.manifest_sha256 for m in merged_from] != [
        e.get("manifest_sha256") for e in entries
    ]:
        result.problems.append(f"{SUMMARY}: merged_from does not name the shards {SHARDS} records")
    if summary is not None and list(summary.scenarios) != scenarios:
        result.problems.append(f"{SUMMARY}: its scenarios are not the shards' scenarios")


def _shard_signed(
    root: Path,
    listed: dict[str, str],
    result: Verification,
    entry: dict[str, Any],
    accounted: set[str],
    scenarios: list[ScenarioEntry],
    shard_keys: set[str] | None,
) -> bool:
    """Check one SHARDS.json entry (see :func:`_check_shards`); whether its signer is trusted here."""
    name = _plain_name(entry.get("name"))
    where = f"{SHARDS}: shard {_shown(entry.get('name'))}"
    if name is None:
        result.problems.append(f"{where}: not a shard name")
        return False
    manifest_path = f"shards/{name}/{MANIFEST}"
    if entry.get("manifest") != manifest_path:
        result.problems.append(f"{where}: names the manifest {entry.get('manifest')!r}, not {manifest_path}")
        return False
    accounted |= {f"shards/{name}/{seal}" for seal in SEAL_FILES}
    try:
        key = _public_key(str(entry.get("public_key", "")).encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
        result.problems.append(f"{where}: its public key is not a PEM Ed25519 public key")
        return False
    signer = _fingerprint(key)
    if signer != entry.get("public_key_sha256"):
        result.problems.append(f"{where}: its public key is not sha256:{entry.get('public_key_sha256')}")
        return False
    manifest = _bundle_file(root, listed, result, manifest_path)
    if manifest is None:
        return False
    if hashlib.sha256(manifest).hexdigest() != entry.get("manifest_sha256"):
        result.problems.append(
            f"{where}: {manifest_path} is not the manifest it names (sha256:{entry.get('manifest_sha256')})"
        )
        return False
    signature = _decoded_signature(str(entry.get("signature", "")).encode("ascii", "replace"))
    try:
        key.verify(signature or b"", manifest)
    except InvalidSignature:
        result.problems.append(f"{where}: its signature does not hold over {manifest_path} with its key")
        return False
    signed = _shard_lines(manifest)
    if signed is None:
        result.problems.append(f"{where}: {manifest_path} is not a manifest")
        return False
    for path, digest in signed.items():
        merged = _merged_path(name, path)
        accounted.add(merged)
        if listed.get(merged) != digest:
            result.problems.append(f"{merged}: differs from what shard {name} signed")
    shard_summary = _bundle_file(root, listed, result, f"shards/{name}/{SUMMARY}")
    if shard_summary is not None:
        try:
            scenarios += RunSummary.parse(shard_summary, f"shards/{name}/{SUMMARY}").scenarios
        except ConfigError as exc:
            result.problems.append(f"{where}: {exc}")
    return _shard_trusted(result, entry, where, signer, shard_keys)


def _shard_trusted(
    result: Verification, entry: dict[str, Any], where: str, signer: str, shard_keys: set[str] | None
) -> bool:
    if shard_keys is not None:
        if signer in shard_keys:
            return True
        result.problems.append(
            f"{where}: signed by the key sha256:{signer}, which is none of the --shard-public-key keys"
        )
        return False
    if not result.trusted:
        return False  # nothing is trusted without --public-key; the verdict says so
    if entry.get("verified") is True and entry.get("verified_against") == f"sha256:{signer}":
        return True
    result.problems.append(
        f"{where}: signed by the key sha256:{signer}, which nobody verified; "
        "give --shard-public-key to trust it"
    )
    return False


def _merged_summary(shards: list[_Shard], run_id: str, signing: Signing) -> RunSummary:
    first = shards[0]
    for shard in shards[1:]:
        # The target file's path differs between machines running the same target.
        for name, theirs, ours in (
            ("mode", shard.summary.mode, first.summary.mode),
            ("target", shard.summary.target.comparable(), first.summary.target.comparable()),
        ):
            if theirs != ours:
                raise BundleError(
                    f"{shard.root}: {name} {theirs!r} differs from "
                    f"{first.root}'s {ours!r}; only runs of one {name} are merged"
                )
    scenarios: list[ScenarioEntry] = []
    counts: dict[str, int] = {}
    waiver_notes: list[str] = []
    owner: dict[str, Path] = {}
    for shard in shards:
        for scenario in shard.summary.scenarios:
            if scenario.nodeid in owner:
                raise BundleError(
                    f"{shard.root}: scenario {scenario.nodeid} also ran in {owner[scenario.nodeid]}; "
                    "shards must not overlap"
                )
            owner[scenario.nodeid] = shard.root
            scenarios.append(scenario)
        for outcome, n in shard.summary.counts.items():
            counts[outcome] = counts.get(outcome, 0) + n
        waiver_notes += [n for n in shard.summary.waiver_notes if n not in waiver_notes]
        for moment in ("started", "finished"):
            try:
                datetime.fromisoformat(getattr(shard.summary, moment))
            except ValueError:
                raise BundleError(
                    f"{shard.root}: summary.json: {moment}: not an ISO 8601 time; not a chsm-checks summary"
                ) from None
    return first.summary.model_copy(
        update={
            "run_id": run_id,
            "allow_mutations": any(s.summary.allow_mutations for s in shards),
            "started": min((s.summary.started for s in shards), key=datetime.fromisoformat),
            "finished": max((s.summary.finished for s in shards), key=datetime.fromisoformat),
            "pytest_exit_status": max(s.summary.pytest_exit_status for s in shards),
            "counts": counts,
            "waiver_notes": tuple(waiver_notes),
            "scenarios": tuple(scenarios),
            # Each shard's own selection: a merge of selections is as partial as they were.
            "partial": any(s.summary.partial for s in shards),
            "selection": Selection(
                shards=tuple(
                    ShardSelection(
                        run_id=s.summary.run_id,
                        keyword=s.summary.selection.keyword,
                        markers=s.summary.selection.markers,
                        deselected=s.summary.selection.deselected,
                    )
                    for s in shards
                    if s.summary.selection.deselected
                )
            ),
            # The merge's seal, not a shard's: the reports built from this summary state it.
            "signing": signing,
            "merged_from": tuple(
                MergedFrom(
                    run_id=s.summary.run_id,
                    manifest_sha256=s.manifest_sha256,
                    public_key_sha256=s.public_key_sha256,
                )
                for s in shards
            ),
        }
    )


def _copy_plan(shards: list[_Shard]) -> dict[str, Path]:
    """Destination path in the merged bundle → source file; a path two shards fill differently is refused."""
    plan: dict[str, tuple[Path, _Shard]] = {}
    for shard in shards:
        for path in _walk(shard.root).files:
            target = _merged_path(shard.name, path)
            source = shard.root / path
            if target in plan:
                earlier, owner = plan[target]
                if _sha256(earlier) != _sha256(source):
                    raise BundleError(f"{target}: differs between {owner.root} and {shard.root}")
                continue
            plan[target] = (source, shard)
    return {target: source for target, (source, _) in plan.items()}


def merge(
    run_dirs: list[Path],
    out: Path,
    key: SigningKey,
    rebuild: Callable[[Path], None] | None = None,
    shard_public_keys: Sequence[Path] = (),
) -> Path:
    """Merge sealed run directories (shards of one run) into ``out``, a new sealed bundle.

    Each input must verify and, with ``shard_public_keys``, be signed by one of them; a trusted
    ``key`` signs only shards so checked (it would vouch for anyone's otherwise), and without them the
    merged bundle says its shards' signers were not verified. SHARDS.json records each shard's signer.
    Evidence and Allure results merge by path; every other file of a shard, its seal included, is
    kept under ``shards/<name>/``. ``summary.json`` is rebuilt from the shards' and lists them in
    ``merged_from``; ``rebuild(out)`` then regenerates what derives from it. The result is verified
    before it is left in ``out``.
    """
    if not run_dirs:
        raise ConfigError("merge: no run directories given")
    if key.trusted and not shard_public_keys:
        raise ConfigError(
            "merge: a trusted signing key would vouch for shards whose signers nobody checked; "
            "give --shard-public-key for the shards' signers, or merge without a signing key"
        )
    trusted = {_fingerprint(load_public_key(k, "--shard-public-key")): k for k in shard_public_keys}
    shards = [_shard(run_dir, trusted) for run_dir in run_dirs]
    names: dict[str, Path] = {}
    for shard in shards:
        if shard.name in names:
            raise BundleError(f"{shard.root}: has the name of {names[shard.name]}; each shard needs its own")
        names[shard.name] = shard.root
    destination = out.resolve()
    for shard in shards:
        if destination.is_relative_to(shard.root):
            raise ConfigError(f"--out {out}: inside the input {shard.root}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: exists and is not an empty directory")
    verified = bool(trusted)
    statement = shards_statement(len(shards), verified=verified)
    statement += (
        ": each shard's signature holds with one of the --shard-public-key keys"
        if verified
        else ": each shard's signature holds with the key it carries, which nobody checked"
    )
    signing = Signing(trusted=key.trusted, statement=f"{key.statement}; {statement}")
    summary = _merged_summary(shards, destination.name, signing)
    plan = _copy_plan(shards)
    record = {"signers_verified": verified, "statement": statement, "shards": [s.record() for s in shards]}

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        for target, source in plan.items():
            (out / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out / target)
        summary.write(out / SUMMARY)
        (out / SHARDS).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if rebuild is not None:
            rebuild(out)
        sign(out, key)
        check = verify(out, shard_public_keys=shard_public_keys)
        if not check.intact:
            raise BundleError(f"{out}: the merged bundle does not verify: {check.report()[0]}")
    except BaseException:
        # Leave no half-merged bundle: out is as it was, absent or empty.
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        if created:
            out.rmdir()
        raise
    return out


__all__ = [
    "GENERATED",
    "MANIFEST",
    "PUBLIC_KEY",
    "SHARDS",
    "SIGNATURE",
    "SIGNER",
    "BundleError",
    "SigningKey",
    "Verification",
    "check_sealable",
    "load_public_key",
    "load_signing_key",
    "merge",
    "shards_statement",
    "sign",
    "verify",
    "write_manifest",
]
