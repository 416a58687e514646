"""Load tests and benchmarks: camera farm, viewer swarm, scenarios."""
