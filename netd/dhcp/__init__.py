"""DHCPv4 server of the appliance: pure codec (wire, options), sans-I/O lease engine
(engine, leases, pool), durable lease journal and a thin asyncio server."""
