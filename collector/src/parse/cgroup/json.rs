//! Container names from a runtime's on-disk state, read once when a container is
//! discovered (no API call, no socket):
//!
//! - Docker: `/var/lib/docker/containers/<id>/config.v2.json`, the top-level `"Name"`
//!   (`"/homeassistant"`; the leading `/` is dropped, as cAdvisor and `docker ps` do);
//! - Podman and other containers/storage users:
//!   `/var/lib/containers/storage/overlay-containers/containers.json`, an array of
//!   `{"id": …, "names": [first, …], …}`.
//!
//! A scanner, not a JSON parser: it walks the bytes once without recursion or
//! allocation, keeps track only of strings and nesting, and returns the raw bytes of
//! a string. A name with an escape sequence is refused (runtimes allow only
//! `[a-zA-Z0-9][a-zA-Z0-9_.-]*`), so no unescaping is needed.

/// A position in the input.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Consumes `b` (after whitespace) if it is next.
    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// A string at the cursor: its raw content (escapes left as they are).
    fn string(&mut self) -> Option<&'a [u8]> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
        let s = self.bytes.get(start..self.at)?;
        self.at += 1;
        Some(s)
    }

    /// Skips one value of any kind (nested ones by counting brackets).
    fn skip_value(&mut self) -> Option<()> {
        self.skip_ws();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                // A number, true, false or null: up to the next separator.
                let start = self.at;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                (self.at > start).then_some(())
            }
        }
    }

    /// Walks the members of an object at the cursor, calling `member(key, self)` with
    /// the cursor before each value; `member` consumes the value (returning `Some`) or
    /// leaves it to be skipped (returning `None`). Stops early when `done` says so.
    fn object(
        &mut self,
        mut member: impl FnMut(&'a [u8], &mut Self) -> Option<()>,
        done: impl Fn() -> bool,
    ) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            let before = self.at;
            if member(key, self).is_none() {
                self.at = before;
                self.skip_value()?;
            }
            if done() || self.eat(b'}') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }
}

/// A name as runtimes allow it: not empty, no escapes, no control characters, no `/`.
fn plain(name: &[u8]) -> Option<&[u8]> {
    let ok = !name.is_empty()
        && name
            .iter()
            .all(|&b| b > b' ' && b != b'\\' && b != b'"' && b != b'/');
    ok.then_some(name)
}

/// The container name of a Docker `config.v2.json`: the top-level `"Name"` without its
/// leading `/`. `None` when there is none or it is not a plain name.
pub fn docker_name(config: &[u8]) -> Option<&[u8]> {
    let mut s = Scanner {
        bytes: config,
        at: 0,
    };
    let found = core::cell::Cell::new(None);
    s.object(
        |key, s| {
            if key == b"Name" {
                let value = s.string()?;
                found.set(Some(value));
                Some(())
            } else {
                None
            }
        },
        || found.get().is_some(),
    )?;
    let name = found.get()?;
    plain(name.strip_prefix(b"/").unwrap_or(name))
}

/// The first name of the container with id `id` in a containers/storage
/// `containers.json` (Podman's), or `None`.
pub fn storage_name<'a>(containers: &'a [u8], id: &[u8]) -> Option<&'a [u8]> {
    let mut s = Scanner {
        bytes: containers,
        at: 0,
    };
    if !s.eat(b'[') {
        return None;
    }
    if s.eat(b']') {
        return None;
    }
    loop {
        let this_id = core::cell::Cell::new(None);
        let first_name = core::cell::Cell::new(None);
        s.object(
            |key, s| match key {
                b"id" => {
                    this_id.set(Some(s.string()?));
                    Some(())
                }
                b"names" => {
                    if !s.eat(b'[') {
                        return None;
                    }
                    if s.eat(b']') {
                        return Some(());
                    }
                    loop {
                        let name = s.string()?;
                        if first_name.get().is_none() {
                            first_name.set(Some(name));
                        }
                        if s.eat(b']') {
                            return Some(());
                        }
                        if !s.eat(b',') {
                            return None;
                        }
                    }
                }
                _ => None,
            },
            || false,
        )?;
        if this_id.get() == Some(id) {
            return first_name.get().and_then(plain);
        }
        if !s.eat(b',') {
            return None;
        }
    }
}

/// Runs both scanners over `input` (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = docker_name(input);
    let _ = storage_name(input, b"x");
    let id = input.get(..input.len().min(64)).unwrap_or_default();
    let _ = storage_name(input, id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_name_is_the_top_level_one() {
        let config = fixture!(
            "cgroup-docker/var/lib/docker/containers/a159ff79775818fdc250f59043ee788ace8d235db6e14f7beac8be7e2b9715a5/config.v2.json"
        );
        assert_eq!(docker_name(config), Some(&b"homeassistant"[..]));
        // A nested "Name" (HostConfig.RestartPolicy) before the top-level one is not it.
        let nested = br#"{"HostConfig":{"RestartPolicy":{"Name":"always"}},"Config":{"Image":"x"},"Name":"/pihole","State":{}}"#;
        assert_eq!(docker_name(nested), Some(&b"pihole"[..]));
        assert_eq!(docker_name(br#"{"Name":"/a\"b"}"#), None);
        assert_eq!(docker_name(br#"{"Id":"x"}"#), None);
        assert_eq!(docker_name(b"{\"Name\":"), None);
        assert_eq!(docker_name(b"[]"), None);
    }

    #[test]
    fn storage_name_finds_the_container_by_id() {
        let json = br#"[{"id":"aaa","names":["first","alias"],"image":"i","metadata":"{\"name\":\"first\"}"},
            {"id":"bbb","names":[],"flags":{"x":[1,{"y":"]"}]}},
            {"id":"ccc","names":["third"]}]"#;
        assert_eq!(storage_name(json, b"aaa"), Some(&b"first"[..]));
        assert_eq!(storage_name(json, b"bbb"), None);
        assert_eq!(storage_name(json, b"ccc"), Some(&b"third"[..]));
        assert_eq!(storage_name(json, b"ddd"), None);
        assert_eq!(storage_name(b"[", b"a"), None);
        assert_eq!(storage_name(b"[]", b"a"), None);
        assert_eq!(storage_name(br#"[{"id":"a","names":["x""#, b"a"), None);
    }
}
