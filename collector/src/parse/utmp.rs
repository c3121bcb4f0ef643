//! `/run/utmp` (glibc's `struct utmp` records): the logged-in sessions, as Telegraf's
//! `system` input counts them (`n_users`, `n_unique_users`, through gopsutil's
//! `host.Users`): records of type `USER_PROCESS` (7), and their distinct `ut_user`.
//!
//! A record is 384 bytes on 32-bit ARM and x86-64 and 400 on aarch64 (glibc keeps
//! `ut_session` and `ut_tv` 32-bit only where 32-bit programs share the file; gopsutil
//! reads 400 on arm64 too). The size is taken from the file's length when only one of the
//! two divides it, else from the architecture the collector is built for. Every field
//! used comes before the sizes differ: `ut_type` (i16 at 0) and `ut_user` (32 bytes at 44).

use super::{FileFormat, ParseError};
use crate::sink::SampleSink;
use pimon_protocol::Value;
use pimon_protocol::catalog::id;

/// glibc's record size on 32-bit targets and on x86-64.
pub const RECORD_COMPAT: usize = 384;
/// glibc's record size on aarch64.
pub const RECORD_AARCH64: usize = 400;

/// The record size of this build's architecture.
pub const RECORD_NATIVE: usize = if cfg!(target_arch = "aarch64") {
    RECORD_AARCH64
} else {
    RECORD_COMPAT
};

const USER_PROCESS: i16 = 7;
const USER_OFFSET: usize = 44;
const USER_LEN: usize = 32;

/// Most distinct user names told apart (more count as one more each, not deduplicated).
pub const MAX_DISTINCT_USERS: usize = 64;

/// What utmp says about sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sessions {
    /// `USER_PROCESS` records (Telegraf's `n_users`).
    pub sessions: u64,
    /// Their distinct user names (Telegraf's `n_unique_users`).
    pub users: u64,
}

/// The record size of a utmp file of `len` bytes (see the module docs).
pub fn record_size(len: usize) -> usize {
    match (
        len.is_multiple_of(RECORD_COMPAT),
        len.is_multiple_of(RECORD_AARCH64),
    ) {
        (true, false) => RECORD_COMPAT,
        (false, true) => RECORD_AARCH64,
        _ => RECORD_NATIVE,
    }
}

/// Counts the sessions of a utmp file (an empty file has none). A trailing partial
/// record is ignored, as gopsutil does.
pub fn parse_utmp(input: &[u8]) -> Result<Sessions, ParseError> {
    let size = record_size(input.len());
    let mut seen = [0u64; MAX_DISTINCT_USERS];
    let mut distinct = 0usize;
    let mut out = Sessions {
        sessions: 0,
        users: 0,
    };
    for record in input.chunks_exact(size) {
        let kind = i16::from_le_bytes([record[0], record[1]]);
        if kind != USER_PROCESS {
            continue;
        }
        out.sessions += 1;
        let user = record
            .get(USER_OFFSET..USER_OFFSET + USER_LEN)
            .ok_or(ParseError::Malformed("a utmp record"))?;
        let user = &user[..user.iter().position(|&b| b == 0).unwrap_or(USER_LEN)];
        let hash = fnv1a(user);
        let known = seen.get(..distinct).unwrap_or_default().contains(&hash);
        if !known {
            out.users += 1;
            if let Some(slot) = seen.get_mut(distinct) {
                *slot = hash;
                distinct += 1;
            }
        }
    }
    Ok(out)
}

/// 64-bit FNV-1a: user names are told apart by hash (no buffer of names needed).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `/run/utmp` as a source: `USERS_SESSIONS`, `USERS_UNIQUE`, unlabelled.
#[derive(Debug)]
pub struct Utmp;

impl FileFormat for Utmp {
    const PATH: &'static str = "run/utmp";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        _bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let s = parse_utmp(input)?;
        sink.labels(&[]);
        sink.push(id::USERS_SESSIONS, Value::Unsigned(s.sessions));
        sink.push(id::USERS_UNIQUE, Value::Unsigned(s.users));
        Ok(())
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_utmp(input);
    super::exercise_format::<Utmp>(input);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn record(size: usize, kind: i16, user: &str) -> Vec<u8> {
        let mut r = std::vec![0u8; size];
        r[..2].copy_from_slice(&kind.to_le_bytes());
        r[USER_OFFSET..USER_OFFSET + user.len()].copy_from_slice(user.as_bytes());
        r
    }

    #[test]
    fn sessions_and_distinct_users_of_both_record_sizes() {
        for size in [RECORD_COMPAT, RECORD_AARCH64] {
            let file: Vec<u8> = [
                record(size, 2, "reboot"),   // BOOT_TIME
                record(size, 6, "LOGIN"),    // LOGIN_PROCESS
                record(size, 7, "pi"),       // USER_PROCESS
                record(size, 7, "pi"),       // a second session of pi
                record(size, 8, "pi"),       // DEAD_PROCESS
                record(size, 7, "operator"), // USER_PROCESS
            ]
            .concat();
            assert_eq!(
                parse_utmp(&file),
                Ok(Sessions {
                    sessions: 3,
                    users: 2
                }),
                "{size}-byte records"
            );
        }
    }

    #[test]
    fn the_pi4_fixture_has_two_sessions_of_one_user() {
        assert_eq!(
            parse_utmp(fixture!("pi4/run/utmp")),
            Ok(Sessions {
                sessions: 2,
                users: 1
            })
        );
    }

    #[test]
    fn empty_or_partial_files() {
        let none = Sessions {
            sessions: 0,
            users: 0,
        };
        assert_eq!(parse_utmp(b""), Ok(none));
        assert_eq!(parse_utmp(&[7u8; 100]), Ok(none));
        assert_eq!(record_size(9600), RECORD_NATIVE);
        assert_eq!(record_size(3 * 384), RECORD_COMPAT);
        assert_eq!(record_size(3 * 400), RECORD_AARCH64);
    }

    #[test]
    fn more_distinct_users_than_remembered_still_count() {
        let names: Vec<std::string::String> =
            (0..MAX_DISTINCT_USERS + 5).map(|i| std::format!("u{i}")).collect();
        let file: Vec<u8> = names
            .iter()
            .flat_map(|n| record(RECORD_COMPAT, 7, n))
            .collect();
        let s = parse_utmp(&file).unwrap();
        assert_eq!(s.sessions as usize, MAX_DISTINCT_USERS + 5);
        assert_eq!(s.users as usize, MAX_DISTINCT_USERS + 5);
    }
}
