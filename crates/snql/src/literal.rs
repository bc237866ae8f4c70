//! String and datetime literals: Snuba's escaping rules and datetime parsing.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// Decodes the body of a single-quoted SnQL string (without the quotes).
///
/// Snuba runs the body through Python's regex replacement-template unescaping
/// and then turns `\'` into `'`. The effective rules: `\\` → `\`, `\'` → `'`,
/// `\n \t \r \f \v \a \b` → control characters, `\0` (+ up to two octal digits)
/// → that character, `\1` → nothing, `\2` and `\g<0>` → newline, `\3`…`\9` →
/// "invalid group reference", a backslash before any other non-alphanumeric
/// character is kept verbatim, and before any other letter it is "bad escape".
pub fn decode_string(body: &str) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        let Some(escaped) = chars.next() else {
            // A lone trailing backslash is kept, as Python's template does.
            out.push('\\');
            break;
        };
        match escaped {
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            '0' => {
                let mut value = 0u32;
                for _ in 0..2 {
                    match chars.peek() {
                        Some(digit @ '0'..='7') => {
                            value = value * 8 + digit.to_digit(8).unwrap_or(0);
                            chars.next();
                        }
                        _ => break,
                    }
                }
                out.push(char::from_u32(value).unwrap_or('\0'));
            }
            '1' => {}
            '2' => out.push('\n'),
            '3'..='9' => return Err(format!("invalid group reference {escaped}")),
            'g' => {
                let rest: String = chars.clone().take(4).collect();
                if rest.starts_with("<0>") {
                    chars.nth(2);
                    out.push('\n');
                } else {
                    return Err("invalid group reference".to_string());
                }
            }
            other if other.is_ascii_alphanumeric() => {
                return Err(format!("bad escape \\{other}"));
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Encodes a string as a SnQL literal body so that [`decode_string`] returns it.
pub fn encode_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            // Always three digits: `\0` followed by a digit would read it as octal.
            '\0' => out.push_str("\\000"),
            other => out.push(other),
        }
    }
    out
}

/// Parses a datetime literal the way Snuba's `parse_datetime` does: ISO-8601
/// dates and date-times (`T` or space separated), timezone ignored,
/// microseconds dropped.
pub fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    let (date_part, time_part) = match text.find(['T', ' ']) {
        Some(index) => (&text[..index], Some(&text[index + 1..])),
        None => (text, None),
    };
    let date = NaiveDate::parse_from_str(date_part, "%Y-%m-%d").ok()?;
    let Some(time_text) = time_part else {
        return Some(date.and_time(NaiveTime::MIN));
    };
    // Strip a timezone designator: `Z`, `+HH:MM`, `-HHMM`, `+HH`.
    let time_text = time_text.trim_end_matches('Z');
    let zone_start = time_text.rfind(['+', '-']).unwrap_or(time_text.len());
    let clock = time_text[..zone_start].trim();
    let clock = clock.split('.').next().unwrap_or(clock);
    let time = NaiveTime::parse_from_str(clock, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(clock, "%H:%M"))
        .ok()?;
    Some(date.and_time(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_escapes_snuba_accepts() {
        assert_eq!(decode_string(r"a\\b").unwrap(), r"a\b");
        assert_eq!(decode_string(r"it\'s").unwrap(), "it's");
        assert_eq!(decode_string(r"x\ny\tz").unwrap(), "x\ny\tz");
        assert_eq!(decode_string(r"a\.b").unwrap(), r"a\.b");
        assert_eq!(decode_string(r#"a\"b"#).unwrap(), r#"a\"b"#);
        assert_eq!(decode_string(r"\1x").unwrap(), "x");
        assert_eq!(decode_string(r"\g<0>").unwrap(), "\n");
        assert_eq!(decode_string(r"\0").unwrap(), "\0");
    }

    #[test]
    fn rejects_the_escapes_snuba_rejects() {
        assert!(decode_string(r"\d").is_err());
        assert!(decode_string(r"\x41").is_err());
        assert!(decode_string(r"\u0041").is_err());
        assert!(decode_string(r"\3").is_err());
    }

    #[test]
    fn encoding_round_trips() {
        for value in [
            "plain",
            "it's",
            r"back\slash",
            "line\nbreak",
            "\0\x07\x08\x0b\x0c\r\t",
            // Found by fuzzing: NUL before a digit was once encoded as `\02`,
            // which decodes as the octal escape for U+0002.
            "\x002",
            "\x00\x007",
        ] {
            assert_eq!(decode_string(&encode_string(value)).unwrap(), value);
        }
    }

    #[test]
    fn datetimes_drop_zone_and_fraction() {
        let expected = NaiveDate::from_ymd_opt(2025, 9, 3)
            .unwrap()
            .and_hms_opt(12, 0, 1)
            .unwrap();
        assert_eq!(parse_datetime("2025-09-03T12:00:01").unwrap(), expected);
        assert_eq!(
            parse_datetime("2025-09-03T12:00:01.826552").unwrap(),
            expected
        );
        assert_eq!(
            parse_datetime("2025-09-03 12:00:01+02:00").unwrap(),
            expected
        );
        assert_eq!(parse_datetime("2025-09-03T12:00:01Z").unwrap(), expected);
        assert_eq!(
            parse_datetime("2021-01-01").unwrap(),
            NaiveDate::from_ymd_opt(2021, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
        );
        assert!(parse_datetime("carbonara").is_none());
        assert!(parse_datetime("2021-13-01").is_none());
    }
}
