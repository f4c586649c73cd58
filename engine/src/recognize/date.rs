//! Calendar dates for the birth-date rule, parsed from the store's strings.

/// A calendar day; orders chronologically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u8,
    /// Day, 1–31.
    pub day: u8,
}

impl CivilDate {
    /// Parses `YYYY-MM-DD` (a birth date) or EXIF `YYYY:MM:DD[ HH:MM:SS]`
    /// (a capture date); `None` when it is neither or out of range (EXIF
    /// writes `0000:00:00` for unknown).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let date = s.get(..10)?;
        let b = date.as_bytes();
        if !(b[4] == b'-' && b[7] == b'-' || b[4] == b':' && b[7] == b':') {
            return None;
        }
        let year = date.get(..4)?.parse().ok()?;
        let month: u8 = date.get(5..7)?.parse().ok()?;
        let day: u8 = date.get(8..10)?.parse().ok()?;
        if year == 0 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        Some(Self { year, month, day })
    }
}

#[cfg(test)]
mod tests {
    use super::CivilDate;

    #[test]
    fn parses_both_formats_and_orders() {
        let b = CivilDate::parse("1990-05-17").expect("birth date");
        let t = CivilDate::parse("1989:12:31 23:59:59").expect("exif");
        assert!(t < b);
        assert_eq!(CivilDate::parse("0000:00:00 00:00:00"), None);
        assert_eq!(CivilDate::parse("garbage"), None);
        assert_eq!(CivilDate::parse("1990/05/17"), None);
    }
}
