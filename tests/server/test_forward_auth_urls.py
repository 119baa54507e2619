"""The ``rd`` addresses ``/oauth/signin`` goes back to, as properties over any text."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from reconciler.server.apps_session import redirect_problem

DOMAINS = ("apps.example.test",)

_URLISH = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, host, rest: f"{scheme}://{host}{rest}",
        st.sampled_from(["http", "https", "javascript", "", "HTTPS"]),
        st.one_of(
            st.sampled_from(
                [
                    "intranet.apps.example.test",
                    "apps.example.test",
                    "apps.example.test.evil",
                    "evilapps.example.test",
                    "u@intranet.apps.example.test",
                    "intranet.apps.example.test:8443",
                ]
            ),
            st.text(max_size=30).map(lambda t: f"{t}.apps.example.test"),
        ),
        st.text(max_size=20),
    ),
)


@given(_URLISH)
def test_an_accepted_rd_is_always_an_app_under_the_domain(rd: str) -> None:
    if redirect_problem(rd, DOMAINS) is None:
        parts = urlsplit(rd)
        host = parts.hostname or ""
        assert parts.scheme in ("http", "https")
        assert host.endswith(".apps.example.test") and "@" not in parts.netloc
        assert all(c.isalnum() or c in ".-" for c in host)
