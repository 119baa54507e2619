"""What a person types as a user code is found whatever its case, dashes and spaces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.server.device import (
    USER_CODE_ALPHABET,
    USER_CODE_LENGTH,
    format_user_code,
    normalise_user_code,
)

codes = st.text(alphabet=USER_CODE_ALPHABET, min_size=USER_CODE_LENGTH, max_size=USER_CODE_LENGTH)


@given(codes, st.lists(st.sampled_from(["-", " ", ""]), min_size=9, max_size=9), st.booleans())
def test_typed_codes_normalise_to_the_stored_one(code: str, gaps: list[str], lower: bool):
    typed = "".join(gap + char for gap, char in zip(gaps, code, strict=False)) + gaps[-1]
    typed = typed.lower() if lower else typed
    assert normalise_user_code(typed) == code
    assert normalise_user_code(format_user_code(code)) == code


@given(st.text(max_size=200))
def test_any_text_normalises_to_a_short_ascii_upper_case_word(text: str):
    normal = normalise_user_code(text)
    assert len(normal) <= 2 * USER_CODE_LENGTH
    assert all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" for c in normal)
