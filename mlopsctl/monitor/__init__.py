"""Live health: infrastructure and statistical (drift) health, judged against the spec."""
