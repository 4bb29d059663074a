"""API tokens: kept by hash, listed per person, revoked once and for good."""

from __future__ import annotations

from engine.records import TokenRecord
from engine.store.base import Store


def test_a_token_is_found_by_its_hash_as_saved(store: Store) -> None:
    """`token_by_hash` returns the saved record; an unknown hash is None."""
    token = TokenRecord("tok_1", "jamie", "hash-1", "CRM", 100.0, "alex")
    store.save_token(token)
    assert store.token_by_hash("hash-1") == token
    assert store.token_by_hash("hash-unknown") is None


def test_tokens_are_listed_per_person_newest_first(store: Store) -> None:
    """`list_tokens(user)` gives that person's tokens, newest first; without a user, everyone's."""
    for i, (tid, user) in enumerate([("t1", "jamie"), ("t2", "sam"), ("t3", "jamie")]):
        store.save_token(TokenRecord(tid, user, f"hash-{tid}", f"label {i}", 100.0 + i, "alex"))
    assert [t.id for t in store.list_tokens("jamie")] == ["t3", "t1"]
    assert [t.id for t in store.list_tokens()] == ["t3", "t2", "t1"]
    assert store.list_tokens("nobody") == []


def test_revoking_sets_when_once_and_a_second_revoke_is_harmless(store: Store) -> None:
    """`revoke_token` records when it was revoked and returns the record; revoking again keeps the
    first time; an unknown token is None. A revoked token is still found by its hash."""
    store.save_token(TokenRecord("tok_1", "jamie", "hash-1", "CRM", 100.0, "alex"))
    store.save_token(TokenRecord("tok_2", "jamie", "hash-2", "BI", 101.0, "alex"))
    revoked = store.revoke_token("tok_1", 200.0)
    assert revoked is not None and (revoked.id, revoked.revoked_at) == ("tok_1", 200.0)
    again = store.revoke_token("tok_1", 300.0)
    assert again is not None and again.revoked_at == 200.0
    assert store.revoke_token("tok_nowhere", 300.0) is None
    found = store.token_by_hash("hash-1")
    assert found is not None and found.revoked_at == 200.0
    assert [(t.id, t.revoked_at) for t in store.list_tokens("jamie")] == [("tok_2", None), ("tok_1", 200.0)]
