"""CurveZMQ key files: generation (mode 0600, never overwritten) and loading.

Files use the ZeroMQ certificate format that pyzmq and czmq read (`NAME.key` holds the public
key, `NAME.key_secret` both keys), so keys made here work with other ZeroMQ tooling.

A receiver's keys directory holds its own pair (`server.key_secret`) and one public key per
allowed box in `allowed/<site-id>.key`: the file name is the site the key maps to, and
removing the file revokes the box.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

SERVER_NAME = "server"
ALLOWED_DIR = "allowed"
SITE_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class KeyPair:
    public: bytes  # Z85, 40 bytes
    secret: bytes


def _cert_text(public: bytes, secret: bytes | None, name: str) -> str:
    kind = "Secret" if secret else "Public"
    lines = [
        f"#   ****  Generated on {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} by edged  ****",
        f"#   ZeroMQ CURVE {kind} Certificate" + (" - keep it on this box, mode 0600" if secret else ""),
        "",
        "metadata",
        f'    name = "{name}"',
        "curve",
        f'    public-key = "{public.decode()}"',
    ]
    if secret:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by umask; an existing file keeps its mode
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def generate(directory: Path, name: str, force: bool = False) -> tuple[Path, Path, KeyPair]:
    """Write NAME.key and NAME.key_secret (both 0600); refuse to overwrite unless `force`."""
    if not SITE_RE.match(name):
        raise ValueError(f"key name {name!r} must match {SITE_RE.pattern}")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    public, secret = zmq.curve_keypair()
    pub_path, sec_path = directory / f"{name}.key", directory / f"{name}.key_secret"
    if not force:
        for p in (pub_path, sec_path):
            if p.exists():
                raise FileExistsError(f"{p} exists (use --force to replace it)")
    _write_private(sec_path, _cert_text(public, secret, name), force)
    _write_private(pub_path, _cert_text(public, None, name), force)
    return pub_path, sec_path, KeyPair(public, secret)


def load_pair(path: Path) -> KeyPair:
    public, secret = zmq.auth.load_certificate(path)
    if not secret:
        raise ValueError(f"{path} holds no secret key")
    return KeyPair(public, secret)


def load_public(path: Path) -> bytes:
    public, _ = zmq.auth.load_certificate(path)
    return public


def read_allow_list(keys_dir: Path) -> dict[bytes, str]:
    """Public key (Z85) → site id, from `allowed/<site>.key`; unreadable files are skipped."""
    out: dict[bytes, str] = {}
    folder = keys_dir / ALLOWED_DIR
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.key")):
        site = path.stem
        if not SITE_RE.match(site):
            continue
        try:
            out[load_public(path)] = site
        except (OSError, ValueError):
            continue
    return out
