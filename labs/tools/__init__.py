"""Layer 3, tools: checks, smoke tests, chaos (fault proxies), trace, bench and widgets (the
fault panel: `widgets.fault_panel(proxy, call)`, its logic in `widgets.FaultController`)."""
