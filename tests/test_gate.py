"""Issue 16, item 3: sampling to the convergence gate.

The unit tests drive :func:`simstats.inference.samplers.sample_to_gate` with a stand-in for nutpie's
non-blocking sampler whose chains advance by random amounts between polls: where sampling stops, and the draws
kept, must depend on the draws alone (never on how far the chains had run when they were looked at), or the same
seed would not give the same draws. The fit tests run real nutpie on a small simulated log.
"""

from __future__ import annotations

import dataclasses
import warnings

import arviz as az
import numpy as np
import pytest

import simstats
from simstats.inference.samplers import Gate, draws_done, first_draws, sample_to_gate
from simstats.spec import DEFAULT_SPEC_PATH, load_spec, spec_from_dict
from simstats.spec.source import spec_source


class FakeSampler:
    """Chains of known draws (chain c, draw i: ``100 c + i``) that advance by 0-150 draws per poll, at random."""

    def __init__(self, budget: int, chains: int = 2, seed: int = 0):
        self.budget, self.chains, self.rng = budget, chains, np.random.default_rng(seed)
        self.done = np.zeros(chains, int)
        self.cancelled = False

    def _trace(self, done):
        n = int(done.max())
        x = np.full((self.chains, n), np.nan)
        for c in range(self.chains):
            x[c, :done[c]] = 100 * c + np.arange(done[c])
        return az.from_dict({"posterior": {"x": x}, "sample_stats": {"step_size": x * 0 + 0.5}})

    @property
    def is_finished(self):
        if (self.done >= self.budget).all():
            return True
        raise TimeoutError("Timeout while waiting for sampler to finish")   # what nutpie 0.16 answers

    def inspect(self):
        self.done = np.minimum(self.done + self.rng.integers(0, 150, self.chains), self.budget)
        return self._trace(self.done)

    def wait(self):
        self.done[:] = self.budget
        return self._trace(self.done)

    def cancel(self):
        self.cancelled = True


def _gate(pass_at: int | None, stop_at: int | None = None, block: int = 100):
    seen = []

    def verdict(idata):
        n = int(idata["posterior"].sizes["draw"])
        seen.append(n)
        x = np.asarray(idata["posterior"]["x"])
        assert np.isfinite(x).all(), "a check saw a chain's padding"
        if stop_at is not None and n >= stop_at:
            return "stop", {"n": n}
        return ("pass" if pass_at is not None and n >= pass_at else "continue"), {"n": n}

    return Gate(block=block, verdict=verdict, poll=0.0), seen


@pytest.mark.parametrize("seed", range(5))
def test_where_sampling_stops_depends_on_the_draws_not_on_their_timing(seed):
    fake = FakeSampler(budget=1000, seed=seed)
    gate, seen = _gate(pass_at=600)
    idata, record = sample_to_gate(fake, gate, 1000)
    assert seen == [100, 200, 300, 400, 500, 600]          # every block checked once, in order
    assert record["stopped"] == "gate" and record["draws"] == 600 and fake.cancelled
    x = np.asarray(idata["posterior"]["x"])
    assert x.shape == (2, 600) and np.array_equal(x, 100 * np.arange(2)[:, None] + np.arange(600))
    assert [c["verdict"] for c in record["checks"]] == ["continue"] * 5 + ["pass"]


@pytest.mark.parametrize("seed", range(3))
def test_with_progress_reports_the_trace_is_copied_only_when_a_block_is_complete(seed):
    """nutpie's progress callback says how far each chain is; the trace (a copy costing ~0.4 s) is looked at only
    when the slowest chain has completed the next block, and the result is the same as without reports."""
    fake = FakeSampler(budget=1000, seed=seed)
    progress = FakeSampler(budget=1000, seed=seed + 100)       # the chains' own pace, reported between looks

    def drawn():
        fake.done = np.maximum(fake.done, progress.inspect() and progress.done)
        return int(fake.done.min())

    fake.inspect = lambda: fake._trace(fake.done)             # a look copies what is there, advancing nothing
    gate, seen = _gate(pass_at=600)
    idata, record = sample_to_gate(fake, gate, 1000, drawn=drawn)
    assert seen == [100, 200, 300, 400, 500, 600] and record["draws"] == 600
    assert record["looks"] <= len(seen)          # no look without a complete block to check
    assert np.array_equal(np.asarray(idata["posterior"]["x"]), 100 * np.arange(2)[:, None] + np.arange(600))


def test_a_stop_verdict_ends_sampling_at_that_block():
    fake = FakeSampler(budget=1000, seed=1)
    idata, record = sample_to_gate(fake, _gate(pass_at=None, stop_at=200)[0], 1000)
    assert record["stopped"] == "checks" and record["draws"] == 200 and idata["posterior"].sizes["draw"] == 200


def test_the_budget_ends_sampling_when_the_gate_never_passes():
    fake = FakeSampler(budget=450, seed=2)
    gate, seen = _gate(pass_at=None)
    idata, record = sample_to_gate(fake, gate, 450)
    assert seen == [100, 200, 300, 400] and record["stopped"] == "budget" and record["draws"] == 450
    assert idata["posterior"].sizes["draw"] == 450 and not fake.cancelled


def test_an_interrupt_cancels_the_sampler_and_is_passed_on():
    fake = FakeSampler(budget=1000, seed=3)

    def verdict(idata):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sample_to_gate(fake, Gate(block=100, verdict=verdict, poll=0.0), 1000)
    assert fake.cancelled


def test_draws_done_and_first_draws_ignore_a_chain_padding():
    tr = FakeSampler(budget=10)._trace(np.array([7, 4]))
    assert draws_done(tr) == 4
    head = first_draws(tr, 4)
    assert head["posterior"].sizes["draw"] == 4 and np.isfinite(np.asarray(head["posterior"]["x"])).all()


@pytest.mark.parametrize("mutate, match", [
    ({"until": "forever"}, "sampler.until"), ({"block": 5}, "sampler.block"), ({"block": 1.5}, "sampler.block"),
    ({"max_seconds": -1}, "sampler.max_seconds"), ({"max_seconds": float("nan")}, "sampler.max_seconds")])
def test_gate_keys_of_a_spec_are_validated(mutate, match):
    d = spec_source(load_spec(DEFAULT_SPEC_PATH))
    d["sampler"].update(mutate)
    with pytest.raises(simstats.SpecError, match=match):
        spec_from_dict(d)


def test_gate_keys_at_their_defaults_leave_the_hash_and_round_trip():
    spec = load_spec(DEFAULT_SPEC_PATH)
    d = spec_source(spec)
    assert d["sampler"]["until"] == "gate" and spec_from_dict(d).hash() == spec.hash()
    assert "until" not in spec.to_dict()["sampler"]
    d["sampler"]["until"] = "draws"
    assert spec_from_dict(d).hash() != spec.hash()


@pytest.fixture(scope="module")
def small_log():
    from simstats.validation.quick import simulate_log

    spec = load_spec(DEFAULT_SPEC_PATH)
    pats, _ = simulate_log(spec, n_conditions=3, n_prompts=4, answers_per_cell=60, seed=21)
    return spec, pats


def test_a_gated_fit_stops_at_the_first_block_that_passes_and_reports_it(small_log):
    """Real nutpie, 2 chains, budget 2,000 per chain in blocks of 100. Whatever the seed, the invariants hold: the
    draws kept are a whole number of blocks within the budget, every check before the last was 'continue', and a
    stop at the gate means the returned fit has the diagnostics the last check saw (which passed)."""
    spec, pats = small_log
    d = dataclasses.replace(spec, sampler=dataclasses.replace(spec.sampler, block=100))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = simstats.fit(d, pats, draws=2000, tune=300, chains=2, seed=4, progress=False, until="gate")
    g, s = r.meta["gate"], r.sampling_dict()
    assert s["until"] == "gate" and s["budget"] == 2000 and s["draws"] == g["draws"]
    assert r.posterior.sizes["draw"] == g["draws"]
    assert g["draws"] % 100 == 0 or g["stopped"] == "budget"
    verdicts = [c["verdict"] for c in g["checks"]]
    assert all(v == "continue" for v in verdicts[:-1])
    if g["stopped"] == "gate":
        last = g["checks"][-1]
        assert r.diagnostics.max_rhat == pytest.approx(last["max_rhat"]) and r.diagnostics.max_rhat <= 1.01
        assert min(r.diagnostics.min_ess_bulk, r.diagnostics.min_ess_tail) >= 400
        assert g["draws"] < 2000              # this log converges inside the budget (seeds 1, 3, 4: 700-1,100)
    import io

    from rich.console import Console

    from simstats.report.text import print_report, public_report

    report = public_report(r)
    assert report["diagnostics"]["sampling"]["stopped"] == g["stopped"]
    buf = io.StringIO()
    print_report(report, Console(file=buf, width=200))
    assert f"sampled to the gate: {g['draws']:,} of up to 2,000 draws per chain" in buf.getvalue()


def test_draws_given_force_a_fixed_count(small_log):
    spec, pats = small_log
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = simstats.fit(spec, pats, draws=120, tune=100, chains=2, seed=4, progress=False)
    assert r.posterior.sizes["draw"] == 120 and r.meta["gate"] is None and r.sampling_dict()["until"] == "draws"


def test_a_funnel_at_a_well_filled_level_makes_the_ladder_fit_the_adaptive_form(monkeypatch):
    """The ladder's funnel rung, on real nutpie runs of a small 8-condition log: the first run's divergent
    transitions are placed at the neck of sigma_condition (its smallest 3% of draws; which draws diverge is the only
    thing staged, so that the rung's trigger does not depend on sampler luck), the real funnel check sees a funnel
    with 7 residual groups, and the next run fits the spec's adaptive form. The claim is the ladder's flow and what
    it records, not the posterior (the design zoo's 35-condition sweep shows the rung mending a real funnel)."""
    import importlib
    import io

    import xarray as xr
    from rich.console import Console

    from simstats.report.text import print_report, public_report
    from simstats.validation.quick import simulate_log

    spec = load_spec(DEFAULT_SPEC_PATH)
    assert spec.hierarchy.parametrization == "mixed"
    pats, _ = simulate_log(spec, n_conditions=8, n_prompts=2, answers_per_cell=20, seed=3)
    fit_module = importlib.import_module("simstats.inference.fit")    # the package exports the function fit
    real, calls = fit_module.run_sampler, []

    def staged(*args, **kw):
        idata, t = real(*args, **kw)
        calls.append(args[1])
        if len(calls) == 1:
            sd = idata["posterior"]["sigma_condition"]
            sd = sd.mean([d for d in sd.dims if d not in ("chain", "draw")])     # one sd per persona
            neck = (sd <= float(sd.quantile(0.03))).values
            stats = idata["sample_stats"].to_dataset().assign(diverging=xr.DataArray(
                neck, dims=("chain", "draw"), coords={"chain": sd.chain, "draw": sd.draw}))
            idata["sample_stats"] = xr.DataTree(stats)
        return idata, t

    monkeypatch.setattr(fit_module, "run_sampler", staged)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = simstats.fit(spec, pats, draws=150, tune=150, chains=2, seed=2, progress=False)
    first = r.meta["ladder"][0]
    assert first["parametrization"] == "mixed" and first["divergences"] > 0
    assert first["then"] == 'sampling again with parametrization = "adaptive" (a funnel at sigma_condition)'
    assert first["target_accept"] == spec.sampler.target_accept        # the rung keeps the settings
    assert r.spec.hierarchy.parametrization == "adaptive" and r.spec.hash() != spec.hash()
    assert calls[1] is not calls[0]                                    # a new model, not the first one again
    buf = io.StringIO()
    print_report(public_report(r), Console(file=buf, width=300))
    assert 'sampled again with parametrization = "adaptive" (a funnel at sigma_condition) after' in buf.getvalue()
