"""labs.components.chaos.toxics: the registry lists every toxic module, in Toxiproxy's order."""
import pkgutil

import pytest

from labs.components.chaos import toxics
from labs.components.chaos.toxics import REGISTRY, TOXICS, BadToxic, Toxic, build, check_attributes, describe


def test_every_toxic_module_is_registered_and_names_its_type():
    modules = {m.name for m in pkgutil.iter_modules(toxics.__path__)} - {"base"}
    assert modules == set(REGISTRY)  # a module per type, and no type without one
    assert list(REGISTRY) == ["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"]
    for type_, cls in REGISTRY.items():
        assert issubclass(cls, Toxic) and cls.__module__.endswith("." + type_)
        assert TOXICS[type_] == cls.ATTRIBUTES
        toxic = build(type_, "t", "upstream", 0.5, check_attributes(type_, {}))
        assert toxic.to_json() == {"name": "t", "type": type_, "stream": "upstream", "toxicity": 0.5,
                                   "attributes": {k: a.default for k, a in cls.ATTRIBUTES.items()}}


def test_describe_has_a_line_per_type_with_its_ranges():
    lines = describe().splitlines()
    assert [line.split(":")[0] for line in lines] == list(REGISTRY)
    assert "latency: latency=0 (0..60000 ms), jitter=0 (0..60000 ms)" in lines


@pytest.mark.parametrize("type_", ["packet_loss", None, ["latency"]])
def test_an_unknown_type_names_the_types(type_):
    with pytest.raises(BadToxic, match="types: latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data"):
        check_attributes(type_, {})


def test_unknown_attributes_and_base_values():
    with pytest.raises(BadToxic, match="latency has no attribute 'latncy'; attributes: latency, jitter"):
        check_attributes("latency", {"latncy": 5})
    assert check_attributes("latency", {"jitter": 3}, {"latency": 9, "jitter": 1}) == {"latency": 9, "jitter": 3}
    assert check_attributes("latency", {"latency": 2.5}) == {"latency": 2.5, "jitter": 0}
    with pytest.raises(BadToxic, match="attributes must be an object"):
        check_attributes("latency", [1])
