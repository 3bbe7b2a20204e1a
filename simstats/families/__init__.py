"""Measurement families: how a persona's fingerprint of one measure is parametrised (:mod:`.fingerprints`) and the
bin probabilities of parametric score distributions (:mod:`.bins`)."""
