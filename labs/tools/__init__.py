"""Layer: tools. What every lesson uses to measure and show, reached as `from labs import ...`:

    check       claims (a lesson proves what it says) and exercise checks
    trace       record the calls between components and draw them
    bench       latency, throughput and bytes per call; tables and plots
    widgets     the fault panel (sliders bound to a chaos proxy, a live latency chart)
    fault_control  the panel's logic without widgets: one proxy's faults and a load loop
    resilience  timeouts, retries with jitter, retry budgets, a recorded breaker, bulkheads
    tls         a TLS sidecar in front of a plain-HTTP service
    smoke       one real round trip per component
    notebooks   the learner's and the solution form of every lesson
"""
