"""Password hashing on the CPU pool.

A PBKDF2 check costs about 0.3 s of CPU (Django 5.2: 1,000,000 iterations). On a gevent
worker's loop that would stop every other request of the worker for as long, at every
RequestToken, login and password change. This hasher is Django's PBKDF2-SHA256 (the same
algorithm name, so stored hashes verify unchanged) with the hash computed on the CPU pool
(shared/cpu_pool.py); hashlib releases the GIL while it works, so the loop runs on.
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher

from shared import cpu_pool


class PooledPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        # verify() and harden_runtime() hash through encode() too.
        return cpu_pool.run(super().encode, password, salt, iterations)
