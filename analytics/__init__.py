"""Analytics: keyframe sampler, detector worker, alert engine and evidence clips."""
