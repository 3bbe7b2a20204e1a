"""The theory layer: the equations of DESIGN §2 (:mod:`~simstats.theory.formalism`) and thresholded behaviours
(:mod:`~simstats.theory.rules`), as pure functions and small objects over arrays."""
