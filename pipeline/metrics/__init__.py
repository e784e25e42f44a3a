"""The metrics stage: activity and lap metrics from samples, training load, duplicate recordings,
and the weekly and daily tables."""
