"""Our ids: prefix, 10 base32 chars of milliseconds, 10 random ones; they sort by creation time."""

from __future__ import annotations

import random
import re
import time

from orchestrator.domain import ids

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def _reference(number: int) -> str:
    return "".join(CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(10)))


def test_fifty_bits_encode_as_ten_crockford_chars_most_significant_first() -> None:
    rnd = random.Random(3)
    for number in [0, 1, 31, 32, 1023, 1024, 2**50 - 1, *(rnd.getrandbits(50) for _ in range(2000))]:
        assert ids._encode50(number) == _reference(number), number
    assert ids._encode50(0) == "0" * 10 and ids._encode50(2**50 - 1) == "z" * 10


def test_ids_carry_their_millisecond_and_sort_by_it() -> None:
    before = int(time.time() * 1000)
    made = [ids.new_id("egr") for _ in range(50)]
    after = int(time.time() * 1000)
    for made_id in made:
        assert re.fullmatch(r"egr_[0-9a-hjkmnp-tv-z]{20}", made_id), made_id
        assert before <= int("".join(f"{CROCKFORD.index(c):05b}" for c in made_id[4:14]), 2) <= after
    assert len(set(made)) == 50
    time.sleep(0.002)
    assert ids.new_egress_pk()[4:14] > max(m[4:14] for m in made)
