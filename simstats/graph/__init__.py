"""The model-building layer shared by every model kind: the design arrays that tie a pattern table to a model's
parameters (:mod:`.design`), the terms that build their part of a PyMC graph, give start values and evaluate
themselves on draws (:mod:`.hierarchy`, :mod:`.terms`), the dimension names (:mod:`.names`) and the fused
likelihood kernel of the persona mixture (:mod:`.kernel`)."""
