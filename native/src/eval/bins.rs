//! The breakdowns every score is also given by: dose decade, carbon level, chemistry,
//! scan distortion, pixel size.

use crate::sim::SimParams;

pub(super) fn dose_bin(params: &SimParams) -> String {
    let d = params.dose_e_per_angstrom2;
    if d <= 0.0 || params.clean {
        return "noise-free".into();
    }
    let e = d.log10().floor() as i32;
    format!("1e{}-1e{}", e, e + 1)
}

pub(super) fn carbon_bin(params: &SimParams) -> String {
    match params.carbon.level {
        l if l <= 0.0 => "0 (none)".into(),
        l if l < 0.34 => "0-0.33 (light)".into(),
        l if l < 0.67 => "0.33-0.67 (moderate)".into(),
        _ => "0.67-1 (heavy)".into(),
    }
}

pub(super) fn chemistry_bin(params: &SimParams) -> String {
    // Truth written before chemistries existed reads as MoS₂ (`SimParams::chemistry`).
    params.chemistry.name().to_string()
}

pub(super) fn scan_bin(params: &SimParams) -> String {
    // The simulator's scan-noise level s sets the line jitter σx = 0.35 Å·s.
    let s = params.scan.jitter_x_angstrom / 0.35;
    match s {
        s if s < 0.25 => "0-0.25 (low)".into(),
        s if s < 0.5 => "0.25-0.5 (moderate)".into(),
        _ => "0.5-1 (high)".into(),
    }
}

pub(super) fn pixel_bin(px: f64) -> String {
    let lo = (px / 0.05).floor() * 0.05;
    format!("{:.2}-{:.2}", lo, lo + 0.05)
}
