"""Encryption at rest: envelope keys, the sealing layer around any store, key rotation."""
