"""CURVE key files, read by the same rules as the relay and tablepub-tail.

A key is 40 characters of Z85. A file holds it alone on a line, or in
ZeroMQ's certificate format (``public-key = "..."`` / ``secret-key =
"..."``) as tablepub-keygen, CZMQ and ``zmq.auth.create_certificates``
write it. A secret key file must not be readable by group or others.
"""

import os
import stat

import zmq
import zmq.utils.z85


class KeyFileError(Exception):
    """A key file is missing, unreadable, malformed or too open."""


def is_z85_key(text):
    if len(text) != 40:
        return False
    try:
        return len(zmq.utils.z85.decode(text.encode("ascii"))) == 32
    except (ValueError, KeyError, UnicodeEncodeError):
        return False


def _parse(path, text):
    """The keys a file names: (public-key lines, secret-key lines, bare keys)."""
    public, secret, bare = [], [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        # Z85 uses '#' and '=': a whole line that is a key is a key.
        if is_z85_key(line):
            bare.append(line)
            continue
        if not line or line.startswith("#") or line in ("metadata", "curve"):
            continue
        name, eq, value = line.partition("=")
        if not eq:
            raise KeyFileError(f'line {n} of "{path}" is not a Z85 key or a certificate line')
        name, value = name.strip(), value.strip().strip("'\"")
        if name in ("public-key", "secret-key"):
            if not is_z85_key(value):
                raise KeyFileError(f'line {n} of "{path}": {name} is not 40 characters of Z85')
            (public if name == "public-key" else secret).append(value)
    return public, secret, bare


def _read(path, secret):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise KeyFileError(f'cannot open "{path}": {e.strerror}') from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f'"{path}" is not a regular file')
        if secret:
            mine, root = st.st_uid == os.geteuid(), st.st_uid == 0
            if not (mine or root):
                raise KeyFileError(f'secret key file "{path}" must be owned by this user or by root')
            if (mine and st.st_mode & 0o077) or (root and st.st_mode & 0o037):
                raise KeyFileError(f'secret key file "{path}" has group or world access (chmod 0600 {path})')
        data = f.read(64 * 1024 + 1)
    if len(data) > 64 * 1024:
        raise KeyFileError(f'"{path}" is too large to be a key file')
    return data.decode("ascii", "replace")


def load_secret_key(path):
    """(public, secret) Z85 bytes from a secret key file; public derived."""
    public, secret, bare = _parse(path, _read(path, True))
    if len(secret) == 1 and not bare:
        key = secret[0]
    elif not secret and not public and len(bare) == 1:
        key = bare[0]
    else:
        raise KeyFileError(f'secret key file "{path}" must hold exactly one secret key')
    derived = zmq.curve_public(key.encode("ascii"))
    if public and public != [derived.decode("ascii")]:
        raise KeyFileError(f'secret key file "{path}": its public-key does not belong to its secret-key')
    return derived, key.encode("ascii")


def load_public_key(path):
    """Z85 bytes of a public key file (the relay's .key)."""
    public, secret, bare = _parse(path, _read(path, False))
    if secret:
        raise KeyFileError(f'"{path}" holds a secret key; give the public key file')
    if len(public) + len(bare) != 1:
        raise KeyFileError(f'"{path}" must hold exactly one public key')
    return (public or bare)[0].encode("ascii")


def apply_curve(sock, curve):
    """Sets CURVE client options on sock; curve = (server, public, secret) or None."""
    if curve is None:
        return
    if not zmq.has("curve"):
        raise KeyFileError("this libzmq has no CURVE support")
    server, public, secret = curve
    sock.curve_serverkey = server
    sock.curve_publickey = public
    sock.curve_secretkey = secret


def load_client_curve(server_key_file, client_key_file):
    """The curve tuple for Subscriber from the two files (both or neither)."""
    if bool(server_key_file) != bool(client_key_file):
        raise KeyFileError("CURVE needs both the relay's public key file and this client's secret key file")
    if not server_key_file:
        return None
    public, secret = load_secret_key(client_key_file)
    return load_public_key(server_key_file), public, secret
