//! pimon benchmarks (work in progress).
