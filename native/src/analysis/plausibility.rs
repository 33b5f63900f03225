//! Whether a result can be what the image shows: a finished report is checked against
//! what any TMD image must satisfy, and each failed check is a warning in the report and
//! on the command line rather than a silent number. None of these changes a result.
//!
//! - An image with almost no grey levels (a blank frame, a saturated one, a mask) holds
//!   no columns to find.
//! - No columns in an image that has contrast: the pixel size or the material is wrong.
//! - Column density: every polymorph puts a known number of columns in each cell of
//!   area (√3/2)·a² (two for the honeycomb of 2H stacks, three where the hollow sites are
//!   filled: 3R, 1T). Far fewer or far more found columns than the material area holds
//!   means the columns were not what was found.
//! - Columns that form no lattice: a crystal's columns stand one column spacing (a/√3)
//!   from their neighbours; when few of the found columns do at the pixel size given, the
//!   pixel size is wrong (or the image holds no TMD) even where the polymorph map reads
//!   vacuum and the density check has no material to count against.
//! - 2H-1L areas whose columns are almost all read as metal: the chalcogen columns are not
//!   resolved, and the vacancies per chalcogen site mean nothing.
//! - Most of the material flagged as carbon: the clean statistics then rest on a sliver.
//! - A summary that contradicts itself (more vacancies than sites), or one that calls more
//!   than one chalcogen site in [`ALLOY_LIKE`]'s inverse a vacancy: beam damage leaves a few
//!   per cent (the labelled real WSe₂: 3.7 % and 5.3 %), while a chalcogen sublattice that
//!   mixes S and Se reads its lighter columns as vacancies of the heavier (the Nion WS₂ → WSSe
//!   frame, whose columns hold S₂, SSe or Se₂ and no vacancy the authors saw: 29 %).
//! - Most of the material read as a 2H bilayer or trilayer while a monolayer was possible:
//!   in 2H stacks the layer count rests on the brightness ratio of the two column types,
//!   which the detector sets as much as the stack, so the report says how to declare it
//!   (not when the dose was given and the count read from the absolute signal).
//! - A pixel size coarser than any the model was trained at (the training images are
//!   sampled at `DatasetConfig::default().pixel_size_angstrom`, 0.16–0.24 Å/px): the
//!   network then sees columns sharper-edged and sparser than it learnt.

use crate::crystal::Site;
use crate::crystal::{Chemistry, ChemistrySource, Polymorph, PolymorphClass, Role};
use crate::findings::Report;
use crate::sim::dataset::DatasetConfig;

/// Fewest distinct grey levels an image needs for columns to be found at all.
pub const MIN_GREY_LEVELS: usize = 8;
/// Found / expected column count outside this band is implausible. Vacancies, holes the
/// polymorph map misses and columns at the border move it by a few per cent; the band
/// is wide so that only a wrong pixel size or a non-TMD image trips it.
pub const DENSITY_BAND: (f64, f64) = (0.6, 1.5);
/// Share of the material flagged as carbon above which the clean statistics are called
/// out as resting on little.
pub const MOSTLY_EXCLUDED: f64 = 0.9;
/// Vacancies per chalcogen site above which the calls are more likely an alloyed (S/Se)
/// chalcogen sublattice or an amorphized area than point defects.
pub const ALLOY_LIKE: f64 = 0.2;
/// Fewest found columns before their lattice is judged, and the share of them that must
/// be linked to a neighbour one column spacing away (a clean lattice has three links per
/// column, the border and vacancies take a few).
pub const MIN_COLUMNS_FOR_LATTICE: usize = 50;
pub const MIN_LINKS_PER_COLUMN: f64 = 0.25;

/// Distinct grey levels among the pixels, counted up to `MIN_GREY_LEVELS` (enough to tell
/// "almost none" from "some").
pub fn grey_levels(pixels: &[f32]) -> usize {
    let mut seen: Vec<u32> = Vec::with_capacity(MIN_GREY_LEVELS);
    for v in pixels.iter().filter(|v| v.is_finite()) {
        let bits = v.to_bits();
        if !seen.contains(&bits) {
            seen.push(bits);
            if seen.len() >= MIN_GREY_LEVELS {
                break;
            }
        }
    }
    seen.len()
}

/// Columns per cell of area (√3/2)·a² of a polymorph class name: its occupied sites.
fn columns_per_cell(class: &str) -> Option<f64> {
    let p = Polymorph::from_name(class)?;
    Some(
        Site::ALL
            .iter()
            .filter(|&&s| !p.column(s).is_empty())
            .count() as f64,
    )
}

/// The warnings a finished report deserves; `grey_levels` of the input image.
pub fn warnings(report: &Report, grey_levels: usize, chemistry: Option<Chemistry>) -> Vec<String> {
    let mut out = Vec::new();
    let tasks = &report.settings.tasks;
    let has = |t: &str| tasks.iter().any(|x| x == t);
    if grey_levels < MIN_GREY_LEVELS {
        out.push(format!(
            "the image has only {grey_levels} grey level(s): almost no dynamic range, so \
             nothing in it can be trusted (a blank, saturated or thresholded frame?)"
        ));
    } else if has("atoms") && report.atoms.is_empty() {
        out.push(
            "no columns found although the image has contrast: check the pixel size and \
             that this is an atomic-resolution image of a TMD"
                .to_string(),
        );
    }
    if let Some(w) = density_warning(report, chemistry) {
        out.push(w);
    } else if let Some(w) = lattice_warning(report) {
        out.push(w);
    }
    if let Some(w) = hollow_warning(report) {
        out.push(w);
    }
    if let Some(w) = layer_count_warning(report) {
        out.push(w);
    }
    if let Some(w) = vacancy_depth_note(report) {
        out.push(w);
    }
    out.extend(column_contrast_notes(report));
    if let Some(w) = dose_mismatch_warning(report) {
        out.push(w);
    }
    if let Some(w) = unresolved_chalcogen_warning(report) {
        out.push(w);
    }
    let c = &report.carbon;
    if has("carbon") && c.filter_applied && c.contaminated_fraction >= MOSTLY_EXCLUDED {
        out.push(format!(
            "{:.0} % of the material is flagged as carbon: the clean statistics rest on \
             {:.1} nm²; look at the carbon map before trusting them",
            100.0 * c.contaminated_fraction,
            report.summary.analyzed_area_nm2
        ));
    }
    let s = &report.summary;
    if has("vacancies") && s.n_vs1 + s.n_vs2 > s.n_s2_sites && s.n_s2_sites > 0 {
        out.push(format!(
            "the summary counts more vacancies ({}) than chalcogen sites ({}): the site \
             labels are not to be trusted here",
            s.n_vs1 + s.n_vs2,
            s.n_s2_sites
        ));
    } else if has("vacancies") && s.vs_per_s2_site > ALLOY_LIKE {
        out.push(format!(
            "{:.0} % of the chalcogen sites are called vacancies: more than beam damage leaves; \
             a chalcogen sublattice mixing S and Se (its lighter columns read as vacancies of \
             the heavier) or an amorphized area reads so",
            100.0 * s.vs_per_s2_site
        ));
    }
    let trained = DatasetConfig::default().pixel_size_angstrom;
    let px = report.image.pixel_size_angstrom;
    if px > trained[1] * 1.05 {
        out.push(format!(
            "the pixel size {px:.3} Å is coarser than the model was trained at ({}–{} Å): \
             expect fewer columns and vacancies to be found",
            trained[0], trained[1]
        ));
    }
    out
}

/// Fewest metal columns in 2H-1L areas before their chalcogen share is judged, and the
/// chalcogen-to-metal ratio below which the chalcogen columns count as unresolved (a
/// monolayer holds one of each per cell; vacancies and the border move it by a few per
/// cent). The real contaminated WS₂ image (60 kV) has 1 chalcogen column to 840 W.
pub const MIN_MONOLAYER_METALS: usize = 50;
pub const MIN_CHALCOGEN_PER_METAL: f64 = 0.25;

/// 2H-1L areas whose columns are almost all read as metal: the chalcogen columns are not
/// resolved (S₂ beside W at a high-angle detector and low dose sinks into the noise) or not
/// told from the metal ones, and the vacancies per chalcogen site mean nothing.
fn unresolved_chalcogen_warning(report: &Report) -> Option<String> {
    let (mut metal, mut chalcogen) = (0usize, 0usize);
    for a in &report.atoms {
        if a.polymorph == PolymorphClass::Material(Polymorph::H2Mono) {
            match a.site.role() {
                Role::Metal => metal += 1,
                Role::Chalcogen => chalcogen += 1,
            }
        }
    }
    let declared = report.settings.polymorphs == [Polymorph::H2Mono];
    (metal >= MIN_MONOLAYER_METALS && (chalcogen as f64) < MIN_CHALCOGEN_PER_METAL * metal as f64)
        .then(|| {
            format!(
                "the 2H-1L areas hold {metal} columns read as metal and {chalcogen} as \
                 chalcogen, where a monolayer has one of each: the chalcogen columns are not \
                 resolved or not told from the metal ones, so vacancies per chalcogen site are \
                 not measured here (a low dose or a high-angle detector can leave them in the \
                 noise){}",
                if declared {
                    ""
                } else {
                    "; where they are visible, declaring the monolayer (--polymorphs 2H-1L) \
                     reads the sublattices from the geometry"
                }
            )
        })
}

/// Share of the material read as 2H-2L or 2H-3L from which the report says that a 2H
/// stack's layer count rests on contrast alone.
pub const STACKED_2H: f64 = 0.5;

/// The dose given does not fit the image's signal: it is not in detected electrons at that
/// dose, so the layer count and the carbon excess were not read from it.
fn dose_mismatch_warning(report: &Report) -> Option<String> {
    let count = report.polymorph.layer_count.as_ref()?;
    let measured = count.measured_fraction?;
    count.dose_mismatch.then(|| {
        let shares: Vec<String> = count
            .reference_fraction
            .iter()
            .map(|(name, r)| format!("{name} {r:.4}"))
            .collect();
        format!(
            "at --dose {} the image's 2H areas send {measured:.3e} of the beam to the detector, \
             against {} for perfect stacks at these optics: the image is not in detected \
             electrons at that dose (scaled, normalized or background-subtracted?), so the \
             layer count and the carbon excess were not read from the signal",
            count.dose_e_per_angstrom2,
            shares.join(", ")
        )
    })
}

/// Where the vacancies' depth overruled the network's layer count: the two disagreed, and
/// the report says which way it went and why.
fn vacancy_depth_note(report: &Report) -> Option<String> {
    let d = report.polymorph.vacancy_depth.as_ref()?;
    let by_depth = d
        .median_depth
        .filter(|_| d.monolayer_areas > 0)
        .map(|depth| {
            format!(
                "{} by their vacancy calls ({} measured), which leave a median {depth:.2} of a \
                 chalcogen column's signal above the hollows, as only a monolayer's can (a \
                 bilayer's VS1 leaves 0.74-0.83)",
                d.monolayer_areas, d.calls
            )
        });
    let by_signal = d
        .signal_ratio
        .zip(d.signal_limit)
        .filter(|_| d.signal_areas > 0)
        .map(|(ratio, limit)| {
            format!(
                "{} by their columns, whose median signal above the hollows is at most \
                 {ratio:.2} of the monolayer's brighter columns beside them (a stack's would \
                 be above {limit:.2})",
                d.signal_areas
            )
        });
    let reasons: Vec<String> = by_depth.into_iter().chain(by_signal).collect();
    (!reasons.is_empty()).then(|| {
        format!(
            "{} of the {} area(s) the polymorph model read as 2H-2L/2H-3L were relabelled \
             2H-1L ({:.0} % of that area): {}",
            d.monolayer_areas + d.signal_areas,
            d.areas,
            100.0 * d.relabelled_fraction,
            reasons.join("; ")
        )
    })
}

/// Each 2H class whose two column kinds compare as the simulator's value for its layer
/// count does not ([`crate::analysis::contrast`]): relabelled, or left as the map drew it
/// with what would fit.
fn column_contrast_notes(report: &Report) -> Vec<String> {
    let chemistry = report.chemistry.name;
    let assumed = report.chemistry.source == ChemistrySource::Assumed;
    let mut notes: Vec<String> = report
        .polymorph
        .column_contrast
        .iter()
        .filter(|c| assumed && !c.chemistries.iter().any(|q| q == chemistry.name()))
        .map(|c| {
            format!(
                "the chemistry was assumed {chemistry}, but the {} areas' column contrast \
                 ({:.2}) fits {}: pass --chemistry",
                c.polymorph,
                c.ratio,
                if c.chemistries.is_empty() {
                    "no chemistry's".to_string()
                } else {
                    c.chemistries.join(" or ")
                }
            )
        })
        .collect();
    notes.extend(
        report
            .polymorph
            .column_contrast
            .iter()
            .filter(|c| !c.fits || c.relabelled_to.is_some())
            .map(|c| {
                let range = |r: [f64; 2]| {
                    if r[0] == r[1] {
                        format!("{:.2}", r[0])
                    } else {
                        format!("{:.2}-{:.2}", r[0], r[1])
                    }
                };
                let optics = if c.optics_known {
                    "at the image's voltage and detector"
                } else {
                    "over annular detectors from 25 mrad (voltage and detector unknown)"
                };
                let measured = format!(
                    "the {} areas' two column kinds compare as {:.2} (signal above the hollows, \
                 dimmer over brighter, {} + {} columns), where the simulator gives {chemistry}'s \
                 {} {} {optics}",
                    c.polymorph,
                    c.ratio,
                    c.columns[0],
                    c.columns[1],
                    c.polymorph,
                    range(c.expected)
                );
                let others: Vec<String> = c
                    .fitting
                    .iter()
                    .map(|q| {
                        format!(
                            "{q} {}",
                            c.simulated.get(q).map_or(String::new(), |r| range(*r))
                        )
                    })
                    .collect();
                match (&c.relabelled_to, others.is_empty()) {
                    (Some(to), _) if !c.optics_known && others.len() > 1 => format!(
                        "{measured}, which rules out {}: relabelled {to}, the fewest layers that \
                     fit ({}; give --kv and --detector-mrad, or read the original file, to \
                     tell them apart)",
                        c.polymorph,
                        others.join(", ")
                    ),
                    (Some(to), _) => format!("{measured}: relabelled {to} ({})", others.join(", ")),
                    (None, true) => format!(
                        "{measured}, and no 2H layer count fits: a processed image (background \
                     subtracted, clipped), another chemistry or a detector outside 25-100 mrad?"
                    ),
                    (None, false) => format!(
                        "{measured}; it fits {}: the map's {} is doubtful (give --kv and \
                     --detector-mrad, or read the original file, for the layer count at the \
                     image's own detector)",
                        others.join(", "),
                        c.polymorph
                    ),
                }
            }),
    );
    notes
}

/// Most of the material read as 2H-2L / 2H-3L where the caller allowed a monolayer too.
/// Frozen-phonon multislice (`scripts/physics/library/`, 80 kV, 23 mrad) gives the WSe₂
/// monolayer a W/Se₂ ratio of 0.93 at 40–160 mrad and 1.28 at 66–192 mrad, its bilayer's
/// two columns 1.02 and 1.30, MoS₂'s bilayer 1.04 and 1.32: from a normalized image of
/// unknown detector the monolayer and the stacks cannot be told apart (the real WSe₂
/// monolayers in `models/README.md` read 2H-2L/2H-3L).
fn layer_count_warning(report: &Report) -> Option<String> {
    let allowed = &report.settings.polymorphs;
    if !allowed.contains(&Polymorph::H2Mono) || report.polymorph.layer_count.is_some() {
        return None;
    }
    // The column contrast counted the layers: the stacks it measured or relabelled to do
    // not fit a monolayer at the image's own detector, or at any detector of the sweep.
    let mono = Polymorph::H2Mono.name();
    if report.polymorph.column_contrast.iter().any(|c| {
        let stack = c.relabelled_to.as_deref().unwrap_or(&c.polymorph) != mono;
        stack && !c.fitting.iter().any(|q| q == mono)
    }) {
        return None;
    }
    let stacked: f64 = [Polymorph::H2Bi, Polymorph::H2Tri]
        .iter()
        .filter(|q| allowed.contains(q))
        .filter_map(|q| report.polymorph.fractions.get(q.name()))
        .sum();
    (stacked >= STACKED_2H).then(|| {
        format!(
            "the map reads {:.0} % of the material as 2H-2L or 2H-3L: a 2H stack's layer \
             count rests on the brightness ratio of its two column types, which the detector \
             sets as much as the stack (frozen-phonon multislice, 80 kV: WSe2 monolayer \
             W/Se2 0.93 at 40-160 mrad and 1.28 at 66-192 mrad, its bilayer 1.02 and 1.30); \
             if the sample is a monolayer, declare it with --polymorphs 2H-1L, or give the \
             dose of an image in detected electrons (--dose, with --kv and --detector-mrad \
             unless the file says them) to read the layer count from the absolute signal",
            100.0 * stacked
        )
    })
}

/// Hollow occupancy below which the lattice says "2H" (empty hollows), and above which
/// it says "3R or 1T" (filled). Measured on the shipped model's columns: 0.00–0.10 on
/// the 2H real images and a clean simulated 2H-1L, 0.94–0.95 on simulated 3R-2L, 3R-3L
/// and 1T; 0.76 on real WS₂ whose hollows carbon fills (the seed paper's failure mode).
pub const HOLLOWS_EMPTY: f64 = 0.25;
pub const HOLLOWS_FILLED: f64 = 0.75;

/// The network's polymorphs against the lattice's hollows: most of the area called a
/// stack with filled hollows (3R, 1T) while the hollows are empty, or the reverse.
fn hollow_warning(report: &Report) -> Option<String> {
    let p = &report.polymorph;
    let occupancy = p.hollow_occupancy?;
    if p.third_sites < 30 {
        return None;
    }
    let filled: f64 = p
        .fractions
        .iter()
        .filter(|(class, _)| columns_per_cell(class) == Some(3.0))
        .map(|(_, f)| f)
        .sum();
    let empty: f64 = p
        .fractions
        .iter()
        .filter(|(class, _)| columns_per_cell(class) == Some(2.0))
        .map(|(_, f)| f)
        .sum();
    if filled >= 0.5 && occupancy < HOLLOWS_EMPTY {
        Some(format!(
            "the network calls {:.0} % of the area 3R or 1T, whose hollow sites hold \
             columns, but only {:.0} % of the lattice's hollow sites hold one: a 2H stack \
             is likelier; check the polymorph map",
            100.0 * filled,
            100.0 * occupancy
        ))
    } else if empty >= 0.5 && occupancy > HOLLOWS_FILLED {
        Some(format!(
            "the network calls {:.0} % of the area a 2H stack, whose hollow sites are \
             empty, but {:.0} % of the lattice's hollow sites hold a column: a 3R or 1T \
             stack, or contamination filling the hollows",
            100.0 * empty,
            100.0 * occupancy
        ))
    } else {
        None
    }
}

/// Found columns of which too few stand one column spacing from another.
fn lattice_warning(report: &Report) -> Option<String> {
    let found = report.atoms.len();
    let links = report.lattice.links;
    (found >= MIN_COLUMNS_FOR_LATTICE && (links as f64) < MIN_LINKS_PER_COLUMN * found as f64).then(
        || {
            format!(
                "{found} columns found where no lattice links them ({links} pairs one column \
                 spacing apart at {:.4} Å/px): check the pixel size (and that this is a TMD)",
                report.image.pixel_size_angstrom
            )
        },
    )
}

/// Found columns against what the material area of the mapped polymorphs holds.
fn density_warning(report: &Report, chemistry: Option<Chemistry>) -> Option<String> {
    let tasks = &report.settings.tasks;
    if !tasks.iter().any(|t| t == "atoms") || !tasks.iter().any(|t| t == "polymorph") {
        return None;
    }
    let a = chemistry.unwrap_or_default().lattice_a_angstrom();
    let cell = 3f64.sqrt() / 2.0 * a * a;
    let image = &report.image;
    let area = (image.width * image.height) as f64 * image.pixel_size_angstrom.powi(2);
    let expected: f64 = report
        .polymorph
        .fractions
        .iter()
        .filter_map(|(class, f)| Some(columns_per_cell(class)? * f * area / cell))
        .sum();
    // Too little material for the count to mean anything (a few unit cells).
    if expected < 50.0 {
        return None;
    }
    let found = report.atoms.len() as f64;
    let ratio = found / expected;
    (ratio < DENSITY_BAND.0 || ratio > DENSITY_BAND.1).then(|| {
        format!(
            "{} columns found where the mapped crystal holds about {:.0} ({:.0} %): check \
             the pixel size (and that this is a TMD)",
            report.atoms.len(),
            expected,
            100.0 * ratio
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_levels_are_counted_up_to_enough() {
        assert_eq!(grey_levels(&[1.0; 100]), 1);
        assert_eq!(grey_levels(&[0.0, 1.0, 0.0, 1.0]), 2);
        let ramp: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        assert_eq!(grey_levels(&ramp), MIN_GREY_LEVELS);
        assert_eq!(grey_levels(&[f32::NAN, 2.0]), 1);
    }

    #[test]
    fn polymorphs_fill_their_cells() {
        for (class, columns) in [
            ("2H-1L", 2.0),
            ("2H-2L", 2.0),
            ("2H-3L", 2.0),
            ("3R-2L", 3.0),
            ("3R-3L", 3.0),
            ("1T", 3.0),
        ] {
            assert_eq!(columns_per_cell(class), Some(columns), "{class}");
        }
        assert_eq!(columns_per_cell("vacuum"), None);
    }
}
