//! pimon wire protocol (work in progress).
#![no_std]
#![forbid(unsafe_code)]
pub mod catalog;
pub mod value;
pub use value::Value;
