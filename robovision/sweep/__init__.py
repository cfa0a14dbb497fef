"""Experiments beyond one run: sweep specs (:mod:`.spec`, torch- and Ray-free), their
trials on Ray Tune (:mod:`.runner`) and aggregates over seeds and tasks (:mod:`.aggregate`)."""
