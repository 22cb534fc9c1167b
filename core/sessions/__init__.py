"""Sessions: resolution and resets, lifecycle, history, checkpoints, maintenance, conversation.

Everything here works through the storage protocols of :mod:`core.storage`; nothing
here knows which backend or whether the store seals what it keeps.
"""
