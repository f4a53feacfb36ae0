"""Layer 3, tools: checks, smoke tests, chaos (fault proxies), trace, bench and (later) widgets."""
