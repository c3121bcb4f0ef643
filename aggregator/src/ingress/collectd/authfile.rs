//! collectd's `AuthFile`: one `user: password` per line (blank lines and `#`
//! comments skipped), read as collectd's `utils_fbhash` reads it: the user name ends
//! at the colon, the password is the rest of the line without surrounding blanks.

use std::collections::HashMap;
use std::path::Path;

/// The users of an AuthFile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    passwords: HashMap<String, String>,
}

impl Users {
    /// Parses the text of an AuthFile (lines it cannot read are skipped, as collectd
    /// skips them).
    pub fn parse(text: &str) -> Users {
        let mut passwords = HashMap::new();
        for line in text.lines() {
            let line = line.trim_start_matches([' ', '\t']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, password)) = line.split_once(':') else {
                continue;
            };
            let user = user.trim_end_matches([' ', '\t']);
            let password = password.trim_matches(|c: char| c.is_ascii_whitespace());
            if user.is_empty() || password.is_empty() {
                continue;
            }
            passwords.insert(user.to_string(), password.to_string());
        }
        Users { passwords }
    }

    /// Reads an AuthFile.
    pub fn load(path: &Path) -> std::io::Result<Users> {
        Ok(Users::parse(&std::fs::read_to_string(path)?))
    }

    /// The password of `user`.
    pub fn get(&self, user: &str) -> Option<&str> {
        self.passwords.get(user).map(String::as_str)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.passwords.len()
    }

    /// True when there is no user.
    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_collectd_reads_them() {
        let u = Users::parse(
            "# users\nalice: s3cret \n\n  bob:\tpass word\r\nnocolon\n: nobody\ncarol:\n",
        );
        assert_eq!(u.get("alice"), Some("s3cret"));
        assert_eq!(u.get("bob"), Some("pass word"));
        assert_eq!(u.len(), 2);
    }
}
