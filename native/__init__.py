"""The appliance's small C extension (cffi, API mode) and its pure-Python twins.

Typed layers, each with the twin it must agree with: `checksum` (RFC 1071/1624),
`dns_answer` (DNS answers rewritten from a wire cache, batched UDP I/O) and
`cgroup_stat` (cgroup files kept open and read at offset 0). Only they call
`_loader.load()`; nothing else imports `native._native`. Without the extension
the twins run, after one warning.
"""
