//! pimon-collector library (work in progress).
#![cfg_attr(not(feature = "std"), no_std)]
pub mod parse;
pub mod sink;
