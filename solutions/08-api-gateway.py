"""Solutions to the exercises of notebooks/08-api-gateway.ipynb."""

# %% Exercise 08.1: one budget per client on the catalogue
# `rate_limits` turns each request's x-client-id header (the gateway sets it from the token's
# client_id claim) into a descriptor entry ("client", "<id>"); the descriptor with an empty value
# matches any id and gives every distinct id a bucket of its own. The rule's own token_bucket is the
# fallback for requests without a client id: generous, so it never decides for those that have one.
rule = {
    "token_bucket": {"max_tokens": 1000, "tokens_per_fill": 1000, "fill_interval": "10s"},
    "rate_limits": [{"actions": [{"request_headers": {"header_name": "x-client-id",
                                                      "descriptor_key": "client"}}]}],
    "descriptors": [{"entries": [{"key": "client", "value": ""}],
                     "token_bucket": {"max_tokens": 5, "tokens_per_fill": 5, "fill_interval": "10s"}}],
}
