//! The table `stemsight eval` prints.

use super::bootstrap::*;
use super::tally::*;

/// A table a person reads on the terminal.
pub fn summary_table(r: &EvalReport) -> String {
    let mut s = String::new();
    let line = |name: &str, sc: &Scores| {
        let poly_min = sc
            .polymorph_accuracy
            .values()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min);
        format!(
            "{name:<22} {:>4} | atoms P {:.4} R {:.4} RMSE {:5.2} pm (x {:.2} y {:.2}, registered {:.2}) | VS1 F1 {:.3} | VS2 F1 {:.3} | \
             VS1c {:.3} VS2c {:.3} | VS1a {:.3} VS2a {:.3} | poly acc {:.3} (min class {:.3}) clean {:.3} | C MAE {:.2} Å IoU {:.2} kept {:.2} | per site VS1 ×{:.3} VS2 ×{:.3} | {:.0} ms\n",
            sc.images,
            sc.atoms.precision,
            sc.atoms.recall,
            sc.atoms.rmse_pm,
            sc.atoms.rmse_x_pm,
            sc.atoms.rmse_y_pm,
            sc.atoms_rmse_registered_pm,
            sc.vs1.f1,
            sc.vs2.f1,
            sc.vs1_clean.f1,
            sc.vs2_clean.f1,
            sc.vs1_analyzed.f1,
            sc.vs2_analyzed.f1,
            sc.polymorph_pixel_accuracy,
            if poly_min.is_finite() { poly_min } else { f64::NAN },
            sc.polymorph_pixel_accuracy_clean,
            sc.carbon_mae_a,
            sc.carbon_iou,
            sc.kept_fraction,
            sc.vs1_density_ratio,
            sc.vs2_density_ratio,
            sc.mean_time_ms
        )
    };
    s.push_str(&line("overall", &r.overall));
    s.push_str(&format!(
        "atom RMSE by true column (pm): clean areas {:.2} |",
        r.overall.atoms_rmse_clean_pm
    ));
    for (site, v) in &r.overall.atoms_rmse_by_site_pm {
        s.push_str(&format!(" {site} {v:.2}"));
    }
    s.push('\n');
    if !r.interval95.is_empty() {
        s.push_str(&format!(
            "95% interval over images ({BOOTSTRAP_RESAMPLES} resamples):"
        ));
        for (k, [lo, hi]) in &r.interval95 {
            s.push_str(&format!(" {k} {lo:.3}-{hi:.3}"));
        }
        s.push('\n');
    }
    for (k, v) in &r.by_dose {
        s.push_str(&line(&format!("dose {k}"), v));
    }
    for (k, v) in &r.by_carbon {
        s.push_str(&line(&format!("carbon {k}"), v));
    }
    for (k, v) in &r.by_pixel_size {
        s.push_str(&line(&format!("px {k} Å"), v));
    }
    for (k, v) in &r.by_scan_noise {
        s.push_str(&line(&format!("scan {k}"), v));
    }
    if r.by_chemistry.len() > 1 {
        for (k, v) in &r.by_chemistry {
            s.push_str(&line(k, v));
        }
    }
    s.push_str("polymorph accuracy per class (all / clean): ");
    for (k, v) in &r.overall.polymorph_accuracy {
        let c = r.overall.polymorph_accuracy_clean.get(k).copied().flatten();
        s.push_str(&format!(
            "{k} {} / {}  ",
            v.map_or("-".into(), |a| format!("{a:.3}")),
            c.map_or("-".into(), |a| format!("{a:.3}"))
        ));
    }
    s.push('\n');
    if !r.failures.is_empty() {
        s.push_str(&format!(
            "{} folders failed: {}\n",
            r.failures.len(),
            r.failures.join("; ")
        ));
    }
    s
}
