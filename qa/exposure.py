"""Refuse to serve the chat to other machines without sign-in, unless told to on purpose.

On 127.0.0.1 only this machine can connect, so no sign-in is fine. On 0.0.0.0, a LAN address
or a `--share` link, anyone who can reach the port could read and (as an editor would) change
the corpus; that must be a deliberate `--no-auth`, never a default.
"""

from __future__ import annotations

import ipaddress

HOW_TO_FIX = (
    "Add users with `qa users add NAME --role editor` and set QA_USERS_FILE to that users file "
    "(or pass --users-file), or start with --no-auth to serve without sign-in deliberately."
)


class ExposureError(RuntimeError):
    """Serving as asked would expose the chat without sign-in; the message says what to do."""


def is_loopback(host: str) -> bool:
    """Only this machine can connect: 127.0.0.0/8, ::1 (also IPv4-mapped) or localhost.

    0.0.0.0 and :: mean every interface, so they are not loopback; other host names are not
    resolved (a name may point elsewhere tomorrow) and count as exposed."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def exposure(host: str, share: bool) -> str | None:
    """Who besides this machine could connect, in words; None when only this machine can."""
    if share:
        return "a public --share link"
    if not is_loopback(host):
        return f"--host {host or '(all interfaces)'}, reachable from other machines"
    return None


def check_exposure(host: str, share: bool, auth_enabled: bool, no_auth: bool) -> None:
    """Raise ExposureError when the chat would be reachable beyond this machine without
    sign-in and --no-auth was not given."""
    where = exposure(host, share)
    if where is None or auth_enabled or no_auth:
        return
    raise ExposureError(
        f"Refusing to start: the chat would be open without sign-in on {where}. {HOW_TO_FIX}"
    )


def exposure_warning(host: str, share: bool, auth_enabled: bool) -> str | None:
    """The line to log when --no-auth serves an exposed chat (None: nothing to warn about)."""
    where = exposure(host, share)
    if where is None or auth_enabled:
        return None
    return (f"Serving without sign-in on {where} (--no-auth): anyone who can reach it can ask "
            "and, unless QA_READ_ONLY is set, change the corpus.")
