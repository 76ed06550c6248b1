"""troupe: many learners at once on Ray."""
