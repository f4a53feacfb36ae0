import time

import pytest

from labs import bench


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


def test_concurrent_callers_finish_sooner_and_count_every_call():
    alone = bench.measure(lambda: time.sleep(0.002), n=80, warmup=0, progress=False)
    together = bench.measure(lambda: time.sleep(0.002), n=80, warmup=0, progress=False, concurrency=8)
    assert len(together.seconds) == 80 and together.concurrency == 8
    assert together.calls_per_s >= 2.5 * alone.calls_per_s  # ideally 8x: sleeping threads overlap


def test_a_duration_bounds_the_run_instead_of_a_count():
    for concurrency in (1, 4):
        samples = bench.measure(lambda: time.sleep(0.001), duration=0.2, progress=False, concurrency=concurrency)
        assert 0.2 <= samples.wall_seconds <= 2
        assert 10 <= len(samples.seconds) <= 2000


@pytest.mark.parametrize("kwargs", [{"concurrency": 0}, {"concurrency": 1000}, {"duration": 0}, {"duration": -1},
                                    {"duration": True}, {"duration": 10_000}])
def test_measure_rejects_out_of_range_concurrency_and_durations(kwargs):
    with pytest.raises(ValueError, match="from|above 0"):
        bench.measure(lambda: None, **kwargs)


def test_sweep_rejects_empty_or_bad_levels():
    with pytest.raises(ValueError, match="at least one"):
        bench.sweep(lambda: None, levels=())
    with pytest.raises(ValueError, match="from 1 to"):
        bench.sweep(lambda: None, levels=(1, 0))


def test_a_failing_call_fails_a_concurrent_run():
    def broken():
        raise RuntimeError("the service is down")
    with pytest.raises(RuntimeError, match="down"):
        bench.measure(broken, n=10, warmup=0, progress=False, concurrency=4)


def test_sweep_table_and_plots():
    runs = bench.sweep(lambda: None, levels=(1, 2, 4), n=20, label="noop", progress=False)
    runs += bench.sweep(lambda: None, levels=(1, 2, 4), n=20, label="other", progress=False)
    frame = bench.table(runs)
    assert list(frame.columns) == ["label", "concurrency", "calls", "median_ms", "p99_ms", "calls_per_s",
                                   "client_cpu_ms"]
    assert list(frame.concurrency) == [1, 2, 4, 1, 2, 4]
    fig = bench.plot_throughput(runs)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["noop", "other"]
    fig = bench.plot_bytes({"JSON": 104, "protobuf": 46})
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["JSON", "protobuf"]
    with pytest.raises(ValueError, match="at least one"):
        bench.plot_bytes({})


def test_the_harness_costs_little_next_to_a_loopback_call():
    # A gRPC call on loopback takes ~0.7 ms; what the harness adds per call must be far below that.
    cost_per_call_s = 1 / bench.overhead(n=5000).calls_per_s
    assert cost_per_call_s < 50e-6
    assert bench.overhead(n=2000, concurrency=4).median_ms < 0.05


def test_cpu_per_call_counts_work_not_waiting():
    import time

    def burn():
        deadline = time.process_time() + 0.002
        while time.process_time() < deadline:
            pass

    for concurrency in (1, 2):
        busy = bench.measure(burn, n=20, warmup=0, progress=False, concurrency=concurrency)
        idle = bench.measure(lambda: time.sleep(0.002), n=20, warmup=0, progress=False, concurrency=concurrency)
        assert busy.client_cpu_ms >= 1.5 and idle.client_cpu_ms < 1, (busy.client_cpu_ms, idle.client_cpu_ms)
    assert bench.Samples("x", [0.1]).server_cpu_ms is None  # only when the caller measured it


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_finished_measurement_leaves_a_full_bar(monkeypatch, concurrency):
    from labs.runtime import progress

    monkeypatch.setenv("LABS_PROGRESS", "1")
    bars = []
    real_bar = progress.bar

    def spy(*args, **kwargs):
        bars.append(real_bar(*args, **kwargs))
        return bars[-1]

    monkeypatch.setattr(bench, "progress_bar", spy)
    bench.measure(lambda: None, n=37, warmup=3, concurrency=concurrency)  # not a multiple of 16
    assert bars[0].n == bars[0].total == 37


def test_latency_plot_keeps_every_run_off_the_edges():
    fast = bench.Samples("fast", [0.0003, 0.0004, 0.0005])
    slow = bench.Samples("slow +20ms", [0.0201, 0.0205, 0.021])
    low, high = bench.plot_latencies([fast, slow]).axes[0].get_ylim()  # log10 of ms
    assert low < -0.5 and high > 1.33  # whole decades: 0.1 ms to 100 ms, room above 21 ms
    low, high = bench.plot_latencies([slow], log=False).axes[0].get_ylim()
    assert low == 0 and high > 21
