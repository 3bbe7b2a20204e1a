"""Results: the fitted result and its tables (:mod:`.fit_result`), saving and loading (:mod:`.store`), model
comparison by PSIS-LOO (:mod:`.compare`), the one-call workflow (:mod:`.workflow`) and the classic rate model
(:mod:`.rates`)."""

from simstats.results.fit_result import PROB, FitResult
from simstats.results.store import load_result, save_result

__all__ = ["PROB", "FitResult", "load_result", "save_result"]
