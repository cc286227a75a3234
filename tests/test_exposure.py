"""Serving beyond this machine without sign-in refuses to start unless --no-auth."""

from __future__ import annotations

import pytest

from qa.exposure import ExposureError, check_exposure, exposure_warning, is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost",
                                  "LOCALHOST", "localhost.", "::ffff:127.0.0.1"])
def test_loopback(host: str) -> None:
    assert is_loopback(host)
    check_exposure(host, share=False, auth_enabled=False, no_auth=False)  # no sign-in needed


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.10", "10.0.0.5",
                                  "fe80::1", "newsroom.local", "localhost.example.com",
                                  "128.0.0.1", "::ffff:10.0.0.1"])
def test_exposed_hosts_need_sign_in(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ExposureError) as info:
        check_exposure(host, share=False, auth_enabled=False, no_auth=False)
    message = str(info.value)
    assert message.startswith("Refusing to start: the chat would be open without sign-in on ")
    assert "qa users add NAME --role editor" in message and "QA_USERS_FILE" in message
    assert "--no-auth" in message
    check_exposure(host, share=False, auth_enabled=True, no_auth=False)
    check_exposure(host, share=False, auth_enabled=False, no_auth=True)


def test_share_needs_sign_in_even_on_loopback() -> None:
    with pytest.raises(ExposureError, match="a public --share link"):
        check_exposure("127.0.0.1", share=True, auth_enabled=False, no_auth=False)
    check_exposure("127.0.0.1", share=True, auth_enabled=True, no_auth=False)
    check_exposure("127.0.0.1", share=True, auth_enabled=False, no_auth=True)


def test_exact_message_for_all_interfaces() -> None:
    with pytest.raises(ExposureError) as info:
        check_exposure("0.0.0.0", share=False, auth_enabled=False, no_auth=False)
    assert str(info.value) == (
        "Refusing to start: the chat would be open without sign-in on --host 0.0.0.0, "
        "reachable from other machines. Add users with `qa users add NAME --role editor` and "
        "set QA_USERS_FILE to that users file (or pass --users-file), or start with --no-auth "
        "to serve without sign-in deliberately.")


def test_no_auth_on_an_exposed_host_is_logged() -> None:
    line = exposure_warning("0.0.0.0", share=False, auth_enabled=False)
    assert line is not None and line.startswith("Serving without sign-in on --host 0.0.0.0")
    assert exposure_warning("0.0.0.0", share=False, auth_enabled=True) is None
    assert exposure_warning("127.0.0.1", share=False, auth_enabled=False) is None
