"""Experiments beyond one run: sweep specs (:mod:`.spec`, torch- and Ray-free), their
trials on Ray Tune (:mod:`.runner`) and rliable aggregates (:mod:`.aggregate`)."""
