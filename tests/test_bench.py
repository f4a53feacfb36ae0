import time

import pytest

from labs.tools import bench


def test_measure_times_each_call():
    samples = bench.measure(lambda: time.sleep(0.002), n=20, warmup=1, label="sleep", progress=False)
    assert len(samples.seconds) == 20
    assert 1.5 <= samples.median_ms <= 50 and samples.p99_ms >= samples.median_ms


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"n": 10**6}, {"n": 2.5}, {"warmup": -1}])
def test_measure_rejects_out_of_range_counts(kwargs):
    with pytest.raises(ValueError, match="whole number from"):
        bench.measure(lambda: None, **kwargs)


def test_plot_has_one_violin_per_run():
    runs = [bench.Samples("a", [0.001, 0.002]), bench.Samples("b", [0.01, 0.02])]
    fig = bench.plot_latencies(runs)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "1" in labels and "10" in labels  # powers of ten: a log scale
