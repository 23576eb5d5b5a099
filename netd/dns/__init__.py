"""Cluster DNS: authoritative for the cluster domain, a caching forwarder for the rest.

wire (pure reader of queries), zone (pure authoritative data), template
(pre-packed answers patched per query), cache (forwarded answers, RFC 2308
negative caching), handler (sans-I/O: bytes in, command out), forwarder
(upstream exchanges with a time budget), server (asyncio UDP/TCP), service
(`create(ctx)` for the daemon).
"""
