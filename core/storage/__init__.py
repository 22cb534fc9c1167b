"""Storage: the narrow protocols, the memory backend, the caching layer and ``sql/``.

Nothing here imports :mod:`core.sessions` or :mod:`core.crypto`; the sealing layer
(:mod:`core.crypto.sealing`) wraps any store from the outside.
"""
