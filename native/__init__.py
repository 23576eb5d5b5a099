"""The appliance's small C extension (cffi, API mode) and its pure-Python twins.

Nothing outside this package imports `native._native` directly: use
`native.checksum`, which validates inputs and falls back to nothing silently.
"""
