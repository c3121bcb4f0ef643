//! pimon-aggregator library (work in progress).
