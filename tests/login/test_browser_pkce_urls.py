"""The redirect URIs ``/oauth/authorize`` accepts, as properties over any text (hypothesis)."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from reconciler.server.authorize import redirect_uri_problem

_URLISH = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, host, port, rest: f"{scheme}://{host}{port}{rest}",
        st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
        st.sampled_from(
            ["127.0.0.1", "[::1]", "localhost", "127.0.0.1.nip.io", "x@127.0.0.1", "10.0.0.1", ""]
        ),
        st.one_of(st.just(""), st.integers(-5, 70000).map(lambda p: f":{p}")),
        st.text(max_size=20),
    ),
)


@given(_URLISH)
def test_an_accepted_redirect_uri_is_always_loopback_http(uri: str) -> None:
    if redirect_uri_problem(uri) is None:
        parts = urlsplit(uri)
        assert parts.scheme == "http"
        assert parts.hostname in ("127.0.0.1", "::1")
        assert "@" not in parts.netloc and not parts.fragment


@given(st.integers(1, 65535), st.sampled_from(["/callback", "/", "/a/b?x=1", ""]))
def test_any_port_of_the_loopback_address_is_accepted(port: int, path: str) -> None:
    assert redirect_uri_problem(f"http://127.0.0.1:{port}{path}") is None
    assert redirect_uri_problem(f"http://[::1]:{port}{path}") is None
