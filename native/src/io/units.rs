//! Length units as files write them (ImageJ descriptions, DM and EMD metadata, EMI
//! XML), converted to Å.

/// The `unit=` line of an ImageJ description (`ImageJ=1.53t\nunit=nm\n...`), with the
/// `\uXXXX` escapes ImageJ writes for characters beyond ASCII (`unit=\u00B5m` for µm,
/// `\u00C5` for Å) decoded.
pub fn imagej_unit(description: &str) -> Option<String> {
    if !description.starts_with("ImageJ") {
        return None;
    }
    description.lines().find_map(|l| {
        l.strip_prefix("unit=")
            .map(|u| unescape(u.trim().trim_matches('"')))
    })
}

/// `text` with each `\uXXXX` (four hex digits) replaced by its character; anything
/// else, including an escape that names no character, is kept as it is.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\\u") {
        out.push_str(&rest[..at]);
        let code = rest
            .get(at + 2..at + 6)
            .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
        match code.and_then(|h| char::from_u32(u32::from_str_radix(h, 16).ok()?)) {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 6..];
            }
            None => {
                out.push_str("\\u");
                rest = &rest[at + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// How many Å one `unit` is; `None` for units that are not lengths (e.g. "pixel").
pub fn unit_to_angstrom(unit: &str) -> Option<f64> {
    let u = unit.trim();
    let lower = u.to_lowercase();
    match lower.as_str() {
        "a" | "å" | "angstrom" | "angstroms" | "ångström" => Some(1.0),
        "nm" | "nanometer" | "nanometers" | "nanometre" | "nanometres" => Some(10.0),
        "pm" | "picometer" | "picometers" | "picometre" | "picometres" => Some(0.01),
        "um" | "µm" | "μm" | "micron" | "microns" | "micrometer" | "micrometers" | "micrometre"
        | "micrometres" => Some(1e4),
        "mm" => Some(1e7),
        "cm" => Some(1e8),
        "m" => Some(1e10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_unit_agree() {
        for (units, angstrom) in [
            (&["Å", "\u{212B}", "A", "Ångström"][..], 1.0),
            (&["nm", "nanometres"][..], 10.0),
            (&["pm", "picometre"][..], 0.01),
            (&["µm", "μm", "um", "micron", "micrometre"][..], 1e4),
        ] {
            for unit in units {
                assert_eq!(unit_to_angstrom(unit), Some(angstrom), "{unit}");
            }
        }
        assert_eq!(unit_to_angstrom("pixel"), None);
    }

    /// ImageJ escapes what is not ASCII: µm, Å (the letter and the Ångström sign).
    #[test]
    fn imagej_escapes_are_decoded() {
        for (written, unit) in [
            ("\\u00B5m", "µm"),
            ("\\u00C5", "Å"),
            ("\\u212B", "\u{212B}"),
            ("nm", "nm"),
            ("x\\u00G5", "x\\u00G5"),
            ("\\u00B", "\\u00B"),
        ] {
            let description = format!("ImageJ=1.54f\nunit={written}\n");
            assert_eq!(
                imagej_unit(&description).as_deref(),
                Some(unit),
                "{written}"
            );
        }
        let micro = imagej_unit("ImageJ=1.54f\nunit=\\u00B5m\n").unwrap();
        assert_eq!(unit_to_angstrom(&micro), Some(1e4));
    }
}
