"""The persona mixture (``[model] kind = "mixture"``, the default): each answer is produced by one of K named
personas whose fingerprints are shared by every condition; conditions differ in their persona log-odds, and the
prompt is evidence about which persona speaks (DESIGN §2).

Where each piece lives: the graph in :mod:`.graph`, the EM start in :mod:`.start`, quantities over posterior draws
and the report in :mod:`.tables`, the truth layout of simulations in :mod:`.truth`.
"""

from __future__ import annotations

from simstats.kinds.base import ModelKind
from simstats.kinds.mixture import graph, start, tables, truth


class MixtureKind(ModelKind):
    """The persona mixture's implementation of :class:`~simstats.kinds.base.ModelKind`."""

    name = "mixture"
    has_personas = True
    reparametrises = True

    def start(self, spec, data, *, em_iter=500, centring=None):
        return start.start(spec, data, em_iter=em_iter, centring=centring)

    def build(self, spec, data, *, centring=None, rows=False):
        return graph.build(spec, data, centring=centring, rows=rows)

    def emissions(self, posterior, spec, data):
        return tables.emissions(posterior, spec, data)

    def checks(self, posterior, spec, data):
        return tables.anchor_check(posterior, spec, data)

    def truth(self, draw, spec, data):
        return truth.truth(draw, spec, data)

    def truth_arrays(self, truth_, spec, data):
        return truth.truth_arrays(truth_, spec, data)

    def condition_shares(self, posterior, data):
        return tables.condition_shares(posterior, data)

    # ------------------------------------------------------------------ results
    def share_draws(self, result):
        return tables.condition_shares(result.posterior, result.data)

    def shares(self, result, prob):
        return tables.shares(result, prob)

    def feature_share_table(self, result, feature, prob):
        return tables.feature_share_table(result, feature, prob)

    def fingerprint_draws(self, result, measure):
        import numpy as np

        return np.asarray(result.posterior[graph.FINGERPRINT.format(measure=measure)])

    def fingerprint_table(self, result, prob):
        return tables.fingerprint_table(result, prob)

    def mean_responsibilities(self, result):
        from simstats.kinds.base import mean_responsibilities

        return mean_responsibilities(self.emissions(result.posterior, result.spec, result.data), result.data)

    def question_shifts(self, result, prob):
        return tables.question_shifts(result, prob)

    def feature_effects(self, result, prob):
        return tables.feature_effects(result, prob)

    def interaction_effects(self, result, prob):
        return tables.interaction_effects(result, prob)

    def condition_effects(self, result, prob):
        return tables.condition_effects(result, prob)

    def summary(self, result, prob):
        return tables.summary(result, prob)


KIND = MixtureKind()

__all__ = ["KIND", "MixtureKind"]
