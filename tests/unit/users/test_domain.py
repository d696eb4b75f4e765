from argon2 import PasswordHasher

from users.domain import Passwords, normalize_email

# Cheap parameters: these tests are about behaviour, not hashing cost.
passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def test_emails_are_compared_without_case_or_blanks():
    assert normalize_email("  Ada@Example.COM ") == "ada@example.com"


def test_a_password_verifies_against_its_own_hash_only():
    hashed = passwords.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify(hashed, "correct horse")
    assert not passwords.verify(hashed, "correct horse!")


def test_an_unknown_account_never_verifies():
    assert not passwords.verify(None, "not-a-real-password")
    assert not passwords.verify(None, "anything")


def test_a_corrupt_hash_does_not_verify():
    assert not passwords.verify("not-a-hash", "anything")
