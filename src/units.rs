//! Byte sizes as users type them (`256MiB`, `1.5GiB`, `4096`) and as the tables print them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A number of bytes parsed from a human size. Binary (KiB/MiB/GiB) and decimal (KB/MB/GB)
/// suffixes are both accepted; a bare number is bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SizeError {
    #[error("empty size")]
    Empty,
    #[error("'{0}' is not a size (examples: 4096, 64KiB, 256MiB, 1.5GiB)")]
    Malformed(String),
    #[error(
        "unknown size unit '{unit}' in '{input}' (use B, KiB, MiB, GiB, TiB or KB, MB, GB, TB)"
    )]
    UnknownUnit { input: String, unit: String },
    #[error("size '{0}' is too large")]
    Overflow(String),
}

const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("kib", 1 << 10),
    ("kb", 1000),
    ("m", 1 << 20),
    ("mib", 1 << 20),
    ("mb", 1000 * 1000),
    ("g", 1 << 30),
    ("gib", 1 << 30),
    ("gb", 1000 * 1000 * 1000),
    ("t", 1 << 40),
    ("tib", 1 << 40),
    ("tb", 1000 * 1000 * 1000 * 1000),
];

impl FromStr for ByteSize {
    type Err = SizeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(SizeError::Empty);
        }
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number = number.replace('_', "");
        if number.is_empty() {
            return Err(SizeError::Malformed(input.to_string()));
        }
        let unit_lower = unit.trim().to_ascii_lowercase();
        let multiplier = UNITS
            .iter()
            .find(|(name, _)| *name == unit_lower)
            .map(|(_, m)| *m)
            .ok_or_else(|| SizeError::UnknownUnit {
                input: input.to_string(),
                unit: unit.trim().to_string(),
            })?;
        if number.contains('.') {
            let value: f64 = number
                .parse()
                .map_err(|_| SizeError::Malformed(input.to_string()))?;
            let bytes = value * multiplier as f64;
            if !bytes.is_finite() || bytes >= u64::MAX as f64 {
                return Err(SizeError::Overflow(input.to_string()));
            }
            Ok(ByteSize(bytes.round() as u64))
        } else {
            let value: u64 = number
                .parse()
                .map_err(|_| SizeError::Overflow(input.to_string()))?;
            value
                .checked_mul(multiplier)
                .map(ByteSize)
                .ok_or_else(|| SizeError::Overflow(input.to_string()))
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_bytes(self.0))
    }
}

/// Formats bytes with a binary unit and one decimal: `1.5 GiB`, `64.0 MiB`, `812 B`.
pub fn format_bytes(bytes: u64) -> String {
    format_magnitude(bytes, "")
}

/// Like [`format_bytes`] for a difference that may be negative.
pub fn format_signed_bytes(bytes: i64) -> String {
    format_magnitude(bytes.unsigned_abs(), if bytes < 0 { "-" } else { "" })
}

fn format_magnitude(magnitude: u64, sign: &str) -> String {
    const STEPS: &[&str] = &["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if magnitude < 1024 {
        return format!("{sign}{magnitude} B");
    }
    let mut value = magnitude as f64 / 1024.0;
    let mut unit = STEPS[0];
    for next in &STEPS[1..] {
        if value.abs() < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{sign}{value:.1} {unit}")
}

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_decimal_and_bare_sizes() {
        assert_eq!("4096".parse(), Ok(ByteSize(4096)));
        assert_eq!("64KiB".parse(), Ok(ByteSize(64 * KIB)));
        assert_eq!("256MiB".parse(), Ok(ByteSize(256 * MIB)));
        assert_eq!("256mib".parse(), Ok(ByteSize(256 * MIB)));
        assert_eq!("256M".parse(), Ok(ByteSize(256 * MIB)));
        assert_eq!("1.5GiB".parse(), Ok(ByteSize(3 * GIB / 2)));
        assert_eq!("10MB".parse(), Ok(ByteSize(10_000_000)));
        assert_eq!("1_000".parse(), Ok(ByteSize(1000)));
        assert_eq!(" 2 GiB ".parse(), Ok(ByteSize(2 * GIB)));
    }

    #[test]
    fn rejects_bad_sizes_with_a_reason() {
        assert_eq!("".parse::<ByteSize>(), Err(SizeError::Empty));
        assert!(matches!(
            "MiB".parse::<ByteSize>(),
            Err(SizeError::Malformed(_))
        ));
        assert!(matches!(
            "-5MiB".parse::<ByteSize>(),
            Err(SizeError::Malformed(_))
        ));
        assert!(matches!(
            "12 parsecs".parse::<ByteSize>(),
            Err(SizeError::UnknownUnit { .. })
        ));
        assert!(matches!(
            "1.2.3MiB".parse::<ByteSize>(),
            Err(SizeError::Malformed(_))
        ));
        assert!(matches!(
            "99999999999TiB".parse::<ByteSize>(),
            Err(SizeError::Overflow(_))
        ));
        assert!(matches!(
            "99999999999999999999999".parse::<ByteSize>(),
            Err(SizeError::Overflow(_))
        ));
    }

    #[test]
    fn formats_with_binary_units() {
        assert_eq!(format_bytes(812), "812 B");
        assert_eq!(format_bytes(64 * MIB), "64.0 MiB");
        assert_eq!(format_bytes(3 * GIB / 2), "1.5 GiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
        assert_eq!(format_signed_bytes(-(3 * GIB as i64) / 2), "-1.5 GiB");
        assert_eq!(format_signed_bytes(-(2 * MIB as i64)), "-2.0 MiB");
    }
}
