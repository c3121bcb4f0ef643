//! pimon wire protocol (work in progress).
#![no_std]
#![forbid(unsafe_code)]
pub mod catalog;
