"""NIST SP 800-63B-4 §3.1.1.2 password policy and the shipped blocklist."""

from __future__ import annotations

import pytest

from idgate.errors import WeakPassword
from idgate.passwords import CommonPasswordList, PasswordListUnavailable, check_new_password, common_passwords
from idgate.passwords import policy

GOOD_15 = "tulip-quasar-97"  # 15 characters, not on the list


def reason(pw: str, **kw: object) -> str:
    with pytest.raises(WeakPassword) as exc:
        check_new_password(pw, **kw)  # type: ignore[arg-type]
    assert exc.value.detail is not None
    return exc.value.detail


def test_length_single_factor() -> None:
    assert len(GOOD_15) == 15
    check_new_password(GOOD_15)
    assert reason(GOOD_15[:14]) == "too_short"


def test_length_with_second_factor() -> None:
    check_new_password("zq7vR2mK", has_second_factor=True)
    assert reason("zq7vR2m", has_second_factor=True) == "too_short"
    assert reason("zq7vR2mK") == "too_short"


def test_maximum_length() -> None:
    check_new_password("k" * 7 + "-" + "v" * 56)  # NIST: at least 64 must be accepted
    check_new_password("unusual-" + "q" * 1016)  # exactly 1024
    assert reason("unusual-" + "q" * 1017) == "too_long"


def test_no_composition_rules() -> None:
    check_new_password("all lowercase words here")
    check_new_password("894302175608123")


def test_unicode_counted_by_code_point() -> None:
    emoji = "🦊🌲🌙🐝🍄🦉🌊🔥🌵🐢🪐🎈🧭🦔🍀"
    assert len(emoji) == 15 and len(emoji.encode()) == 60
    check_new_password(emoji)
    assert reason(emoji[:14]) == "too_short"
    cjk = "春眠不觉晓处处闻啼鸟夜来风雨声"
    assert len(cjk) == 15
    check_new_password(cjk)
    assert reason(cjk[:14]) == "too_short"


def test_length_counted_after_nfkc() -> None:
    # 15 code points as typed ("e" + combining acute), 14 after NFKC composes them
    assert len("cafe\u0301-tulip-qua") == 15
    assert reason("cafe\u0301-tulip-qua") == "too_short"


@pytest.mark.parametrize("pw", ["password", "PASSWORD", "PaSsWoRd", "iloveyou", "Qwertyuiopasdfg", "1QAZ2WSX3EDC4RFV"])
def test_common_password_refused_case_insensitively(pw: str) -> None:
    assert reason(pw, has_second_factor=True) == "common"


def test_fullwidth_common_password_refused() -> None:
    assert reason("ＰＡＳＳＷＯＲＤ", has_second_factor=True) == "common"


def test_context_words() -> None:
    assert reason("my-alice.smith-passphrase", context_words=["alice.smith"]) == "context_word"
    assert reason("ALICE.SMITH-is-my-passphrase", context_words=["alice.smith"]) == "context_word"
    assert reason("carol.jones-rides-again", context_words=["carol.jones@example.com"]) == "context_word"
    assert reason("my own idgate passphrase") == "context_word"
    assert reason("Dorothea Brooke", context_words=["Dorothea Brooke"]) == "context_word"
    # words under four characters are ignored
    check_new_password("bob-tulip-quasar-97", context_words=["bob"])


def test_shipped_list_loaded() -> None:
    lst = common_passwords()
    assert len(lst) > 900_000
    assert lst.false_positive_rate < 1e-8
    assert "123456" in lst and GOOD_15 not in lst


def test_list_round_trip() -> None:
    lst = CommonPasswordList(policy.encode_list(policy.list_key(p) for p in ["Hunter2", "sésame", "🦊🦊🦊"]))
    assert len(lst) == 3
    assert "hunter2" in lst and "HUNTER2" in lst and "SÉSAME" in lst and "🦊🦊🦊" in lst
    assert "hunter3" not in lst and None not in lst


def test_missing_list_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    common_passwords.cache_clear()
    monkeypatch.setattr(policy, "LIST_RESOURCE", "no-such-list.bin")
    try:
        with pytest.raises(PasswordListUnavailable):
            check_new_password(GOOD_15)
        with pytest.raises(PasswordListUnavailable):
            check_new_password("short")  # refused for every password, not only strong ones
    finally:
        common_passwords.cache_clear()


def test_corrupt_list_fails_closed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(policy.encode_list([1, 2, 3]))
    with pytest.raises(PasswordListUnavailable):
        CommonPasswordList(b"")
    with pytest.raises(PasswordListUnavailable):
        CommonPasswordList(bytes(data[:-1]))
    data[-40] ^= 1
    with pytest.raises(PasswordListUnavailable):
        CommonPasswordList(bytes(data))
    with pytest.raises(PasswordListUnavailable):
        CommonPasswordList.load(tmp_path / "missing.bin")
