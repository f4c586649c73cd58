//! Person names: validation and the case-insensitive uniqueness key.

use crate::error::ActionError;

/// Longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The display form of a name: trimmed, inner runs of white space folded to
/// one space. Refuses empty names, control characters and over-long names.
pub fn clean_name(raw: &str) -> Result<String, ActionError> {
    let cleaned = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.is_empty() {
        return Err(ActionError::EmptyName);
    }
    if cleaned.chars().any(char::is_control) {
        return Err(ActionError::InvalidName {
            reason: "it contains control characters".into(),
        });
    }
    if cleaned.chars().count() > MAX_NAME_CHARS {
        return Err(ActionError::InvalidName {
            reason: format!("it is longer than {MAX_NAME_CHARS} characters"),
        });
    }
    Ok(cleaned)
}

/// The uniqueness key of a name: "Alice", "alice" and " ALICE " are one.
pub fn name_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Validates a `YYYY-MM-DD` date (a real calendar date).
pub fn clean_date(raw: &str) -> Result<String, ActionError> {
    let bad = || ActionError::InvalidDate(raw.to_owned());
    let trimmed = raw.trim();
    let parts: Vec<&str> = trimmed.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d): (u32, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if d == 0 || d > days {
        return Err(bad());
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn check(input: &str, expect: &Expect) {
        let got = match clean_name(input) {
            Ok(name) => format!("ok {name:?} key {:?}", name_key(&name)),
            Err(e) => format!("err {e}"),
        };
        expect.assert_eq(&got);
    }

    #[test]
    fn names() {
        check("Alice", &expect![[r#"ok "Alice" key "alice""#]]);
        check(
            "  Ada   Lovelace ",
            &expect![[r#"ok "Ada Lovelace" key "ada lovelace""#]],
        );
        check("ÉMILE", &expect![[r#"ok "ÉMILE" key "émile""#]]);
        check("   ", &expect!["err a person's name cannot be empty"]);
        check("", &expect!["err a person's name cannot be empty"]);
        check(
            "a\u{7}b",
            &expect!["err invalid name: it contains control characters"],
        );
        check(
            &"x".repeat(201),
            &expect!["err invalid name: it is longer than 200 characters"],
        );
    }

    #[test]
    fn dates() {
        assert_eq!(clean_date("2000-02-29").as_deref(), Ok("2000-02-29"));
        for bad in [
            "1900-02-29",
            "2021-13-01",
            "2021-04-31",
            "21-01-01",
            "2021-1-1",
            "x",
            "",
        ] {
            assert_eq!(
                clean_date(bad),
                Err(ActionError::InvalidDate(bad.into())),
                "{bad}"
            );
        }
    }
}
