"""Layer 3, tools: checks, smoke tests, and (later) chaos, trace, bench and widgets."""
