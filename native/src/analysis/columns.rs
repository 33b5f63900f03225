//! Atom columns: peaks of the atom heatmap, sub-pixel positions (heatmap and image fits),
//! scan-line correction, integrated intensities and the report's atoms.

use super::frame::*;
use super::intensity;
use super::lattice;
use super::localize::{self, ColumnContent, Refinement};
use super::maps::*;
use super::polymorph;
use super::scanline;
use super::settings::*;
use super::sublattice;
use super::vacancy::VacancyPoint;
use crate::crystal::{Polymorph, PolymorphClass, Role};
use crate::findings::*;
use crate::math::resample::{bilinear, Grid};
use crate::nn::tiling::HeadMap;
use rayon::prelude::*;

/// Radius of the window a column's 2D Gaussian is fitted in: inside half the
/// Mo–S₂ projected distance (1.82 Å), so a neighbour adds little but a slope.
pub(super) const GAUSSIAN_WINDOW_A: f64 = 0.85;

/// Part of a column measured per scan line: ±0.6 Å across (inside half the 1.82 Å
/// Mo–S₂ distance), ±0.4 Å along y (the probe core).
pub(super) const LINE_HALF_WIDTH_A: f64 = 0.6;

pub(super) const LINE_HALF_HEIGHT_A: f64 = 0.4;

/// Line offsets varying over more than this are drift, not jitter, and are kept
/// (3 Å kept part of the correlated jitter: RMSE 7.86 pm vs 7.62 pm at 10 Å).
pub(super) const LINE_SMOOTH_A: f64 = 10.0;

/// Half-height of the band of columns whose lattice residuals measure one scan line's
/// slow displacement: about a column's footprint.
pub(super) const SLOW_BAND_A: f64 = 0.5;

/// Starting width of that Gaussian: a ≈ 1 Å FWHM probe.
pub(super) const PROBE_SIGMA_A: f64 = 0.42;

/// Background-subtracted intensity in a disk around a point of the input image; the
/// background is measured on the model grid in input intensity units.
pub(super) struct Measure<'a> {
    pub(super) integrator: intensity::Integrator<'a>,
    pub(super) background: Vec<f32>,
    pub(super) grid: Grid,
    pub(super) gw: usize,
    pub(super) gh: usize,
}

impl<'a> Measure<'a> {
    pub(super) fn new(f: &Frame<'a>, resampled: &[f32]) -> Measure<'a> {
        let background = intensity::background(
            resampled,
            f.gw,
            f.gh,
            (intensity::BACKGROUND_WINDOW_A / f.model_px()).round() as usize,
        );
        Measure {
            integrator: intensity::Integrator {
                image: f.pixels,
                width: f.w,
                height: f.h,
                radius_px: intensity::INTEGRATION_RADIUS_A / f.pixel_size,
                pixel_area_a2: f.pixel_size * f.pixel_size,
            },
            background,
            grid: f.grid,
            gw: f.gw,
            gh: f.gh,
        }
    }

    /// The integrated intensity at input point (x, y).
    pub(super) fn at(&self, x: f64, y: f64) -> f64 {
        let (cx, cy) = self.grid.to_canonical(x, y);
        let bg = bilinear(&self.background, self.gw, self.gh, cx, cy);
        self.integrator.at(x, y, bg)
    }
}

/// The atom head's peaks on the model grid: metal-containing (channel 0) and
/// chalcogen-only (channel 1) columns at least 1 Å apart.
pub(super) fn locate_columns(f: &Frame, atoms_head: &HeadMap) -> Vec<localize::Peak> {
    let plane = f.plane();
    localize::find_peaks(
        &[atoms_head.channel(0, plane), atoms_head.channel(1, plane)],
        f.gw,
        f.gh,
        f.options.atom_threshold,
        1.0 / f.model_px(),
    )
}

/// Column positions on the input grid: by the chosen refinement, and by the other one
/// (for `stemsight eval`).
pub(super) struct Located {
    pub(super) positions: Vec<(f64, f64)>,
    pub(super) alt_positions: Vec<(f64, f64)>,
}

/// Each peak's sub-pixel position on the input grid, by `options.refinement`.
pub(super) fn refine_columns(
    f: &Frame,
    peaks: &[localize::Peak],
    atoms_head: &HeadMap,
    polymorphs: &PolymorphMap,
    carbon_maps: &CarbonMaps,
) -> Located {
    let (w, h) = (f.w, f.h);
    let refine_r = 0.5 / f.pixel_size;
    let heatmap_pos = heatmap_positions(f, peaks, atoms_head);
    let centroid_pos: Vec<(f64, f64)> = heatmap_pos
        .par_iter()
        .map(|&(x, y)| localize::centroid(f.pixels, w, h, x, y, refine_r))
        .collect();
    match f.options.refinement {
        Refinement::Heatmap => Located {
            positions: heatmap_pos,
            alt_positions: centroid_pos,
        },
        Refinement::Centroid => Located {
            positions: centroid_pos,
            alt_positions: heatmap_pos,
        },
        Refinement::Gaussian | Refinement::Combined => {
            fit_on_image(f, peaks, heatmap_pos, centroid_pos, polymorphs, carbon_maps)
        }
    }
}

/// Each peak located on the atom heatmap itself, mapped to the input grid.
pub(super) fn heatmap_positions(
    f: &Frame,
    peaks: &[localize::Peak],
    atoms_head: &HeadMap,
) -> Vec<(f64, f64)> {
    let (grid, plane) = (&f.grid, f.plane());
    // The heatmap's bumps are the training labels' Gaussians (σ 0.4 Å): a Gaussian
    // fit over 0.7 Å locates them without the pixel locking of a 3-point parabola
    // (tuning set: combined RMSE 5.05 → 4.70 pm).
    // At the image border the network sees a mirrored half column, whose bump
    // merges with its mirror image and drags a fit outwards: the parabola stands there.
    peaks
        .par_iter()
        .map(|p| {
            if f.near_heatmap_edge(grid.to_input(p.x, p.y)) {
                return grid.to_input(p.x, p.y);
            }
            let map = atoms_head.channel(p.channel, plane);
            let (x, y) = localize::gaussian_fit(
                map,
                f.gw,
                f.gh,
                p.x,
                p.y,
                HEATMAP_WINDOW_A / f.model_px(),
                HEATMAP_SIGMA_A / f.model_px(),
            );
            grid.to_input(x, y)
        })
        .collect()
}

/// Gaussian fits on the image from the centroids (`Refinement::Gaussian`), or those
/// blended with the heatmap positions by how far the image can be trusted there
/// (`Refinement::Combined`).
pub(super) fn fit_on_image(
    f: &Frame,
    peaks: &[localize::Peak],
    heatmap_pos: Vec<(f64, f64)>,
    centroid_pos: Vec<(f64, f64)>,
    polymorphs: &PolymorphMap,
    carbon_maps: &CarbonMaps,
) -> Located {
    let (w, h) = (f.w, f.h);
    let fit_r = GAUSSIAN_WINDOW_A / f.pixel_size;
    let sigma = PROBE_SIGMA_A / f.pixel_size;
    // A single-S column of 1T sits 1.82 Å from three Mo columns five times
    // brighter; their tails bend a one-Gaussian fit more than a centroid
    // (measured 11–16 pm vs 9–14 pm), so those keep the centroid.
    let contents: Vec<ColumnContent> = centroid_pos
        .iter()
        .zip(peaks)
        .map(|(&(x, y), p)| match p.channel {
            0 => ColumnContent::Metal,
            _ if polymorphs.class_at(f, x, y) == Polymorph::T1 => ColumnContent::SingleChalcogen,
            _ => ColumnContent::Chalcogen,
        })
        .collect();
    let fitted: Vec<(f64, f64)> = centroid_pos
        .par_iter()
        .zip(&contents)
        .map(|(&(x, y), &content)| {
            if content == ColumnContent::SingleChalcogen {
                (x, y)
            } else {
                localize::gaussian_fit(f.pixels, w, h, x, y, fit_r, sigma)
            }
        })
        .collect();
    if f.options.refinement == Refinement::Gaussian {
        return Located {
            positions: fitted,
            alt_positions: centroid_pos,
        };
    }
    let combined = fitted
        .iter()
        .zip(&heatmap_pos)
        .zip(&contents)
        .map(|((&(ix, iy), &(hx, hy)), &content)| {
            let (cx, cy) = f.grid.to_canonical(ix, iy);
            let carbon = bilinear(&carbon_maps.raw, f.gw, f.gh, cx, cy) as f64;
            let k = if f.near_heatmap_edge((ix, iy)) {
                1.0
            } else {
                localize::image_weight(content, carbon)
            };
            (k * ix + (1.0 - k) * hx, k * iy + (1.0 - k) * hy)
        })
        .collect();
    Located {
        positions: combined,
        alt_positions: fitted,
    }
}

/// Whether scan-line jitter is removed: heatmap positions come from the network's
/// grid, not from the scan lines.
pub(super) fn corrects_scan_lines(options: &Options) -> bool {
    options.line_correction && options.refinement != Refinement::Heatmap
}

/// Scan-line jitter: measured from all columns at once, removed from each — fast x
/// offsets line by line, then slow x/y line displacements against the fitted lattice.
pub(super) fn correct_scan_lines(f: &Frame, located: Located, on: bool) -> Located {
    if !on {
        return located;
    }
    let Located {
        positions,
        alt_positions,
    } = located;
    let (w, h, pixel_size) = (f.w, f.h, f.pixel_size);
    let offsets = scanline::line_offsets(
        f.pixels,
        w,
        h,
        &positions,
        LINE_HALF_WIDTH_A / pixel_size,
        LINE_HALF_HEIGHT_A / pixel_size,
        (LINE_SMOOTH_A / pixel_size).round() as usize,
    );
    let half = LINE_HALF_HEIGHT_A / pixel_size;
    let positions = scanline::correct(&positions, &offsets, half);
    let alt_positions = scanline::correct(&alt_positions, &offsets, half);
    match lattice::fit(&positions, lattice::COLUMN_SPACING_A / pixel_size) {
        Some(fit) => {
            let slow = scanline::slow_offsets(&positions, &fit, h, SLOW_BAND_A / pixel_size);
            Located {
                positions: scanline::correct_slow(&positions, &slow),
                alt_positions: scanline::correct_slow(&alt_positions, &slow),
            }
        }
        None => Located {
            positions,
            alt_positions,
        },
    }
}

/// Per column: its integrated intensity, label, polymorph and whether it is left out
/// as contaminated; and the local references its intensity is normalized by.
pub(super) struct ColumnIntensities {
    pub(super) intensities: Vec<f64>,
    /// The atom head's label: metal-containing (channel 0) or chalcogen-only.
    pub(super) metal: Vec<bool>,
    pub(super) class: Vec<PolymorphClass>,
    pub(super) dirty: Vec<bool>,
    /// (x, y, intensity) of the chalcogen-only and of the metal-containing columns.
    pub(super) chalcogen_refs: Vec<(f64, f64, f64)>,
    pub(super) metal_refs: Vec<(f64, f64, f64)>,
    /// Per column, the local median of the chalcogen-only and of the metal columns.
    pub(super) s2_ref: Vec<f64>,
    pub(super) metal_ref: Vec<f64>,
    /// The column positions (input px) the above were measured at.
    pub(super) positions: Vec<(f64, f64)>,
}

/// What the lattice says of the columns and of the vacancy calls.
pub(super) struct Roles {
    /// Whether each column is a metal one.
    pub(super) metal: Vec<bool>,
    /// Whether each vacancy call sits on the metal sublattice of a 2H-1L area whose
    /// sublattices were decided (false otherwise).
    pub(super) calls_on_metal: Vec<bool>,
}

/// Whether each column is a metal one: the atom head's channel, with the 2H-1L columns
/// relabelled by their sublattice where the lattice decides it (see [`sublattice`]), and a
/// warning when that changes many labels; the calls on the metal sublattice are marked too
/// (a chalcogen vacancy cannot sit on a metal site).
///
/// How much the 2H-1L map is trusted decides how ([`sublattice::Trust`]). A declared
/// monolayer (`--polymorphs` naming 2H-1L and no stack), or a layer count read from the
/// absolute signal (`--dose`), is a monolayer: the whole image's 2H-1L columns are read
/// together, by every evidence. Otherwise a 2H-2L area the map reads as 2H-1L would have
/// "metal" columns on both sublattices and no vacancy calls, so each linked 2H-1L region
/// is read on its own and only a clear atom-head split or the region's vacancy calls decide.
/// There the calls on the metal sublattice are not dropped either: only a known monolayer's
/// sublattices are sure enough for that. Chosen on tuning sets (VS1 / VS2 per S₂ site ÷
/// truth; F1 unchanged on each): 160 2H-1L images (seed 610000) ×1.224 / ×1.166 → ×1.108 /
/// ×1.060, 60 mixed (seed 600000) ×1.176 / ×0.896 → ×1.017 / ×0.774, 40 compounds (seed
/// 630000) ×1.384 / ×1.294 → ×1.183 / ×1.106; the whole-image reading had moved the mixed
/// set's VS2 to ×0.76, gating regions on the map's confidence (≥ 0.9) kept most of the
/// error (×1.213 / ×1.157 on the 2H-1L set), and dropping calls here cost MoSe₂ VS1 F1
/// (0.960 → 0.818). On the 400 held-out images: ×1.178 / ×1.089 → ×1.058 [1.004–1.122] /
/// ×0.977 [0.914–1.046], every F1 and other score unchanged.
pub(super) fn column_roles(
    f: &Frame,
    peaks: &[localize::Peak],
    positions: &[(f64, f64)],
    polymorphs: &PolymorphMap,
    vacancies: &[VacancyPoint],
    warnings: &mut Vec<String>,
) -> Roles {
    let head: Vec<bool> = peaks.iter().map(|p| p.channel == 0).collect();
    let declared = &f.options.polymorphs;
    let declared_monolayer =
        declared.contains(&Polymorph::H2Mono) && declared.iter().all(|p| p.layers() == 1);
    // With the dose known the 2H layer count is the signal's, not the map's guess; where
    // the vacancies' depth showed the map's stacks to be a monolayer, it is theirs.
    let shown = polymorphs
        .vacancy_depth
        .as_ref()
        .is_some_and(VacancyDepth::shows_monolayer);
    let trust = if declared_monolayer || f.options.exposure.dose_e_per_a2.is_some() || shown {
        sublattice::Trust::Monolayer
    } else {
        sublattice::Trust::MapOnly
    };
    let monolayer: Vec<bool> = positions
        .iter()
        .map(|&(x, y)| polymorphs.class_at(f, x, y) == PolymorphClass::Material(Polymorph::H2Mono))
        .collect();
    let calls: Vec<(f64, f64)> = vacancies
        .iter()
        .map(|p| f.grid.to_input(p.x, p.y))
        .collect();
    let nn_px = f.column_spacing_px();
    let a = sublattice::assign(positions, &head, &monolayer, &calls, nn_px, trust);
    if a.relabelled * 10 >= positions.len().max(1) {
        let by = match a.evidence {
            Some(sublattice::Evidence::Vacancies) => {
                "the vacancy calls, which sit on the chalcogen sites"
            }
            _ => "the atom model's majority on each sublattice",
        };
        warnings.push(format!(
            "{} of {} columns were relabelled metal or chalcogen by their sublattice: the \
             atom model did not tell the two sublattices apart column by column (similar \
             contrast); which one holds the metal was read from {by}",
            a.relabelled,
            positions.len()
        ));
    }
    // Only a known monolayer's sublattices are sure enough to drop calls by.
    let calls_on_metal = match trust {
        sublattice::Trust::Monolayer => a.calls_on_metal,
        sublattice::Trust::MapOnly => vec![false; vacancies.len()],
    };
    Roles {
        metal: a.metal,
        calls_on_metal,
    }
}

/// Column intensities measured on the input image, with their local references.
pub(super) fn column_intensities(
    f: &Frame,
    metal: Vec<bool>,
    positions: &[(f64, f64)],
    polymorphs: &PolymorphMap,
    dirt: &Contamination,
    measure: &Measure,
) -> ColumnIntensities {
    let filter = f.filter();
    let intensities: Vec<f64> = positions
        .par_iter()
        .map(|&(x, y)| measure.at(x, y))
        .collect();
    let class: Vec<PolymorphClass> = positions
        .iter()
        .map(|&(x, y)| polymorphs.class_at(f, x, y))
        .collect();
    let dirty: Vec<bool> = positions
        .iter()
        .map(|&(x, y)| filter && dirt.is_dirty(f, x, y))
        .collect();

    // Intensity reference: chalcogen-only columns nearby (S₂ median = 1); where a
    // polymorph has none (2H-2L, 3R-3L), the same-channel median stands in.
    let reference_radius = intensity::REFERENCE_RADIUS_A / f.pixel_size;
    let refs_of = |want_metal: bool| -> Vec<(f64, f64, f64)> {
        positions
            .iter()
            .zip(&intensities)
            .zip(&metal)
            .filter(|(_, &m)| m == want_metal)
            .map(|((&(x, y), &i), _)| (x, y, i))
            .collect()
    };
    let chalcogen_refs = refs_of(false);
    let metal_refs = refs_of(true);
    let s2_ref = intensity::local_reference(positions, &chalcogen_refs, reference_radius);
    let metal_ref = intensity::local_reference(positions, &metal_refs, reference_radius);
    ColumnIntensities {
        intensities,
        metal,
        class,
        dirty,
        chalcogen_refs,
        metal_refs,
        s2_ref,
        metal_ref,
        positions: positions.to_vec(),
    }
}

/// The report's atoms: each column with its site, species and normalized intensity.
pub(super) fn build_atoms(
    f: &Frame,
    peaks: &[localize::Peak],
    positions: &[(f64, f64)],
    columns: &ColumnIntensities,
) -> Vec<Atom> {
    let chemistry = f.chemistry();
    let to_a = |v: f64| v * f.pixel_size;
    let c = columns;
    let mut atoms = Vec::with_capacity(peaks.len());
    for (k, p) in peaks.iter().enumerate() {
        let (x, y) = positions[k];
        let same = if c.metal[k] {
            c.metal_ref[k]
        } else {
            c.s2_ref[k]
        };
        let relative = if same > 0.0 {
            c.intensities[k] / same
        } else {
            1.0
        };
        let site = polymorph::site_content(c.class[k], Role::of_metal(c.metal[k]), relative);
        let norm = if c.s2_ref[k] > 0.0 && !c.chalcogen_refs.is_empty() {
            c.intensities[k] / c.s2_ref[k]
        } else {
            f64::NAN
        };
        atoms.push(Atom {
            x,
            y,
            x_a: to_a(x),
            y_a: to_a(y),
            species: site.species(chemistry),
            site,
            intensity: c.intensities[k],
            normalized_intensity: norm,
            polymorph: c.class[k],
            score: p.score as f64,
            in_contaminated_area: c.dirty[k],
        });
    }
    atoms
}
